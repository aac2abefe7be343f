"""PQN: Q(lambda) targets as learn computes them, probes, bad configs, and
(slow) CartPole."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import config_dict

import haikurl
from agents import pqn
from configs import pqn as pqn_config
from haikurl import envs
from haikurl import settings as settings_lib
from haikurl import testing
from tests import presets
from tests.haikurl.returns_lambda_test import brute_force

GAMMA = 0.9


def test_learn_regresses_on_q_lambda_targets_with_both_episode_ends():
  # learn's targets, seen through the target hook, against the forward-view
  # brute force of tests/haikurl/returns_lambda_test.py with
  # v_t = max_a Q(next_obs_t, a) under the rollout's parameters, on a random
  # rollout whose columns end episodes by termination and by truncation;
  # the rewards enter multiplied by hp.reward_scale.
  cfg = pqn_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 16
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 2, 1
  settings, hp = settings_lib.split(cfg.agent, pqn, total_env_steps=1024)
  hp = hp._replace(discount=np.float32(GAMMA), q_lambda=np.float32(0.7),
                   reward_scale=np.float32(0.5))
  spec = envs.make("gymnax:CartPole-v1", 1).spec
  seen = {}

  def recording_targets(trajectory, q_t, hp):
    seen["q_t"] = q_t
    seen["targets"] = pqn.q_lambda_targets(trajectory, q_t, hp)
    return seen["targets"]

  agent = pqn.make(settings, spec, target_fn=recording_targets)
  state = agent.init(jax.random.key(0), hp)
  traj = testing.random_trajectory(jax.random.key(1), spec, 16, 4,
                                   termination_prob=0.15,
                                   truncation_prob=0.15)
  assert bool(traj.terminated.any()) and bool(traj.truncated.any())
  new_state, metrics = agent.learn(state, traj, jax.random.key(2), hp)
  net = pqn.make_network(settings, spec)
  q_t = net.apply(state.params, traj.next_obs.reshape(64, -1)).q_values
  np.testing.assert_allclose(seen["q_t"], q_t.reshape(16, 4, 2), rtol=1e-5)
  v = np.asarray(q_t.max(axis=-1)).reshape(16, 4)
  for b in range(4):
    np.testing.assert_allclose(
        seen["targets"][:, b],
        brute_force(0.5 * np.asarray(traj.reward[:, b]),
                    np.asarray(traj.terminated[:, b]),
                    np.asarray(traj.truncated[:, b]), v[:, b], GAMMA, 0.7),
        rtol=1e-4, atol=1e-5)
  assert int(new_state.num_updates) == 2
  assert int(new_state.env_steps) == 64
  np.testing.assert_allclose(metrics["train/target_mean"],
                             np.mean(seen["targets"]), rtol=1e-5)


def probe_run(env, iterations, **overrides):
  config = testing.tiny(pqn_config.get_config("CartPole-v1"), env=env,
                        num_envs=16, rollout_length=8, hidden=16,
                        iterations=iterations, num_epochs=2,
                        discount=GAMMA, reward_scale=1.0, **overrides)
  train, state, _ = testing.run(config)
  return train, state


def q_values(train, state, observations):
  net = pqn.make_network(train.settings, train.env.spec)
  return np.asarray(net.apply(state.agent_state.params,
                              jnp.asarray(observations, jnp.float32)).q_values)


def test_probe_two_step_q_values():
  # Q(s1, .) = 1 and Q(s0, .) = gamma for both actions: the Q(lambda)
  # target reaches s0 through max Q(s1) discounted once.
  train, state = probe_run("probe:two_step", iterations=100,
                           learning_rate=3e-3)
  q = q_values(train, state, [[1, 0, 0], [0, 1, 0]])
  np.testing.assert_allclose(q, [[GAMMA, GAMMA], [1.0, 1.0]], atol=0.08)


def test_probe_time_limit_bootstraps_through_truncation():
  # Constant observation, reward 1, cut by a time limit after 5 steps:
  # max_a Q = 1 / (1 - gamma) = 10 when the target bootstraps at the
  # truncation; a learner that ends the return there learns at most 3.57
  # (TD(0)'s answer for the probe that reports a termination). The max, as
  # the targets use it: the other action is rarely taken once epsilon has
  # decayed, so its value lags.
  train, state = probe_run("probe:time_limit", iterations=150,
                           learning_rate=3e-3)
  q = q_values(train, state, [[1.0]])
  np.testing.assert_allclose(q.max(), 10.0, rtol=0.1)
  probe = testing.TimeLimit(1)
  train, state = probe_run(
      "probe:time_limit", iterations=150, learning_rate=3e-3,
      env_kwargs=config_dict.ConfigDict(dict(as_termination=True)))
  q_term = q_values(train, state, [[1.0]])
  assert (0.9 * probe.terminating_value(GAMMA, 1.0) < q_term.max() <
          1.1 * probe.terminating_value(GAMMA, 0.0)), q_term


def test_bad_configs_are_one_line_value_errors():
  cfg = pqn_config.get_config("CartPole-v1")
  cfg.agent.num_minibatches = 3          # does not divide 32 * 64 = 2048
  with pytest.raises(ValueError, match=r"num_minibatches=3 must divide.*2048"):
    haikurl.make_train(cfg)
  cfg = pqn_config.get_config("CartPole-v1")
  cfg.env = "gymnax:Pendulum-v1"
  with pytest.raises(ValueError, match="PQN needs discrete actions") as info:
    haikurl.make_train(cfg)
  assert "\n" not in str(info.value)


@pytest.mark.slow
def test_cartpole_preset_learns():
  # purejaxql's preset, its reward scale of 0.1 included: over the last
  # quarter (4 evaluations) every seed reaches 475 and the mean over seeds
  # and evaluations is at least 450 (measured, 4 seeds: 500 on every seed at
  # the end, means 466, 469, 500, 500; these 2 seeds, at the suite's LLVM
  # level 1: 500 at all 8). Without the reward scale one seed of four fell
  # from 500 to 42-130 over the last quarter (a mean of 407.5 at the end),
  # which fails both. Two seeds, not four: the preset's 524k steps of a
  # 256-256 network are the suite's longest run (89 s with 4 seeds).
  returns_ = presets.eval_returns(pqn_config.get_config("CartPole-v1"),
                                  num_seeds=2)
  last = returns_[:, -4:]
  assert last.max(axis=1).min() >= 475, returns_
  assert last.mean() >= 450, returns_
