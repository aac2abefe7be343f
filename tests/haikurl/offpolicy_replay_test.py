"""flashbax replay from settings: episode boundaries, priorities, weights."""
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from haikurl import offpolicy as replay
from haikurl.types import Transition


def episodic_trajectory(num_steps, num_envs, seed):
  """[T, B] transitions whose observation is (episode id, step in episode).

  Episodes end at random, by termination or truncation; after an end the next
  observation of that env starts a new episode, as after an auto-reset, while
  `next_obs` stays the pre-reset observation (same episode, step + 1).
  """
  rng = np.random.default_rng(seed)
  obs = np.zeros((num_steps, num_envs, 2), np.float32)
  next_obs = np.zeros_like(obs)
  terminated = np.zeros((num_steps, num_envs), bool)
  truncated = np.zeros_like(terminated)
  episode = np.arange(num_envs) * 10_000.0
  step = np.zeros(num_envs)
  for t in range(num_steps):
    obs[t, :, 0], obs[t, :, 1] = episode, step
    next_obs[t, :, 0], next_obs[t, :, 1] = episode, step + 1
    end = rng.random(num_envs)
    terminated[t] = end < 0.1
    truncated[t] = (end >= 0.1) & (end < 0.2)
    done = terminated[t] | truncated[t]
    episode = np.where(done, episode + 1, episode)
    step = np.where(done, 0, step + 1)
  reward = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
  return Transition(
      obs=jnp.asarray(obs), action=jnp.zeros((num_steps, num_envs), jnp.int32),
      reward=jnp.asarray(reward),
      discount=jnp.asarray(1.0 - terminated, jnp.float32),
      terminated=jnp.asarray(terminated), truncated=jnp.asarray(truncated),
      next_obs=jnp.asarray(next_obs), extras=())


def dummy(obs_dim=2):
  return Transition(jnp.zeros(obs_dim), jnp.zeros((), jnp.int32),
                    jnp.zeros(()), jnp.zeros(()), jnp.zeros((), bool),
                    jnp.zeros((), bool), jnp.zeros(obs_dim), ())


class SequenceBufferTest(parameterized.TestCase):

  @parameterized.product(n=(1, 3), prioritised=(False, True))
  def test_never_yields_a_transition_across_an_episode_boundary(
      self, n, prioritised):
    num_envs, rollout = 4, 16
    # 64 steps per env: 10 rollouts wrap the buffer several times.
    buffer = replay.make_sequence_buffer(256, num_envs, 256, n, 0,
                                         prioritised=prioritised)
    state = buffer.init(dummy())
    add, sample = jax.jit(buffer.add), jax.jit(buffer.sample)
    key = jax.random.key(0)
    # One long stream of episodes, added a rollout at a time.
    stream = episodic_trajectory(10 * rollout, num_envs, seed=n)
    for i in range(10):
      trajectory = jax.tree.map(lambda x: x[i * rollout:(i + 1) * rollout],
                                stream)
      state = add(state, replay.to_sequences(trajectory))
      if i < 1:
        continue
      key, sample_key = jax.random.split(key)
      window = jax.device_get(sample(state, sample_key).experience)
      obs, next_obs = window.obs, window.next_obs             # [N, n, 2]
      done = window.terminated | window.truncated             # [N, n]
      # Every transition pairs an observation with its own episode's next.
      np.testing.assert_array_equal(next_obs[..., 0], obs[..., 0])
      np.testing.assert_array_equal(next_obs[..., 1], obs[..., 1] + 1)
      # Inside a window, steps are consecutive steps of one env, and a new
      # episode starts only right after a done.
      for k in range(n - 1):
        same = ~done[:, k]
        np.testing.assert_array_equal(obs[same, k + 1], next_obs[same, k])
        np.testing.assert_array_equal(obs[~same, k + 1, 1], 0.0)

  def test_can_sample_only_after_min_size(self):
    buffer = replay.make_sequence_buffer(64, 2, 4, 3, min_size=16)
    state = buffer.init(dummy())
    trajectory = episodic_trajectory(4, 2, seed=0)   # 8 transitions
    state = buffer.add(state, replay.to_sequences(trajectory))
    self.assertFalse(bool(buffer.can_sample(state)))
    state = buffer.add(state, replay.to_sequences(trajectory))
    self.assertTrue(bool(buffer.can_sample(state)))   # 16 transitions

  def test_batch_larger_than_buffer_is_refused(self):
    with self.assertRaisesRegex(ValueError, "larger than the buffer"):
      replay.make_sequence_buffer(16, 1, 32, 1, 0)


