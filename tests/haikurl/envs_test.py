"""Env invariants for the gymnax and brax adapters and the wrappers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from haikurl import envs
from haikurl.envs import gymnax_env


def rollout(env, num_steps, seed=0):
  """Random-action rollout; returns (TimeSteps stacked [T, B], actions, keys)."""
  spec = env.spec

  def step(carry, key):
    state, ts = carry
    act_key, step_key = jax.random.split(key)
    if spec.discrete:
      action = jax.random.randint(act_key, (env.num_envs,), 0, spec.num_actions)
    else:
      action = jax.random.uniform(act_key, (env.num_envs,) + spec.action_shape,
                                  minval=-1.0, maxval=1.0)
    new_state, new_ts = env.step(state, action, step_key)
    return (new_state, new_ts), (state, ts, action, step_key, new_ts)

  state, ts = env.reset(jax.random.key(seed))
  keys = jax.random.split(jax.random.key(seed + 1), num_steps)
  _, out = jax.jit(lambda c, k: jax.lax.scan(step, c, k))((state, ts), keys)
  return out


def check_invariants(prev_ts, ts):
  done = np.asarray(ts.terminated | ts.truncated)
  terminated = np.asarray(ts.terminated)
  truncated = np.asarray(ts.truncated)
  # Termination and truncation are exclusive; discount is 0 only at a
  # termination.
  assert not np.any(terminated & truncated)
  np.testing.assert_array_equal(np.asarray(ts.discount),
                                np.where(terminated, 0.0, 1.0))
  # Where no episode ended, the next observation is the observation.
  # (Up to float rounding: some gymnax envs compute the two differently.)
  np.testing.assert_allclose(np.asarray(ts.next_observation)[~done],
                             np.asarray(ts.observation)[~done],
                             rtol=1e-5, atol=1e-6)
  # Episode length counts up by one and restarts after an episode end.
  prev_done = np.asarray(prev_ts.terminated | prev_ts.truncated)
  expected = np.where(prev_done, 1, np.asarray(prev_ts.episode_length) + 1)
  np.testing.assert_array_equal(np.asarray(ts.episode_length), expected)
  for x in (ts.reward, ts.discount, ts.observation, ts.next_observation,
            ts.episode_return):
    assert x.dtype == jnp.float32
  return done, terminated, truncated


def test_gymnax_cartpole_invariants_and_final_observation():
  # A time limit of 12 steps makes truncations frequent beside terminations.
  env = envs.make("gymnax:CartPole-v1", 8, max_steps_in_episode=12)
  states, prev_ts, actions, step_keys, ts = rollout(env, 60)
  done, terminated, truncated = check_invariants(prev_ts, ts)
  assert terminated.any() and truncated.any()
  # Truncation only at the time limit.
  assert np.all(np.asarray(ts.episode_length)[truncated] == 12)
  # The next observation at an episode end is the pre-reset observation:
  # redo the step of the underlying gymnax env without its auto-reset.
  raw, params = env.env, env.params
  for t, b in list(zip(*np.nonzero(done)))[:10]:
    inner = jax.tree.map(lambda x: x[t, b], states.inner)
    key = jax.random.split(step_keys[t], env.num_envs)[b]
    key_step, _ = jax.random.split(key)
    obs_st = raw.step_env(key_step, inner, actions[t, b], params)[0]
    np.testing.assert_allclose(ts.next_observation[t, b], obs_st, rtol=1e-6)
    # ... and the observation to act on is a fresh episode's, not it.
    assert not np.allclose(ts.observation[t, b], ts.next_observation[t, b])
  # The episode return at an episode end is the sum of its rewards (1 each).
  np.testing.assert_allclose(np.asarray(ts.episode_return)[done],
                             np.asarray(ts.episode_length)[done])


@pytest.mark.parametrize("env_id", gymnax_env.known_ids())
def test_every_gymnax_env_builds_and_steps(env_id):
  env = envs.make(f"gymnax:{env_id}", 2)
  _, prev_ts, _, _, ts = rollout(env, 3)
  check_invariants(prev_ts, ts)
  assert ts.observation.shape == (3, 2) + env.spec.obs_shape


def test_brax_invariants_and_final_observation():
  env = envs.make("brax:inverted_pendulum", 4, backend="spring",
                  episode_length=6)
  assert env.spec.action_shape == (1,) and not env.spec.discrete
  states, prev_ts, actions, _, ts = rollout(env, 16)
  done, terminated, truncated = check_invariants(prev_ts, ts)
  assert truncated.any()
  assert np.all(np.asarray(ts.episode_length)[truncated] == 6)
  # The pre-reset observation equals brax's own step without any reset.
  raw = env.env.env  # RescaleAction -> BraxEnv -> brax env
  for t, b in list(zip(*np.nonzero(done)))[:4]:
    inner = jax.tree.map(lambda x: x[t, b], states.inner)
    stepped = raw.step(inner, actions[t, b])
    np.testing.assert_allclose(ts.next_observation[t, b], stepped.obs,
                               rtol=1e-5, atol=1e-6)
  # Every slot resets with its own key: first observations differ.
  first_obs = np.asarray(ts.observation)[done]
  if len(first_obs) > 1:
    assert not np.allclose(first_obs[0], first_obs[1])


def test_unknown_env_lists_known_names():
  with pytest.raises(ValueError, match="Did you mean gymnax:CartPole-v1"):
    envs.make("gymnax:CartPol-v1")
  with pytest.raises(ValueError, match="Known brax environments: .*hopper"):
    envs.make("brax:hoper")


def test_env_kwargs_the_env_lacks_are_one_clean_line():
  with pytest.raises(ValueError, match=r"no env parameters \['memory_length'\]") as e:
    envs.make("gymnax:Pendulum-v1", 2, memory_length=16)
  assert "\n" not in str(e.value) and "max_torque" in str(e.value)
  env = envs.make("gymnax:MemoryChain-bsuite", 2, memory_length=16)
  assert env.params.memory_length == 16


def test_normalize_observation_statistics_and_frozen_eval():
  env = envs.make("gymnax:CartPole-v1", 16, normalize_observations=True)
  eval_env = envs.make("gymnax:CartPole-v1", 4, normalize_observations=True,
                       update_statistics=False)
  state, ts = env.reset(jax.random.key(0))
  step = jax.jit(env.step)
  raw = []
  for i in range(50):
    state, ts = step(state, jnp.full((16,), i % 2), jax.random.key(i))
  stats = state.stats
  assert float(stats.count) > 16 * 50
  eval_state, _ = eval_env.reset(jax.random.key(1))
  eval_state = eval_env.load_statistics(eval_state, state)
  eval_state2, _ = eval_env.step(eval_state, jnp.zeros((4,), jnp.int32),
                                 jax.random.key(2))
  # Evaluation uses the training statistics and does not change them.
  jax.tree.map(np.testing.assert_array_equal, eval_state2.stats, stats)
  del raw
  # reset_from applies them to the very first observation too.
  from haikurl.envs import wrappers  # pylint: disable=g-import-not-at-top
  state3, ts3 = eval_env.reset_from(jax.random.key(3), state)
  raw_state, raw_ts = eval_env.env.reset(jax.random.key(3))
  np.testing.assert_allclose(ts3.observation,
                             wrappers.normalize(stats, raw_ts.observation),
                             rtol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, state3.stats, stats)
  del raw_state


def test_rescale_action_maps_unit_box_to_bounds():
  env = envs.make("gymnax:Pendulum-v1", 2)  # torque in [-2, 2]
  np.testing.assert_array_equal(env.spec.action_low, [-1.0])
  state, _ = env.reset(jax.random.key(0))
  # An action of 1 (and 5, clipped to 1) is the maximal torque +2.
  a = jnp.array([[1.0], [5.0]])
  _, ts_high = env.step(state, a, jax.random.key(1))
  inner = env.env
  _, ts_raw = inner.step(state, 2.0 * jnp.ones((2, 1)), jax.random.key(1))
  np.testing.assert_allclose(ts_high.reward, ts_raw.reward, rtol=1e-6)
