"""`load_policy` acts in the environment's own units: a TD3 policy trained on
gymnax Pendulum-v1 returns torques in [-2, 2], and rolled in the raw gymnax
env (gymnax.make) it earns the return the agent earns in haikurl's own env
from the same start state."""
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from configs import td3 as td3_config
from haikurl import experiment

EPISODE = 200   # Pendulum-v1's time limit


def _short_td3_run(workdir):
  cfg = td3_config.get_config("Pendulum-v1")
  cfg.agent.learning_starts = 512
  cfg.agent.batch_size = 64
  cfg.agent.actor_hidden_sizes = cfg.agent.critic_hidden_sizes = (64, 64)
  cfg.total_env_steps = 3072
  cfg.eval_every = 1536
  cfg.num_eval_episodes = 2
  experiment.run(cfg, workdir, quiet=True, tensorboard=False)
  return cfg


@pytest.mark.slow
def test_loaded_policy_acts_in_env_units_and_matches_training_env_return(
    tmp_path):
  workdir = str(tmp_path)
  cfg = _short_td3_run(workdir)
  act = haikurl.load_policy(workdir, member=0)
  np.testing.assert_array_equal(act.spec.action_low, [-2.0])
  np.testing.assert_array_equal(act.spec.action_high, [2.0])
  train = haikurl.make_train(cfg, callbacks={})

  # Actions on a spread of raw observations (cos, sin, angular velocity):
  # within [-2, 2], and the agent's [-1, 1] action mapped by
  # low + (a + 1) / 2 * (high - low) = 2a.
  theta = jnp.linspace(-np.pi, np.pi, 64)
  obs = jnp.stack([jnp.cos(theta), jnp.sin(theta),
                   jnp.linspace(-8.0, 8.0, 64)], axis=1)         # [64, 3]
  actions = np.asarray(act(obs, jax.random.key(0)))              # [64, 1]
  assert actions.shape == (64, 1)
  assert np.all(np.abs(actions) <= 2.0)
  agent_actions, _ = train.agent.act(act.agent_state, obs, jax.random.key(0),
                                     act.hparams, True)
  np.testing.assert_allclose(actions, 2.0 * np.asarray(agent_actions),
                             rtol=1e-6, atol=1e-6)
  # A trained torque policy saturates somewhere: beyond the agent's units.
  assert np.max(np.abs(actions)) > 1.0

  # One episode in haikurl's env (the agent acting in its own units) and one
  # in raw gymnax (the loaded policy), from the same start states.
  env = haikurl.make_env(cfg, num_envs=1, evaluation=True)
  raw_env, params = gymnax.make("Pendulum-v1")
  for seed in range(2):
    key = jax.random.key(seed)
    reset_key, step_key = jax.random.split(key)

    def ours(carry, step_key):
      state, obs = carry
      a, _ = train.agent.act(act.agent_state, obs, step_key, act.hparams,
                             True)
      state, ts = env.step(state, a, step_key)
      return (state, ts.observation), ts.reward[0]

    state, ts = env.reset(reset_key)
    _, rewards = jax.lax.scan(ours, (state, ts.observation),
                              jax.random.split(step_key, EPISODE))

    def raw(carry, step_key):
      state, obs = carry
      a = act(obs, step_key)
      obs, state, reward, _, _, _ = raw_env.step(
          jax.random.split(step_key, 1)[0], state, a, params)
      return (state, obs), reward

    # GymnaxEnv resets environment j of its batch with split(key, B)[j].
    obs, raw_state = raw_env.reset(jax.random.split(reset_key, 1)[0], params)
    np.testing.assert_array_equal(obs, ts.observation[0])
    _, raw_rewards = jax.lax.scan(raw, (raw_state, obs),
                                  jax.random.split(step_key, EPISODE))
    np.testing.assert_allclose(float(jnp.sum(raw_rewards)),
                               float(jnp.sum(rewards)), rtol=1e-5)


