"""DrQ's random shift and the colour jitter (haikurl.augment); the vision
torsos' output shapes (haikurl.networks)."""
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from haikurl import augment
from haikurl import networks


class RandomShiftTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_one_lit_pixel_moves_by_the_drawn_offset(self):
    # 16 images of 10 x 10 x 2, pixel (4, 5) lit in channel 1; pad 2 keeps
    # it inside, so it lands at (4 + dy, 5 + dx) and nothing else is lit.
    images = jnp.zeros((16, 10, 10, 2)).at[:, 4, 5, 1].set(1.0)
    key = jax.random.key(3)
    out = self.variant(augment.random_shift, static_argnums=2)(key, images, 2)
    offsets = np.asarray(augment.shift_offsets(key, 16, 2))
    self.assertGreater(len({tuple(o) for o in offsets}), 1)  # per sample
    for n, (dy, dx) in enumerate(offsets):
      expected = np.zeros((10, 10, 2))
      expected[4 + dy, 5 + dx, 1] = 1.0
      np.testing.assert_array_equal(out[n], expected)

  @chex.variants(with_jit=True, without_jit=True)
  def test_interior_content_is_preserved(self):
    images = jax.random.uniform(jax.random.key(0), (8, 12, 12, 3))
    key = jax.random.key(1)
    out = np.asarray(self.variant(augment.random_shift,
                                  static_argnums=2)(key, images, 1))
    for n, (dy, dx) in enumerate(np.asarray(augment.shift_offsets(key, 8, 1))):
      # out[i, j] = images[i - dy, j - dx] away from the replicated edge.
      np.testing.assert_array_equal(out[n, 1 + dy:11 + dy, 1 + dx:11 + dx],
                                    np.asarray(images)[n, 1:11, 1:11])

  def test_zero_pad_is_identity(self):
    images = jax.random.uniform(jax.random.key(0), (4, 10, 10, 4))
    np.testing.assert_array_equal(
        augment.random_shift(jax.random.key(1), images, 0), images)

  def test_edge_replication(self):
    # A shift by +1 row repeats the first row at the top (DrQ's replicate pad).
    images = jnp.arange(4 * 4 * 1, dtype=jnp.float32).reshape(1, 4, 4, 1)
    key = jax.random.key(7)
    for seed in range(20):
      key = jax.random.key(seed)
      dy, dx = np.asarray(augment.shift_offsets(key, 1, 1))[0]
      if dy == 1 and dx == 0:
        break
    out = np.asarray(augment.random_shift(key, images, 1))[0, :, :, 0]
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[1:], np.asarray(images)[0, :3, :, 0])


class ColorJitterTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_brightness_and_contrast_per_sample(self):
    images = jax.random.uniform(jax.random.key(0), (6, 8, 8, 3), minval=0.3,
                                maxval=0.7)
    out = self.variant(augment.color_jitter, static_argnums=2)(
        jax.random.key(1), images, 0.2)
    chex.assert_shape(out, images.shape)
    self.assertTrue(np.all((out >= 0) & (out <= 1)))
    # x' = c (x - m) + m + b is affine per image: the centred images are
    # proportional with a factor c in [0.8, 1.2].
    x = np.asarray(images) - np.asarray(images).mean(axis=(1, 2, 3),
                                                     keepdims=True)
    y = np.asarray(out) - np.asarray(out).mean(axis=(1, 2, 3), keepdims=True)
    c = (x * y).sum(axis=(1, 2, 3)) / (x * x).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(y, c[:, None, None, None] * x, atol=1e-5)
    self.assertTrue(np.all((c >= 0.8) & (c <= 1.2)))
    self.assertGreater(np.ptp(c), 0.0)

  def test_off_by_default(self):
    from agents import dqn, ppo  # pylint: disable=g-import-not-at-top
    for agent in (dqn, ppo):
      settings = agent.Settings()
      self.assertEqual(settings.augmentation, "none")
      self.assertEqual(settings.torso, "auto")
      self.assertIsNone(augment.make(settings))


class TorsoShapesTest(absltest.TestCase):

  def test_impala_and_resnet_shapes(self):
    # IMPALA: pools 10 -> 5 -> 3 -> 2 and 64 -> 32 -> 16 -> 8; ResNet:
    # strided convs 10 -> 10 -> 5 -> 3 and 64 -> 64 -> 32 -> 16; 32 channels.
    expected = {("impala", 10): 2 * 2 * 32, ("impala", 64): 8 * 8 * 32,
                ("resnet", 10): 3 * 3 * 32, ("resnet", 64): 16 * 16 * 32}
    for (kind, size), features in expected.items():
      obs = jnp.ones((2, size, size, 4 if size == 10 else 3))
      net = hk.without_apply_rng(hk.transform(
          lambda o, k=kind: networks.encode(o, networks.Encoder(k))))
      params = net.init(jax.random.key(0), obs)
      chex.assert_shape(net.apply(params, obs), (2, features))
      torso = hk.without_apply_rng(hk.transform(
          lambda o, k=kind: networks.torso(o, (32,), "relu", "t",
                                           encoder=networks.Encoder(k))))
      chex.assert_shape(torso.apply(torso.init(jax.random.key(0), obs), obs),
                        (2, 32))

  def test_max_pool_is_haiku_max_pool(self):
    for size in (10, 5, 3, 64):
      x = jax.random.normal(jax.random.key(size), (2, size, size, 3))
      np.testing.assert_array_equal(networks.max_pool(x),
                                    hk.max_pool(x, 3, 2, "SAME"))

  def test_same_patch_conv_is_conv2d(self):
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))
    for stride in (1, 2):
      mine = hk.without_apply_rng(hk.transform(lambda o, s=stride: (
          networks._PatchConv2D(5, 3, hk.initializers.RandomNormal(),  # pylint: disable=protected-access
                                stride=s, padding="SAME")(o))))
      ref = hk.without_apply_rng(hk.transform(lambda o, s=stride: hk.Conv2D(
          5, 3, stride=s, padding="SAME",
          w_init=hk.initializers.RandomNormal())(o)))
      params = ref.init(jax.random.key(1), x)
      np.testing.assert_allclose(mine.apply(params, x), ref.apply(params, x),
                                 rtol=1e-5, atol=1e-5)

  def test_image_torso_on_flat_observations_is_refused(self):
    with self.assertRaisesRegex(ValueError, "needs images"):
      hk.transform(lambda o: networks.encode(
          o, networks.Encoder("impala"))).init(jax.random.key(0),
                                              jnp.ones((2, 4)))


if __name__ == "__main__":
  absltest.main()
