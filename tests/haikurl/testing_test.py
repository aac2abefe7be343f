"""haikurl.testing: the probes keep the Env contract and their documented
answers, `tiny` shrinks any agent's config by its keys, the builders keep
the loop's invariants."""
import os
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import ppo
from configs import dqn as dqn_config
from configs import ppo as ppo_config
from configs import sac as sac_config
from haikurl import registry
from haikurl import testing

PROBE_NAMES = [f"probe:{n}{s}" for n in testing.PROBES
               for s in ("", "_continuous")]
GAMMA = 0.9
NUM_ENVS = 64
NUM_STEPS = 30  # whole episodes of every probe (1, 2, 3, 5 steps)


def oracle_action(env, obs, cue):
  """The optimal action: the best one of the action probe, the cue's of the
  memory probe, anything elsewhere."""
  batch = obs.shape[:1]
  if isinstance(env, testing.ActionReward):
    return env.best_action(obs)
  if env.continuous:
    return jnp.broadcast_to(cue[:, None], batch + env.spec.action_shape)
  return (cue > 0).astype(jnp.int32)


def rollout(name, policy="oracle", num_envs=NUM_ENVS, num_steps=NUM_STEPS,
            **kwargs):
  """[T, B] timesteps (and the observations acted on) of probe `name`
  through `haikurl.envs.make`, as the loop sees it."""
  env = haikurl.envs.make(name, num_envs, **kwargs)
  probe = testing.make_probe(name, num_envs, **kwargs)

  def step(carry, key):
    env_state, timestep, cue = carry
    obs = timestep.observation
    # The memory probe's cue is in the first observation only: remember it.
    if isinstance(probe, testing.Memory):
      cue = jnp.where(obs[:, 1] == 0, obs[:, 0], cue)
    act_key, step_key = jax.random.split(key)
    if policy == "oracle":
      action = oracle_action(probe, obs, cue)
    else:
      action = testing.random_actions(act_key, env.spec, (num_envs,))
    env_state, next_timestep = env.step(env_state, action, step_key)
    return (env_state, next_timestep, cue), (obs, action, next_timestep)

  env_state, timestep = env.reset(jax.random.key(0))
  cue = jnp.zeros((num_envs,), jnp.float32)
  _, (obs, action, timesteps) = jax.jit(
      lambda c, k: jax.lax.scan(step, c, k))(
          (env_state, timestep, cue), jax.random.split(jax.random.key(1),
                                                       num_steps))
  return probe, jax.device_get((obs, action, timesteps))


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_probe_keeps_the_env_contract(name):
  probe, (obs, _, ts) = rollout(name, policy="random")
  length = probe.spec.max_episode_steps
  # Episodes end every `length` steps, in every env, and only then.
  done = ts.terminated | ts.truncated
  expected_done = (np.arange(NUM_STEPS) % length == length - 1)[:, None]
  np.testing.assert_array_equal(done, np.broadcast_to(expected_done,
                                                      done.shape))
  assert not np.any(ts.terminated & ts.truncated)
  # discount is 0 exactly at terminations; truncations keep 1.
  np.testing.assert_array_equal(ts.discount, 1.0 - ts.terminated)
  if isinstance(probe, testing.TimeLimit):
    assert np.all(ts.truncated == done) and not np.any(ts.terminated)
  else:
    assert np.all(ts.terminated == done) and not np.any(ts.truncated)
  # Auto-reset: the next step acts on `observation`; `next_observation` is
  # the pre-reset one, equal to it except where an episode ended.
  np.testing.assert_array_equal(obs[1:], ts.observation[:-1])
  not_done = ~done[..., None]
  np.testing.assert_array_equal(np.where(not_done, ts.next_observation, 0),
                                np.where(not_done, ts.observation, 0))
  if not isinstance(probe, testing.TimeLimit):   # constant obs there
    assert np.all(np.any(ts.next_observation != ts.observation, -1)[done])
  # The observation after a reset is a first observation (step 0).
  first = obs[::length].reshape(-1, obs.shape[-1])
  zeros = np.zeros(first.shape[:1], np.int32)
  context = (first[:, 0] if isinstance(probe, (testing.ObsReward,
                                               testing.Memory))
             else zeros.astype(np.float32))
  np.testing.assert_array_equal(first, probe.observation_at(zeros, context))
  # Episode return and length, at the ends: the episode's sums.
  rewards = ts.reward.reshape(-1, length, NUM_ENVS)
  np.testing.assert_allclose(ts.episode_return[done],
                             rewards.sum(1).reshape(-1), rtol=1e-6)
  np.testing.assert_array_equal(ts.episode_length[done], length)
  assert ts.reward.dtype == np.float32 and ts.observation.dtype == np.float32


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_documented_value_satisfies_bellman_under_the_optimal_policy(name):
  # V(o_t) = r_t + gamma * d_t * V(o_t+1) at every step, with the pre-reset
  # o_t+1 (a truncation bootstraps from it, a termination does not).
  probe, (obs, _, ts) = rollout(name)
  flat = lambda x: jnp.asarray(x.reshape((-1,) + x.shape[2:]))
  v_t = np.asarray(probe.value(flat(obs), GAMMA))
  v_next = np.asarray(probe.value(flat(ts.next_observation), GAMMA))
  target = ts.reward.reshape(-1) + GAMMA * ts.discount.reshape(-1) * v_next
  np.testing.assert_allclose(v_t, target, rtol=1e-5, atol=1e-6)


