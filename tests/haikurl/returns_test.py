"""Truncation-aware GAE against hand-computed values."""
import chex
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from haikurl import returns


class TruncatedGaeTest(chex.TestCase):
  # Three steps, rewards r = [1, 2, 4], gamma = 0.5, lambda = 0.5,
  # values of the observations acted on v_tm1 = [1, 1, 1] and of the
  # observations reached (pre-reset) v_t = [2, 3, 4].

  @chex.variants(with_jit=True, without_jit=True)
  def test_termination_stops_bootstrap_and_trace(self):
    # Termination after step 1: discount_t = 0.5 * [1, 0, 1].
    # delta = [1 + .5*2 - 1, 2 + 0*3 - 1, 4 + .5*4 - 1] = [1, 1, 5]
    # trace = discount * lambda = [.25, 0, .25]
    # A_2 = 5; A_1 = 1 + 0 * 5 = 1; A_0 = 1 + .25 * 1 = 1.25
    adv = self.variant(returns.truncated_gae)(
        jnp.array([1., 2., 4.]), 0.5 * jnp.array([1., 0., 1.]),
        jnp.array([False, False, False]), jnp.ones(3),
        jnp.array([2., 3., 4.]), 0.5)
    np.testing.assert_allclose(adv, [1.25, 1., 5.], rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_truncation_bootstraps_then_cuts_trace(self):
    # Truncation after step 1: discount_t = 0.5 * [1, 1, 1].
    # delta_1 = 2 + .5 * 3 - 1 = 2.5 (bootstraps from the true last obs)
    # delta = [1, 2.5, 5]; trace = [.25, 0 (cut), .25]
    # A_2 = 5; A_1 = 2.5; A_0 = 1 + .25 * 2.5 = 1.625
    adv = self.variant(returns.truncated_gae)(
        jnp.array([1., 2., 4.]), 0.5 * jnp.ones(3),
        jnp.array([False, True, False]), jnp.ones(3),
        jnp.array([2., 3., 4.]), 0.5)
    np.testing.assert_allclose(adv, [1.625, 2.5, 5.], rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_no_episode_end_matches_textbook_gae(self):
    # With no episode end and v_t = v_tm1 shifted, GAE is the textbook
    # recursion: A_t = delta_t + gamma * lambda * A_{t+1}.
    r = jnp.array([1., 0., 2., 1.])
    v = jnp.array([0.5, 1., 1.5, 2., 2.5])
    gamma, lam = 0.9, 0.8
    adv = self.variant(returns.truncated_gae)(
        r, gamma * jnp.ones(4), jnp.zeros(4, bool), v[:-1], v[1:], lam)
    expected, a = [], 0.0
    for t in reversed(range(4)):
      a = float(r[t] + gamma * v[t + 1] - v[t]) + gamma * lam * a
      expected.append(a)
    np.testing.assert_allclose(adv, expected[::-1], rtol=1e-5)

  def test_batched_is_per_column(self):
    r = jnp.array([[1., 2.], [2., 0.], [4., 1.]])          # [T=3, B=2]
    d = 0.5 * jnp.array([[1., 1.], [0., 1.], [1., 1.]])
    tr = jnp.array([[False, False], [False, True], [False, False]])
    v_tm1, v_t = jnp.ones((3, 2)), jnp.array([[2., 1.], [3., 2.], [4., 3.]])
    adv = returns.batched_truncated_gae(r, d, tr, v_tm1, v_t, 0.5)
    for b in range(2):
      np.testing.assert_allclose(
          adv[:, b], returns.truncated_gae(r[:, b], d[:, b], tr[:, b],
                                           v_tm1[:, b], v_t[:, b], 0.5))


if __name__ == "__main__":
  absltest.main()
