"""PPO: one learn step's invariants, discrete and continuous."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import config_dict

from agents import ppo
from configs import ppo as ppo_config
from haikurl import envs, hparams
from haikurl.types import Transition


def make_agent(env_name, **overrides):
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.env = env_name
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches = 2
  for k, v in overrides.items():
    cfg.agent[k] = v
  settings, hp = hparams.split(cfg.agent, ppo, total_env_steps=1024)
  env = envs.make(env_name, 4)
  return env, ppo.make(settings, env.spec), hp


def collect(env, agent, state, hp, length=8):
  def step(carry, key):
    env_state, ts = carry
    k1, k2 = jax.random.split(key)
    action, extras = agent.act(state, ts.observation, k1, hp, False)
    env_state, nts = env.step(env_state, action, k2)
    return (env_state, nts), Transition(
        ts.observation, action, nts.reward, nts.discount, nts.terminated,
        nts.truncated, nts.next_observation, extras)
  carry = env.reset(jax.random.key(3))
  _, traj = jax.lax.scan(step, carry, jax.random.split(jax.random.key(4),
                                                        length))
  return traj


@pytest.mark.parametrize("env_name", ["gymnax:CartPole-v1",
                                      "gymnax:Pendulum-v1"])
def test_learn_step_shapes_finite_metrics_and_params_move(env_name):
  env, agent, hp = make_agent(env_name)
  # Haiku's orthogonal initialiser and distrax's sampling promote ranks
  # themselves, so the check covers learn (our GAE and losses) only.
  state = agent.init(jax.random.key(0), hp)
  traj = collect(env, agent, state, hp)
  chex.assert_shape(traj.extras.log_prob, (8, 4))
  chex.assert_shape(traj.extras.value, (8, 4))
  action_shape = (8, 4) + env.spec.action_shape
  chex.assert_shape(traj.action, action_shape)
  with jax.numpy_rank_promotion("raise"):
    new_state, metrics = jax.jit(agent.learn)(state, traj, jax.random.key(5),
                                              hp)
  # 4 epochs x 2 minibatches of gradient steps.
  assert int(new_state.num_updates) == 8
  for name, value in metrics.items():
    assert value.shape == () and value.dtype == jnp.float32, name
    assert np.isfinite(value), name
  moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state.params,
                       new_state.params)
  assert all(jax.tree.leaves(moved))
  chex.assert_trees_all_equal_shapes_and_dtypes(state, new_state)
  # Greedy actions have the env's action shape and dtype.
  action, _ = agent.act(new_state, traj.obs[0], jax.random.key(0), hp, True)
  assert action.shape == (4,) + env.spec.action_shape


def test_annealed_learning_rate_decreases_linearly():
  env, agent, hp = make_agent("gymnax:CartPole-v1")
  state = agent.init(jax.random.key(0), hp)
  traj = collect(env, agent, state, hp)
  _, m1 = agent.learn(state, traj, jax.random.key(1), hp)
  # 1024 env steps / 32 per learn = 32 learns x 8 updates = 256 updates;
  # the first learn's updates 0..7 use lr * (1 - k / 256): mean k = 3.5.
  np.testing.assert_allclose(m1["train/learning_rate"],
                             float(hp.learning_rate) * (1 - 3.5 / 256),
                             rtol=1e-5)


def test_validate_rejects_minibatches_that_do_not_divide():
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_minibatches = 7
  # Checked where PPO's Settings are built: 16 * 32 = 512 is not a
  # multiple of 7.
  with pytest.raises(ValueError, match="num_minibatches=7 must divide.*512"):
    hparams.split(cfg.agent, ppo, total_env_steps=1)


def test_a_custom_policy_loss_replaces_the_clipped_surrogate():
  env, default_agent, hp = make_agent("gymnax:CartPole-v1")
  state = default_agent.init(jax.random.key(0), hp)
  traj = collect(env, default_agent, state, hp)
  settings, _ = hparams.split(_small_agent_config(), ppo,
                              total_env_steps=1024)
  calls = []

  def zero_loss(ratio, advantage, hp):
    calls.append(ratio.shape)
    return 0.0 * jnp.mean(ratio * advantage)

  agent = ppo.make(settings, env.spec, policy_loss=zero_loss)
  _, metrics = agent.learn(state, traj, jax.random.key(1), hp)
  assert calls and float(metrics["loss/policy"]) == 0.0


def _small_agent_config():
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches = 2
  return cfg.agent