def test_hand_computed_values():
  obs = lambda *rows: jnp.asarray(rows, jnp.float32)
  # two_step: V(s0) = 0 + 0.9 * 1 = 0.9, V(s1) = 1.
  np.testing.assert_allclose(
      testing.TwoStep(2).value(obs([1, 0, 0], [0, 1, 0]), GAMMA), [0.9, 1.0])
  # obs_reward: V(s) = s.
  np.testing.assert_allclose(testing.ObsReward(2).value(obs([1], [-1]), 0.9),
                             [1.0, -1.0])
  # time_limit: 1 / (1 - 0.9) = 10; treating the limit of 5 steps as a
  # termination: 1 / (1 - 0.9 * 4 / 5) = 1 / 0.28 = 3.5714.
  limit = testing.TimeLimit(1)
  np.testing.assert_allclose(limit.value(obs([1]), GAMMA), [10.0], rtol=1e-6)
  np.testing.assert_allclose(limit.terminating_value(GAMMA), 1 / 0.28,
                             rtol=1e-6)
  # That number is the fixed point of TD on samples from the 5 positions of
  # an episode, the last one cut off: V = mean(1 + 0.9 V, x4; 1).
  v = 0.0
  for _ in range(500):
    v = (4 * (1 + GAMMA * v) + 1) / 5
  np.testing.assert_allclose(v, 1 / 0.28, rtol=1e-6)
  # Monte Carlo: the mean of the 5 positions' returns-to-go
  # (1 - 0.9^m) / 0.1 for m = 5..1: (4.0951 + 3.439 + 2.71 + 1.9 + 1) / 5
  # = 2.62882.
  np.testing.assert_allclose(limit.terminating_value(GAMMA, 1.0), 2.62882,
                             rtol=1e-5)
  # lambda in between: between the two.
  assert 2.62882 < limit.terminating_value(GAMMA, 0.95) < 1 / 0.28
  # memory (3 steps): V(s_t) = 0.9^(2 - t): 0.81, 0.9, 1.
  np.testing.assert_allclose(
      testing.Memory(3).value(obs([1, 0], [0, 1 / 3], [0, 2 / 3]), GAMMA),
      [0.81, 0.9, 1.0], rtol=1e-6)
  # action_reward: Q(s, 1) = 1, Q(s, 0) = -1; continuous
  # Q(a) = 1 - (a - 0.5)^2: Q(0.5) = 1, Q(-0.5) = 0, Q(1) = 0.75.
  np.testing.assert_allclose(
      testing.ActionReward(2).q_value(jnp.array([1, 0])), [1.0, -1.0])
  np.testing.assert_allclose(
      testing.ActionReward(3, continuous=True).q_value(
          jnp.array([[0.5], [-0.5], [1.0]])), [1.0, 0.0, 0.75])


