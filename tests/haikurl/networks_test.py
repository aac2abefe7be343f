"""The MinAtar torso: hk.Conv2D's function and parameters, no convolution op;
the fused LayerNorm: hk.LayerNorm's parameters, values and gradients;
`dense`, `Linear` and `MLP`: hk.Linear's and hk.nets.MLP's parameters,
values and gradients, with the weight gradient's operands ordered;
`first_critic`: the twin critics' parameters as one critic's."""
import chex
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
    _assert_same_module(ours, reference, x, atol=1e-5, perturb=True)


def _assert_same_module(ours, reference, x, atol, perturb=False):
  """The same initial parameters (names, shapes, values), and the same
  outputs and gradients (parameters, input) vmapped over x's members;
  with `perturb`, at parameters moved away from their init."""
  params = reference.init(jax.random.key(1), x[0])
  jax.tree.map(np.testing.assert_array_equal,
               ours.init(jax.random.key(1), x[0]), params)
  if perturb:
    params = jax.tree.map(
        lambda p: p + jax.random.normal(jax.random.key(2), p.shape), params)
  for fn in (lambda net: net.apply,
             lambda net: jax.grad(net.apply, argnums=(0, 1))):
    got = jax.vmap(fn(ours), (None, 0))(params, x)
    want = jax.vmap(fn(reference), (None, 0))(params, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-5, atol=atol), got, want)


def _dots(fn, *args):
  """[(lhs shape, rhs shape)] of the dot_generals in fn's jaxpr."""
  return [(tuple(e.invars[0].aval.shape), tuple(e.invars[1].aval.shape))
          for e in jax.make_jaxpr(fn)(*args).jaxpr.eqns
          if e.primitive.name == "dot_general"]


class DenseTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_values_and_gradients_are_the_plain_products(self):
    # A widening, a narrowing and a square layer, on a rank-3 input (a
    # trajectory [T, B, in]), and N = 2 stacked layers (twin critics).
    k = iter(jax.random.split(jax.random.key(0), 16))
    cases = [((3, 5, i), (i, o)) for i, o in ((4, 9), (9, 2), (6, 6))]
    cases.append(((2, 5, 3), (2, 3, 7)))
    for x_shape, w_shape in cases:
      x = jax.random.normal(next(k), x_shape)
      w = jax.random.normal(next(k), w_shape)
      t = jax.random.normal(next(k), x_shape[:-1] + w_shape[-1:])
      plain = ((lambda x, w: jnp.einsum("nbi,nio->nbo", x, w))
               if len(w_shape) == 3 else jnp.dot)
      for fn in (lambda f: f, lambda f: jax.grad(
          lambda x, w: jnp.sum(t * jnp.sin(f(x, w))), argnums=(0, 1))):
        got = self.variant(fn(networks.dense))(x, w)
        want = fn(plain)(x, w)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(
            a, b, rtol=1e-5, atol=1e-5), got, want)

  def test_weight_gradient_takes_the_narrow_operand_first(self):
    # Under vmap over one member XLA:CPU runs x^T dy 7-20x faster with x
    # first when in < out, and dy first when in >= out (JAX's own order).
    x, dy_like = jnp.ones((1, 8, 3)), jnp.ones((1, 8, 16))
    loss = lambda w, x: jnp.sum(jnp.sin(networks.dense(x, w)))
    grad = jax.vmap(jax.grad(loss))
    widening = _dots(grad, jnp.ones((1, 3, 16)), x)
    self.assertIn(((1, 8, 3), (1, 8, 16)), widening)       # x, then dy
    narrowing = _dots(grad, jnp.ones((1, 16, 3)), dy_like)
    self.assertIn(((1, 8, 3), (1, 8, 16)), narrowing)      # dy, then x

  def test_only_the_wanted_gradients_are_computed(self):
    # JAX's own rule computes no gradient for an input that needs none (an
    # observation; a critic's weights inside an actor's loss): nor does ours.
    x, w = jnp.ones((8, 3)), jnp.ones((3, 16))
    loss = lambda x, w: jnp.sum(jnp.sin(networks.dense(x, w)))
    forward = ((8, 3), (3, 16))
    self.assertEqual(_dots(jax.grad(loss, argnums=1), x, w),
                     [forward, ((8, 3), (8, 16))])             # dw only
    self.assertEqual(_dots(jax.grad(loss, argnums=0), x, w),
                     [forward, ((8, 16), (3, 16))])            # dx only
    self.assertLen(_dots(jax.grad(loss, argnums=(0, 1)), x, w), 3)

  def test_linear_and_mlp_are_haikus(self):
    # The same parameter names, initial values and outputs as hk.Linear in
    # hk.nets.MLP, and their gradients, vmapped over two members.
    def net(mlp, linear):
      def forward(x):
        x = mlp([16, 16], w_init=networks.orthogonal(np.sqrt(2.0)),
                activation=jnp.tanh, activate_final=True, name="mlp")(x)
        return jnp.sum(jnp.sin(linear(2, name="logits")(x)))
      return hk.without_apply_rng(hk.transform(forward))
    ours, reference = net(networks.MLP, networks.Linear), net(hk.nets.MLP,
                                                              hk.Linear)
    x = jax.random.normal(jax.random.key(0), (2, 6, 4))
    self.assertEqual(set(ours.init(jax.random.key(1), x[0])),
                     {"mlp/~/linear_0", "mlp/~/linear_1", "logits"})
    _assert_same_module(ours, reference, x, atol=1e-6)


class FirstCriticTest(chex.TestCase):

  def test_is_the_one_critic_network_of_the_first_twin(self):
    # Image observations: a shared critic encoder (left as it is) before
    # the stacked critics (sliced to the first). Q_1 and dQ_1/da of the
    # one-critic network on the sliced parameters are the twins' first,
    # bit for bit.
    def critic(num_critics):
      def forward(obs, action):
        x = networks.critic_features(obs, networks.Encoder("minatar_cnn"),
                                     "relu")
        return networks.twin_q(x, action, (8,), "relu", num_critics).q_values
      return hk.without_apply_rng(hk.transform(forward))
    twins, one = critic(2), critic(1)
    obs = jax.random.uniform(jax.random.key(0), (5, 6, 6, 2))
    action = jax.random.uniform(jax.random.key(1), (5, 2), minval=-1.0)
    params = twins.init(jax.random.key(2), obs, action)
    first = networks.first_critic(params)
    self.assertEqual(jax.tree.map(jnp.shape, first),
                     jax.tree.map(jnp.shape,
                                  one.init(jax.random.key(2), obs, action)))
    others = lambda p: {name: module for name, module in p.items()
                        if name != networks.CRITICS_SCOPE}
    self.assertNotEmpty(others(first))
    chex.assert_trees_all_equal(others(first), others(params))
    q1 = lambda net, p, a: jnp.sum(net.apply(p, obs, a)[0])
    chex.assert_trees_all_equal(one.apply(first, obs, action)[0],
                                twins.apply(params, obs, action)[0])
    chex.assert_trees_all_equal(jax.grad(q1, 2)(one, first, action),
                                jax.grad(q1, 2)(twins, params, action))


if __name__ == "__main__":
  absltest.main()
