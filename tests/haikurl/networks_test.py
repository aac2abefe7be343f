"""The MinAtar torso: hk.Conv2D's function and parameters, no convolution op;
the fused LayerNorm: hk.LayerNorm's parameters, values and gradients."""
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from haikurl import networks


def _reference_cnn(x):
  """The torso as it was written with hk.Conv2D."""
  x = hk.Conv2D(16, kernel_shape=3, stride=1, padding="VALID",
                w_init=networks.orthogonal(np.sqrt(2.0)))(x)
  return hk.Flatten()(jax.nn.relu(x))


def _q(cnn):
  def forward(obs):
    with hk.experimental.name_scope("torso"):
      x = networks.mlp((32,), "relu")(cnn(obs))
    return networks.q_head(x, 3).q_values
  return hk.without_apply_rng(hk.transform(forward))


class MinAtarCnnTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.obs = jax.random.bernoulli(
        jax.random.key(1), 0.3, (5, 10, 10, 4)).astype(jnp.float32)
    self.net = _q(networks.minatar_cnn)
    self.reference = _q(_reference_cnn)

  def test_same_parameters_as_conv2d(self):
    params = self.net.init(jax.random.key(0), self.obs)
    reference = self.reference.init(jax.random.key(0), self.obs)
    self.assertEqual(jax.tree.structure(params), jax.tree.structure(reference))
    jax.tree.map(np.testing.assert_array_equal, params, reference)

  def test_same_function_and_gradient_as_conv2d(self):
    params = self.reference.init(jax.random.key(0), self.obs)
    params = jax.tree.map(  # nonzero biases too
        lambda p: p + 0.1 * jax.random.normal(jax.random.key(2), p.shape),
        params)
    np.testing.assert_allclose(self.net.apply(params, self.obs),
                               self.reference.apply(params, self.obs),
                               rtol=1e-5, atol=1e-5)
    loss = lambda net: lambda p: jnp.sum(net.apply(p, self.obs) ** 2)
    grads = jax.grad(loss(self.net))(params)
    reference = jax.grad(loss(self.reference))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                         atol=1e-4),
                 grads, reference)

  def test_gradient_has_no_convolution(self):
    # XLA:CPU runs the kernel-gradient convolution ~25x slower inside a
    # while loop (lax.scan, where DQN's and PPO's updates run) than outside.
    params = self.net.init(jax.random.key(0), self.obs)
    jaxpr = jax.make_jaxpr(jax.grad(
        lambda p: jnp.sum(self.net.apply(p, self.obs))))(params)
    self.assertNotIn("conv_general_dilated", str(jaxpr))


class LayerNormTest(absltest.TestCase):

  def test_matches_haikus_layer_norm_and_its_gradients(self):
    # The same parameters (names, shapes, initial values), outputs and
    # gradients (input, scale, offset) as hk.LayerNorm, on a batch of
    # members (vmapped) with offsets and scales away from their init.
    def net(layer):
      return hk.without_apply_rng(hk.transform(
          lambda x: jnp.sum(jnp.sin(3.0 * layer(x)))))
    ours = net(lambda x: networks.LayerNorm(name="ln")(x))
    reference = net(lambda x: hk.LayerNorm(-1, create_scale=True,
                                           create_offset=True, name="ln")(x))
    x = 2.0 * jax.random.normal(jax.random.key(0), (3, 5, 7)) + 1.0
    params = reference.init(jax.random.key(1), x[0])
    jax.tree.map(np.testing.assert_array_equal,
                 ours.init(jax.random.key(1), x[0]), params)
    params = jax.tree.map(
        lambda p: p + jax.random.normal(jax.random.key(2), p.shape), params)
    for fn in (lambda net: net.apply,
               lambda net: jax.grad(net.apply, argnums=(0, 1))):
      got = jax.vmap(fn(ours), (None, 0))(params, x)
      want = jax.vmap(fn(reference), (None, 0))(params, x)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(
          a, b, rtol=1e-5, atol=1e-5), got, want)


if __name__ == "__main__":
  absltest.main()