def test_time_limit_as_termination_terminates_instead():
  probe, (_, _, ts) = rollout("probe:time_limit", policy="random",
                              as_termination=True)
  assert not np.any(ts.truncated)
  np.testing.assert_array_equal(ts.terminated[4], True)
  np.testing.assert_array_equal(ts.discount[4], 0.0)
  assert not probe.truncate
  env = haikurl.envs.make("probe:time_limit", 1, as_termination=True)
  assert not env.truncate


@pytest.mark.parametrize("name", ["probe:memory", "probe:memory_continuous"])
def test_memory_is_at_chance_without_the_cue(name):
  # An action that ignores the cue (always 1, or +1): the final reward is
  # +1 or -1 with the cue's sign, mean 0 within 4 / sqrt(N); the oracle
  # that remembers the cue gets 1 every time.
  n = 4096
  env = haikurl.envs.make(name, n)
  state, _ = env.reset(jax.random.key(3))
  action = (jnp.ones((n, 1)) if name.endswith("continuous")
            else jnp.ones((n,), jnp.int32))
  for i in range(3):
    state, ts = env.step(state, action, jax.random.key(10 + i))
  assert abs(float(jnp.mean(ts.reward))) < 4 / np.sqrt(n)
  _, (_, _, ts) = rollout(name)
  np.testing.assert_array_equal(ts.reward[2::3], 1.0)


def test_probes_work_by_name_without_importing_the_kit():
  # A config naming a probe must not depend on `haikurl.testing` having
  # been imported by someone.
  code = ("import haikurl.envs as e, sys; env = e.make('probe:two_step', 2); "
          "assert 'haikurl.testing' in sys.modules; print(env.spec.name)")
  root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, env=dict(os.environ, JAX_PLATFORMS="cpu",
                                           PYTHONPATH=root), timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "probe:two_step"


def test_probe_through_make_train_reports_episode_returns():
  # probe:time_limit: 5 steps of reward 1 per episode, truncated: every
  # training and evaluation episode returns 5 and lasts 5 steps.
  config = testing.tiny(ppo_config.get_config(), env="probe:time_limit",
                        rollout_length=10)
  train = haikurl.make_train(config)
  assert train.env.spec.max_episode_steps == 5
  _, metrics = jax.jit(train)(jax.random.key(0))
  np.testing.assert_allclose(metrics["train/episode_return"], [5.0])
  np.testing.assert_allclose(metrics["train/episode_length"], [5.0])
  np.testing.assert_allclose(metrics["eval/episode_return"], [5.0])
  # 2 envs x 10 steps x 2 iterations = 40 steps = 8 episodes.
  np.testing.assert_array_equal(metrics["train/episodes"], [8])


# tiny

def test_tiny_shrinks_by_key_and_leaves_its_input_alone():
  config = sac_config.get_config("Pendulum-v1")
  before = config.to_json()
  small = testing.tiny(config, discount=0.5, eval_every=64)
  assert config.to_json() == before
  a = small.agent
  assert a.actor_hidden_sizes == a.critic_hidden_sizes == (8, 8)
  assert (a.num_envs, a.rollout_length) == (2, 4)
  assert (a.buffer_size, a.batch_size, a.learning_starts) == (64, 8, 8)
  # One gradient step per learn call: 2 * 4 * (1 / 8) = 1.
  assert a.num_envs * a.rollout_length * a.replay_ratio == 1.0
  assert a.discount == 0.5 and small.eval_every == 64   # overrides last
  assert small.total_env_steps == 2 * 4 * 2
  assert small.is_locked
  with pytest.raises(AttributeError):
    small.agent.learning_rat = 1.0
  with pytest.raises(ValueError, match="'learning_rat' is neither"):
    testing.tiny(config, learning_rat=1.0)
  # PPO's minibatches and epochs; DQN's atoms.
  p = testing.tiny(ppo_config.get_config()).agent
  assert (p.num_minibatches, p.num_epochs, p.hidden_sizes) == (2, 1, (8, 8))
  assert testing.tiny(dqn_config.get_config()).agent.num_atoms == 5