class PrioritisedTest(chex.TestCase):

  @parameterized.parameters(1.0, 0.5)
  def test_sampling_frequencies_are_proportional_to_priorities(self, alpha):
    buffer = replay.make_sequence_buffer(512, 1, 512, 1, 0, prioritised=True,
                                         priority_exponent=alpha)
    state = buffer.init(dummy())
    # 8 transitions of one env fill the first 8 slots (items 0..7).
    state = buffer.add(state, replay.to_sequences(
        episodic_trajectory(8, 1, seed=0)))
    priorities = jnp.arange(1.0, 9.0)                       # 1, 2, ..., 8
    state = buffer.set_priorities(state, jnp.arange(8), priorities)
    expected = np.asarray(priorities) ** alpha
    expected = expected / expected.sum()
    sample = jax.jit(buffer.sample)
    counts = np.zeros(512)
    for key in jax.random.split(jax.random.key(42), 40):   # 20480 draws
      s = sample(state, key)
      np.add.at(counts, np.asarray(s.indices), 1)
      # The probabilities it reports are p_i^alpha / sum_j p_j^alpha.
      np.testing.assert_allclose(s.probabilities, expected[s.indices],
                                 rtol=1e-5)
    self.assertEqual(counts[8:].sum(), 0)                  # empty slots
    freq = counts[:8] / counts.sum()
    # Binomial standard error; 4 sigma with a fixed key.
    sigma = np.sqrt(expected * (1 - expected) / counts.sum())
    np.testing.assert_array_less(np.abs(freq - expected), 4 * sigma)

  @chex.variants(with_jit=True, without_jit=True)
  def test_importance_weights(self):
    # P = [0.1, 0.2, 0.4], beta = 0.5: w = (P / 0.1)^-0.5 = [1, 1/sqrt 2, 1/2].
    w = self.variant(replay.importance_weights)(jnp.array([0.1, 0.2, 0.4]), 0.5)
    np.testing.assert_allclose(w, [1.0, 2 ** -0.5, 0.5], rtol=1e-6)
    # beta = 0 gives uniform weights: no correction.
    w = self.variant(replay.importance_weights)(jnp.array([0.1, 0.2, 0.4]), 0.)
    np.testing.assert_allclose(w, [1.0, 1.0, 1.0])


if __name__ == "__main__":
  import absl.testing.absltest
  absl.testing.absltest.main()


class NStepBatchTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_windows_cut_at_the_first_episode_end(self):
    # Two windows of 3 steps, gamma = 0.5, rewards [1, 2, 4]:
    # row 0 terminates at step 1: R = 1 + 0.5 * 2 = 2, discount 0,
    #   bootstrap from next_obs[1] (index 1), terminated True;
    # row 1 is truncated at step 0: R = 1, discount 0.5 (it bootstraps from
    #   the true last observation next_obs[0]), truncated True.
    reward = jnp.array([[1., 2., 4.], [1., 2., 4.]])
    terminated = jnp.array([[False, True, False], [False, False, False]])
    truncated = jnp.array([[False, False, False], [True, False, False]])
    next_obs = jnp.array([[[10.], [11.], [12.]], [[20.], [21.], [22.]]])
    window = Transition(obs=next_obs - 1, action=jnp.zeros((2, 3), jnp.int32),
                        reward=reward, discount=1.0 - terminated,
                        terminated=terminated, truncated=truncated,
                        next_obs=next_obs, extras=())
    batch = self.variant(replay.n_step_batch)(window, 0.5)
    np.testing.assert_allclose(batch.reward, [2.0, 1.0])
    np.testing.assert_allclose(batch.discount, [0.0, 0.5])
    np.testing.assert_allclose(batch.next_obs, [[11.], [20.]])
    np.testing.assert_array_equal(batch.terminated, [True, False])
    np.testing.assert_array_equal(batch.truncated, [False, True])
    np.testing.assert_allclose(batch.obs, [[9.], [19.]])
