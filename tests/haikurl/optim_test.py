"""The optimiser step every agent uses, against hand-computed values."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from haikurl import optim


def _rates(opt, learning_rate, steps):
  """The rate `opt` used at each of `steps` steps on a scalar parameter."""
  params = jnp.zeros(())
  state = opt.init(params)
  rates = []
  for _ in range(steps):
    params, state, lr = opt.step(params, jnp.float32(1.0), state,
                                 learning_rate)
    rates.append(float(lr))
  return rates


class OptimTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_first_step_is_minus_lr_times_adams_unit_step(self):
    # Adam's first update is g / (|g| + eps) elementwise (bias-corrected
    # moments m = g, v = g^2), so with lr 0.1: params - 0.1 * sign(g).
    opt = optim.make(eps=1e-8)
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([3.0, -0.5])}
    step = self.variant(lambda p, g, s: opt.step(p, g, s, 0.1))
    new, _, lr = step(params, grads, opt.init(params))
    np.testing.assert_allclose(new["w"], [0.9, -1.9], rtol=1e-6)
    np.testing.assert_allclose(lr, 0.1)

  def test_clipping_by_global_norm_is_traced(self):
    # g = [3, 4] has norm 5: clipped to norm 1 it is [0.6, 0.8]; Adam's
    # unit first step is the same either way, so compare the moments.
    opt = optim.make(clip=True)
    params = jnp.zeros(2)
    _, state, _ = opt.step(params, jnp.array([3.0, 4.0]), opt.init(params),
                           0.1, jnp.float32(1.0))
    adam_state = state[1]
    np.testing.assert_allclose(adam_state.mu, 0.1 * jnp.array([0.6, 0.8]),
                               rtol=1e-6)  # mu = (1 - b1) * g, b1 = 0.9


  def test_clipping_by_value_clips_each_element(self):
    # clip="value" (optax.clip, rejax's PQN): g = [30, -0.5, -12] at 10 is
    # [10, -0.5, -10]; the global norm would have scaled all of it.
    opt = optim.make(clip="value")
    params = jnp.zeros(3)
    _, state, _ = opt.step(params, jnp.array([30.0, -0.5, -12.0]),
                           opt.init(params), 0.1, jnp.float32(10.0))
    np.testing.assert_allclose(state[1].mu, 0.1 * jnp.array([10.0, -0.5,
                                                             -10.0]),
                               rtol=1e-6)

  def test_unknown_clipping_is_refused(self):
    with self.assertRaisesRegex(ValueError, "unknown clipping 'norm'"):
      optim.make(clip="norm")
  @chex.variants(with_jit=True, without_jit=True)
  def test_a_tree_steps_as_optaxs_chain_on_one_flat_vector(self):
    # Three steps of clipped Adam on a two-leaf tree equal optax's own
    # clip + adam applied leaf by leaf, and the moments are one vector.
    opt = optim.make(clip=True)
    params = {"b": jnp.array([0.5]), "w": jnp.array([[1.0, -2.0]])}
    reference = optax.chain(optax.clip_by_global_norm(1.0),
                            optax.adam(0.1))
    ours, ref = params, params
    state, ref_state = opt.init(params), reference.init(params)
    step = self.variant(lambda p, g, s: opt.step(p, g, s, 0.1, 1.0))
    for k in range(3):
      grads = jax.tree_util.tree_map(lambda x: (k + 1.0) * x - 0.3, ours)
      ours, state, _ = step(ours, grads, state)
      ref_grads = jax.tree_util.tree_map(lambda x: (k + 1.0) * x - 0.3, ref)
      updates, ref_state = reference.update(ref_grads, ref_state, ref)
      ref = optax.apply_updates(ref, updates)
    chex.assert_trees_all_close(ours, ref, rtol=1e-6)
    assert state[1].mu.shape == (3,)

  def test_linear_decay_reaches_zero_at_decay_steps(self):
    # decay over 4 steps: the rate used at step k is lr * (1 - k / 4).
    rates = _rates(optim.make(decay_steps=4), 0.2, 6)
    np.testing.assert_allclose(rates, [0.2, 0.15, 0.1, 0.05, 0.0, 0.0],
                               atol=1e-7)

  def test_cosine_decay_follows_optax_cosine_schedule(self):
    # decay over 4 steps: lr * (1 + cos(pi k / 4)) / 2 at step k, 0 after;
    # by hand 0.2 * [1, 0.8536, 0.5, 0.1464, 0, 0], and optax's schedule.
    rates = _rates(optim.make(decay_steps=4, decay_shape="cosine"), 0.2, 6)
    np.testing.assert_allclose(
        rates, [0.2, 0.170711, 0.1, 0.029289, 0.0, 0.0], atol=1e-6)
    schedule = optax.cosine_decay_schedule(0.2, 4)
    np.testing.assert_allclose(rates, [schedule(k) for k in range(6)],
                               atol=1e-6)

  def test_unknown_decay_shape_is_one_line(self):
    with self.assertRaisesRegex(ValueError, "unknown decay 'step'"):
      optim.make(decay_steps=4, decay_shape="step")

  def test_members_with_different_rates_share_one_program(self):
    opt = optim.make()
    params = jnp.ones(3)
    step = jax.vmap(lambda lr: opt.step(params, params, opt.init(params),
                                        lr)[0])
    out = step(jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(out, [[0.9] * 3, [0.8] * 3], rtol=1e-5)
    # The same arithmetic as optax.adam with that rate.
    ref = optax.adam(0.2)
    updates, _ = ref.update(params, ref.init(params))
    np.testing.assert_allclose(out[1], params + updates, rtol=1e-6)
