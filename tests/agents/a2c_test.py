"""A2C: its loss on a two-step trajectory by hand, probes, bad configs,
and (slow) CartPole."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import a2c
from agents import ppo
from configs import a2c as a2c_config
from haikurl import envs
from haikurl import settings as settings_lib
from haikurl import testing
from haikurl.types import Transition
from tests import presets

GAMMA = 0.9


def two_step_agent(env_name):
  """A2C (1 env x 2 steps per learn) on `env_name`, with its HParams."""
  cfg = a2c_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 1, 2
  cfg.agent.hidden_sizes = (8,)
  settings, hp = settings_lib.split(cfg.agent, a2c, total_env_steps=1024)
  hp = hp._replace(discount=np.float32(GAMMA))
  env = envs.make(env_name, 1)
  return env, a2c.make(settings, env.spec), settings, hp


@pytest.mark.parametrize("env_name", ["gymnax:CartPole-v1",
                                      "gymnax:Pendulum-v1"])
@pytest.mark.parametrize("end", ["terminated", "truncated"])
def test_loss_on_a_two_step_trajectory_by_hand(env_name, end):
  # o0 -a0-> (r0 = 1) o1 -a1-> (r2 = 2) o2, which ends the episode.
  # Lambda 1: R1 = 2 + gamma * V(o2) if truncated, 2 if terminated;
  # R0 = 1 + gamma * R1; A_t = R_t - V(o_t).
  # loss = -mean_t log pi(a_t | o_t) A_t + value_coef * 0.5 * mean_t
  # (V(o_t) - R_t)^2 - entropy_coef * mean_t H(pi(. | o_t)),
  # with A and R held constant: its value and its gradient must be what
  # A2C's learn step (make_batch, then PPO's loss with A2C's hook) uses.
  env, agent, settings, hp = two_step_agent(env_name)
  spec = env.spec
  state = agent.init(jax.random.key(0), hp)
  keys = jax.random.split(jax.random.key(1), 4)
  obs = jax.random.normal(keys[0], (3, 1) + spec.obs_shape)
  action = testing.random_actions(keys[1], spec, (2, 1))
  net = ppo.make_network(settings, spec)
  policy, _ = net.apply(state.params, obs[:2].reshape((2,) + spec.obs_shape))
  log_prob = haikurl.networks.distribution(policy).log_prob(
      action.reshape((2,) + spec.action_shape))
  _, value = net.apply(state.params, obs.reshape((3,) + spec.obs_shape))
  terminated = jnp.array([[False], [end == "terminated"]])
  traj = Transition(
      obs=obs[:2], action=action, reward=jnp.array([[1.0], [2.0]]),
      discount=1.0 - terminated.astype(jnp.float32), terminated=terminated,
      truncated=jnp.array([[False], [end == "truncated"]]),
      next_obs=obs[1:],
      extras=ppo.Extras(log_prob.reshape(2, 1), value[:2].reshape(2, 1)))

  v0, v1, v2 = (float(v) for v in value)
  r1 = 2.0 + (GAMMA * v2 if end == "truncated" else 0.0)
  r0 = 1.0 + GAMMA * r1
  returns_ = np.array([r0, r1], np.float32)
  adv = returns_ - np.array([v0, v1], np.float32)

  def hand_loss(params):
    pol, val = net.apply(params, obs[:2].reshape((2,) + spec.obs_shape))
    dist = haikurl.networks.distribution(pol)
    lp = dist.log_prob(action.reshape((2,) + spec.action_shape))
    pg = -(lp[0] * adv[0] + lp[1] * adv[1]) / 2
    vl = 0.5 * ((val[0] - r0) ** 2 + (val[1] - r1) ** 2) / 2
    return pg + hp.value_coef * vl - hp.entropy_coef * jnp.mean(
        dist.entropy()), vl

  batch = ppo.make_batch(state.params, traj, hp, net=net, spec=spec,
                         advantage_fn=ppo.gae)
  np.testing.assert_allclose(batch.target, returns_, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(batch.advantage, adv, rtol=1e-5, atol=1e-6)
  loss_args = dict(net=net, settings=settings,
                   policy_loss=a2c.policy_gradient,
                   value_loss=ppo.squared_value_loss)
  (total, metrics), grads = jax.value_and_grad(ppo.loss_fn, has_aux=True)(
      state.params, batch, hp, **loss_args)
  (hand_total, hand_value), hand_grads = jax.value_and_grad(
      hand_loss, has_aux=True)(state.params)
  # log(pi / pi_old) is 0 at the rollout's parameters: the policy term's
  # value is 0, its gradient that of -mean(log pi * A).
  np.testing.assert_allclose(metrics["loss/policy"], 0.0, atol=1e-5)
  np.testing.assert_allclose(metrics["loss/value"], hand_value, rtol=1e-5)
  pg_hand = -float(np.mean(np.asarray(log_prob) * adv))
  np.testing.assert_allclose(total, hand_total - pg_hand, rtol=1e-4,
                             atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-6),
               grads, hand_grads)
  # learn takes exactly one gradient step on that batch.
  new_state, learn_metrics = jax.jit(agent.learn)(state, traj,
                                                  jax.random.key(2), hp)
  assert int(new_state.num_updates) == 1
  assert float(learn_metrics["train/gradient_steps"]) == 1.0
  np.testing.assert_allclose(learn_metrics["loss/value"], hand_value,
                             rtol=1e-5)


def probe_run(env, iterations, **overrides):
  config = testing.tiny(a2c_config.get_config("CartPole-v1"), env=env,
                        num_envs=16, rollout_length=8, hidden=16,
                        iterations=iterations, discount=GAMMA, **overrides)
  train, state, _ = testing.run(config)
  return train, state


def critic_values(train, state, observations):
  obs = jnp.asarray(observations, jnp.float32)
  net = ppo.make_network(train.settings, train.env.spec)
  _, value = net.apply(state.agent_state.params, obs)
  return np.asarray(value)


@pytest.mark.parametrize("env", ["probe:two_step", "probe:two_step_continuous"])
def test_probe_two_step_value(env):
  # V(s0) = gamma, V(s1) = 1: the 2-step return reaches s0 through V(s1)
  # (an n-step return that dropped the bootstrap or the discount misses).
  train, state = probe_run(env, iterations=150, learning_rate=3e-3)
  value = critic_values(train, state, [[1, 0, 0], [0, 1, 0]])
  np.testing.assert_allclose(value, [GAMMA, 1.0], atol=0.08)


def test_bad_config_is_one_line_value_error():
  cfg = a2c_config.get_config("CartPole-v1")
  cfg.agent.num_minibatches = 3          # does not divide 8 * 8 = 64
  with pytest.raises(ValueError, match=r"num_minibatches=3 must divide.*64"):
    haikurl.make_train(cfg)
  cfg = a2c_config.get_config("CartPole-v1")
  cfg.agent.optimizer = "sgd"
  with pytest.raises(ValueError, match="optimizer") as info:
    haikurl.make_train(cfg)
  assert "\n" not in str(info.value)


@pytest.mark.slow
def test_cartpole_preset_learns():
  returns_ = presets.eval_returns(a2c_config.get_config("CartPole-v1"))
  assert returns_[:, -1].mean() >= 450, returns_
