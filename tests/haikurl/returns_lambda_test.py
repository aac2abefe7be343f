"""Truncation-aware lambda-returns (PQN's Q(lambda)) against hand-computed
values and a brute-force forward view."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from haikurl import returns


def brute_force(r, terminated, truncated, v, gamma, lam):
  """The forward view: G_t = (1 - lam) sum_{n<h} lam^(n-1) G_t^(n) +
  lam^(h-1) G_t^(h), where h counts the steps from t to the first episode
  end (inclusive) or to the rollout's end, and the n-step return G_t^(n)
  sums gamma^k r_{t+k} for k < n and adds gamma^n v_{t+n-1} unless step
  t+n-1 terminated."""
  T = len(r)
  out = []
  for t in range(T):
    h = 0
    for k in range(t, T):
      h += 1
      if terminated[k] or truncated[k]:
        break
    def n_step(n):
      g = sum(gamma ** k * r[t + k] for k in range(n))
      last = t + n - 1
      return g + (0.0 if terminated[last] else gamma ** n * v[last])
    g = sum((1 - lam) * lam ** (n - 1) * n_step(n) for n in range(1, h))
    out.append(g + lam ** (h - 1) * n_step(h))
  return np.array(out)


class TruncatedLambdaReturnsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_hand_computed_termination_and_truncation(self):
    # r = [1, 2, 4, 8], gamma = 0.5, lambda = 0.5, v_t = [2, 3, 4, 6].
    # Step 1 terminates, step 2 is truncated.
    # G_3 = 8 + .5 * 6 = 11 (the rollout's end bootstraps)
    # G_2 = 4 + .5 * 4 = 6 (truncation: bootstrap, trace cut: no G_3)
    # G_1 = 2 (termination)
    # G_0 = 1 + .5 * (.5 * 2 + .5 * G_1) = 1 + .5 * 2 = 2
    got = self.variant(returns.truncated_lambda_returns)(
        jnp.array([1., 2., 4., 8.]), 0.5 * jnp.array([1., 0., 1., 1.]),
        jnp.array([False, False, True, False]), jnp.array([2., 3., 4., 6.]),
        0.5)
    np.testing.assert_allclose(got, [2., 2., 6., 11.], rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_brute_force_with_both_episode_ends(self):
    # T = 12 with terminations at 2 and 9 and truncations at 5 and 6.
    rng = np.random.default_rng(0)
    T, gamma, lam = 12, 0.9, 0.7
    r = rng.normal(size=T).astype(np.float32)
    v = rng.normal(size=T).astype(np.float32)
    terminated = np.zeros(T, bool)
    truncated = np.zeros(T, bool)
    terminated[[2, 9]] = True
    truncated[[5, 6]] = True
    got = self.variant(returns.truncated_lambda_returns)(
        r, gamma * (1.0 - terminated).astype(np.float32), truncated, v, lam)
    np.testing.assert_allclose(
        got, brute_force(r, terminated, truncated, v, gamma, lam),
        rtol=1e-5, atol=1e-5)

  def test_lambda_zero_and_one(self):
    # lambda 0: one-step targets r_t + discount_t v_t everywhere; lambda 1:
    # Monte Carlo returns to the episode end, bootstrapped at the cut.
    r = jnp.array([1., 1., 1.])
    d = 0.5 * jnp.array([1., 1., 0.])
    v = jnp.array([4., 4., 4.])
    tr = jnp.zeros(3, bool)
    np.testing.assert_allclose(
        returns.truncated_lambda_returns(r, d, tr, v, 0.0), [3., 3., 1.])
    # lambda 1: G_2 = 1, G_1 = 1 + .5, G_0 = 1 + .5 * 1.5 = 1.75
    np.testing.assert_allclose(
        returns.truncated_lambda_returns(r, d, tr, v, 1.0), [1.75, 1.5, 1.])

  def test_batched_is_per_column(self):
    rng = np.random.default_rng(1)
    r, v = rng.normal(size=(2, 6, 3)).astype(np.float32)
    d = 0.9 * (rng.uniform(size=(6, 3)) > 0.2).astype(np.float32)
    tr = rng.uniform(size=(6, 3)) > 0.8
    got = returns.batched_truncated_lambda_returns(r, d, tr, v, 0.6)
    for b in range(3):
      np.testing.assert_allclose(
          got[:, b], returns.truncated_lambda_returns(
              r[:, b], d[:, b], tr[:, b], v[:, b], 0.6), rtol=1e-6)


if __name__ == "__main__":
  absltest.main()
