"""Truncation-aware n-step returns (`haikurl.returns.n_step_*`)."""
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import rlax

from haikurl import returns


def brute_force_target(r, terminated, truncated, gamma, v):
  """The n-step target by walking the window one step at a time."""
  target, scale = 0.0, 1.0
  for k in range(len(r)):
    target += scale * r[k]
    scale *= gamma
    if terminated[k]:
      return target                    # nothing after a terminal state
    if truncated[k]:
      return target + scale * v[k]     # bootstrap from the true last obs
  return target + scale * v[-1]


class NStepTargetTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_termination_stops_bootstrapping(self):
    # r = [1, 2, 4], the second step terminates, gamma = 0.5:
    # target = 1 + 0.5 * 2 = 2.0 (no bootstrap, the 4 is the next episode's).
    nstep = self.variant(returns.n_step_bootstrap)(
        jnp.array([1., 2., 4.]), jnp.array([False, True, False]),
        jnp.array([False, False, False]), 0.5)
    np.testing.assert_allclose(nstep.reward, 2.0)
    np.testing.assert_allclose(nstep.discount, 0.0)
    self.assertEqual(int(nstep.index), 1)

  @chex.variants(with_jit=True, without_jit=True)
  def test_truncation_bootstraps_from_its_own_next_obs(self):
    # r = [1, 2, 4], the second step is cut by the time limit, gamma = 0.5,
    # values of each step's next_obs v = [10, 20, 40]:
    # target = 1 + 0.5 * 2 + 0.5^2 * v[1] = 1 + 1 + 0.25 * 20 = 7.0.
    target = self.variant(returns.n_step_target)(
        jnp.array([1., 2., 4.]), jnp.array([False, False, False]),
        jnp.array([False, True, False]), 0.5, jnp.array([10., 20., 40.]))
    np.testing.assert_allclose(target, 7.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_no_episode_end_is_the_full_n_step_return(self):
    # 1 + 0.5 * 2 + 0.25 * 4 + 0.125 * v[2] = 1 + 1 + 1 + 0.125 * 40 = 8.0.
    target = self.variant(returns.n_step_target)(
        jnp.array([1., 2., 4.]), jnp.zeros(3, bool), jnp.zeros(3, bool), 0.5,
        jnp.array([10., 20., 40.]))
    np.testing.assert_allclose(target, 8.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_first_step_terminal_is_the_one_step_target(self):
    # Terminal at once: target = r_0 = 3, discount 0, index 0.
    nstep = self.variant(returns.n_step_bootstrap)(
        jnp.array([3., 5.]), jnp.array([True, True]), jnp.array([False, True]),
        0.9)
    np.testing.assert_allclose(nstep.reward, 3.0)
    np.testing.assert_allclose(nstep.discount, 0.0)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(1, 2, 5)
  def test_matches_brute_force_on_random_windows(self, n):
    rng = np.random.default_rng(n)
    windows = 200
    r = rng.normal(size=(windows, n)).astype(np.float32)
    v = rng.normal(size=(windows, n)).astype(np.float32)
    end = rng.random((windows, n))
    terminated = end < 0.15
    truncated = (end >= 0.15) & (end < 0.3)
    gamma = 0.9
    got = self.variant(jax.vmap(returns.n_step_target,
                                in_axes=(0, 0, 0, None, 0)))(
        r, terminated, truncated, gamma, v)
    want = [brute_force_target(r[i], terminated[i], truncated[i], gamma, v[i])
            for i in range(windows)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

  def test_rlax_n_step_leaks_across_an_auto_reset(self):
    # Why we have our own helper. r = [1, 2, 4], the first step truncates,
    # gamma = 0.5, v = [10, 20, 40]. The right target is 1 + 0.5 * 10 = 6;
    # rlax's 2-step return from step 0 sees no episode end (discount 0.5 at
    # every step) and adds the next episode's reward: 1 + 0.5 * 2 + 0.25 * 20.
    r = jnp.array([1., 2., 4.])
    v = jnp.array([10., 20., 40.])
    ours = returns.n_step_target(r[:2], jnp.zeros(2, bool),
                                 jnp.array([True, False]), 0.5, v[:2])
    np.testing.assert_allclose(ours, 6.0)
    leaky = rlax.n_step_bootstrapped_returns(r, jnp.full(3, 0.5), v, n=2)[0]
    np.testing.assert_allclose(leaky, 1 + 0.5 * 2 + 0.25 * 20)


if __name__ == "__main__":
  import absl.testing.absltest
  absl.testing.absltest.main()