def test_tiny_works_for_a_user_agent():
  # A user's agent under a name no built-in has: tiny knows agents by their
  # keys, not their names.
  user = types.SimpleNamespace(Settings=ppo.Settings, HParams=ppo.HParams,
                               make=ppo.make)
  registry.register("testing_test_user_ppo", user)
  config = ppo_config.get_config()
  with config.unlocked():
    config.agent.name = "testing_test_user_ppo"
  small = testing.tiny(config)
  train = haikurl.make_train(small)
  assert train.agent_module is user
  state, _ = jax.eval_shape(train, jax.random.key(0))
  kernels = [x.shape for x in jax.tree.leaves(state.agent_state) if x.ndim == 2]
  assert max(max(s) for s in kernels) == 8, kernels


# Builders

def test_random_trajectory_keeps_the_loops_invariants():
  spec = haikurl.envs.make("gymnax:CartPole-v1", 1).spec
  extras = ppo.Extras(jax.ShapeDtypeStruct((), jnp.float32),
                      jax.ShapeDtypeStruct((), jnp.float32))
  traj = jax.device_get(testing.random_trajectory(
      jax.random.key(0), spec, 50, 8, extras=extras, termination_prob=0.2,
      truncation_prob=0.2))
  assert traj.obs.shape == traj.next_obs.shape == (50, 8, 4)
  assert traj.action.shape == (50, 8) and traj.action.dtype == np.int32
  assert set(np.unique(traj.action)) == {0, 1}
  assert traj.extras.log_prob.shape == traj.extras.value.shape == (50, 8)
  np.testing.assert_array_equal(traj.discount, 1.0 - traj.terminated)
  assert not np.any(traj.terminated & traj.truncated)
  assert np.any(traj.terminated) and np.any(traj.truncated)
  done = (traj.terminated | traj.truncated)[:-1]
  same = np.all(traj.next_obs[:-1] == traj.obs[1:], axis=-1)
  np.testing.assert_array_equal(same, ~done)
  cont = haikurl.envs.make("gymnax:Pendulum-v1", 1).spec
  action = testing.random_trajectory(jax.random.key(1), cont, 4, 3).action
  assert action.shape == (4, 3, 1)
  assert np.all(np.abs(np.asarray(action)) <= 2.0)   # Pendulum's bounds


def test_network_output_builders_are_consistent():
  atoms = jnp.linspace(-1.0, 1.0, 7)
  c51 = testing.random_categorical_q(jax.random.key(0), 5, 3, atoms)
  assert c51.q_logits.shape == (5, 3, 7)
  np.testing.assert_allclose(
      c51.q_values, np.sum(jax.nn.softmax(c51.q_logits) * atoms, -1),
      rtol=1e-5, atol=1e-6)
  qr = testing.random_quantile_q(jax.random.key(1), 5, 3, 4)
  assert qr.q_dist.shape == (5, 4, 3)
  assert np.all(np.diff(np.asarray(qr.q_dist), axis=1) >= 0)
  np.testing.assert_allclose(qr.tau, [0.125, 0.375, 0.625, 0.875])
  np.testing.assert_allclose(qr.q_values, qr.q_dist.mean(1), rtol=1e-6)
  assert testing.random_q_values(jax.random.key(2), 5, 3).q_values.shape == (
      5, 3)
  spec = haikurl.envs.make("gymnax:Pendulum-v1", 1).spec
  policy = testing.random_policy(jax.random.key(3), 5, spec)
  assert policy.mean.shape == policy.log_std.shape == (5, 1)


def test_a_probe_keeps_the_env_contracts_observe():
  # Env.observe(state, observation) is what a loaded policy applies to raw
  # observations; a probe's own hook has another name, so it is the
  # identity here, as for every unwrapped env.
  env = haikurl.envs.make("probe:two_step", 2)
  state, ts = env.reset(jax.random.key(0))
  np.testing.assert_array_equal(env.observe(state, ts.observation),
                                ts.observation)