def _short_memory_run(workdir):
  from configs import ppo_rnn as ppo_rnn_config  # pylint: disable=g-import-not-at-top
  cfg = ppo_rnn_config.get_config("MemoryChain-bsuite")
  cfg.env, cfg.env_kwargs = "probe:memory", {}
  cfg.agent.update(num_envs=16, rollout_length=12, core_size=16,
                   hidden_sizes=(16,), head_sizes=(16,), learning_rate=3e-3,
                   num_minibatches=2)
  cfg.total_env_steps, cfg.eval_every, cfg.num_eval_episodes = 12288, 6144, 8
  experiment.run(cfg, workdir, quiet=True, tensorboard=False)
  return cfg


def _play(policy, cfg, key, always_first=False, episodes=2, num_envs=32):
  """Returns summed over `episodes` 3-step episodes of probe:memory, the
  caller keeping the policy's carry as the loop does."""
  env = haikurl.make_env(cfg, num_envs=num_envs, evaluation=True)
  state, ts = env.reset(key)
  carry = policy.initial_carry(key, num_envs)
  total = np.zeros(num_envs)
  reward, first = jnp.zeros(num_envs), jnp.ones(num_envs, bool)
  for _ in range(3 * episodes):
    key, act_key, step_key = jax.random.split(key, 3)
    action, carry = policy.step(carry, ts.observation, act_key, reward,
                                first | always_first)
    state, ts = env.step(state, action, step_key)
    total += np.asarray(ts.reward)
    reward, first = ts.reward, ts.done
  return total


@pytest.mark.slow
def test_recurrent_policy_keeps_its_memory_through_step(tmp_path):
  # probe:memory shows its cue in the first observation only; the last
  # action must match it (+1, else -1). Recurrent PPO learns it in 12k
  # steps; the loaded policy, stepped with the carry its caller keeps,
  # earns +1 every episode, and the same policy with its carry reset at
  # every step (no memory) is at chance (mean 0).
  workdir = str(tmp_path)
  cfg = _short_memory_run(workdir)
  policy = haikurl.load_policy(workdir, member=0)
  assert policy.recurrent
  np.testing.assert_array_equal(_play(policy, cfg, jax.random.key(3)), 2.0)
  forgetful = _play(policy, cfg, jax.random.key(3), always_first=True)
  assert abs(forgetful.mean()) < 1.0, forgetful
  # `act` has no memory to keep: refused with the way to call it.
  with pytest.raises(ValueError, match="recurrent.*policy.step"):
    policy(jnp.zeros((2,)), jax.random.key(0))
  # Every member at once: a leading member axis on carry and actions.
  policies = haikurl.load_policy(workdir)
  carry = policies.initial_carry(jax.random.key(0), 4)
  obs = jnp.zeros((1, 4, 2))
  actions, carry = policies.step(carry, obs, jax.random.key(1))
  assert actions.shape == (1, 4)
  assert jax.tree.leaves(carry)[0].shape[:2] == (1, 4)


def test_feed_forward_policy_step_equals_act(tmp_path):
  # `step` serves feed-forward agents too (carry ()), acting as `act` does.
  from haikurl import testing  # pylint: disable=g-import-not-at-top
  from configs import dqn as dqn_config  # pylint: disable=g-import-not-at-top
  cfg = testing.tiny(dqn_config.get_config("CartPole-v1"))
  experiment.run(cfg, str(tmp_path), quiet=True, tensorboard=False)
  policy = haikurl.load_policy(str(tmp_path), member=0)
  assert not policy.recurrent
  obs = jax.random.normal(jax.random.key(0), (5, 4))
  carry = policy.initial_carry(jax.random.key(1), 5)
  assert carry == ()
  action, carry = policy.step(carry, obs, jax.random.key(2))
  assert carry == ()
  _, act_key = jax.random.split(jax.random.key(2))
  np.testing.assert_array_equal(action, policy(obs, act_key))
