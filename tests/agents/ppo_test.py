"""PPO: one learn step's invariants, discrete and continuous."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import config_dict

import haikurl
from agents import ppo
from configs import ppo as ppo_config
from haikurl import settings as settings_lib
from haikurl import envs
from haikurl import testing
from haikurl.types import Transition


def make_agent(env_name, **overrides):
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.env = env_name
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches = 2
  for k, v in overrides.items():
    cfg.agent[k] = v
  settings, hp = settings_lib.split(cfg.agent, ppo, total_env_steps=1024)
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
    settings_lib.split(cfg.agent, ppo, total_env_steps=1)


def test_a_custom_policy_loss_replaces_the_clipped_surrogate():
  env, default_agent, hp = make_agent("gymnax:CartPole-v1")
  state = default_agent.init(jax.random.key(0), hp)
  traj = collect(env, default_agent, state, hp)
  settings, _ = settings_lib.split(_small_agent_config(), ppo,
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


GAMMA = 0.9


def probe_run(env, iterations=40, **overrides):
  """PPO trained on the probe `env`: 8 envs x 8 steps x `iterations`, 4
  epochs of 2 minibatches, gamma 0.9. Returns (train, final state)."""
  config = testing.tiny(ppo_config.get_config("CartPole-v1"), env=env,
                        num_envs=8, rollout_length=8, hidden=16,
                        iterations=iterations, num_epochs=4,
                        discount=GAMMA, **overrides)
  train, state, _ = testing.run(config)
  return train, state


def probe_values(train, state, observations):
  """The critic's V(o) [N] and the greedy actions on `observations`."""
  obs = jnp.asarray(observations, jnp.float32)
  _, value = ppo.make_network(train.settings, train.env.spec).apply(
      state.agent_state.params, obs)
  return np.asarray(value), np.asarray(testing.greedy_actions(train, state,
                                                              obs))


def test_probe_two_step_value():
  # V(s0) = 0 + 0.9 * 1 = 0.9, V(s1) = 1 whatever the policy.
  value, _ = probe_values(*probe_run("probe:two_step"),
                          [[1, 0, 0], [0, 1, 0]])
  np.testing.assert_allclose(value, [GAMMA, 1.0], atol=0.1)


def test_probe_obs_reward_value():
  # V(+1) = +1, V(-1) = -1.
  value, _ = probe_values(*probe_run("probe:obs_reward"), [[1.0], [-1.0]])
  np.testing.assert_allclose(value, [1.0, -1.0], atol=0.1)


@pytest.mark.parametrize("env", ["probe:action_reward",
                                 "probe:action_reward_continuous"])
def test_probe_action_reward_greedy_action_and_value(env):
  # Discrete: action 1 earns +1, action 0 earns -1. Continuous: reward
  # 1 - (a - 0.5)^2, best a = 0.5. Once the policy is greedy-right its
  # value nears V* = 1 (the Gaussian's spread costs its variance).
  train, state = probe_run(env, iterations=200)
  value, greedy = probe_values(train, state, [[1.0]])
  if env.endswith("continuous"):
    np.testing.assert_allclose(greedy, [[testing.BEST_CONTINUOUS_ACTION]],
                               atol=0.15)
    assert value[0] > 0.8, value
  else:
    np.testing.assert_array_equal(greedy, [1])
    assert value[0] > 0.8, value


def test_probe_time_limit_gae_bootstraps_through_truncation():
  # Constant observation, reward 1, cut after 5 steps: V = 1 / (1 - 0.9)
  # = 10 when GAE bootstraps the truncated step from v(next_obs); on a copy
  # of the probe that reports the limit as a termination the same learner
  # must land between the Monte Carlo answer, 2.63, and TD(0)'s, 3.57 (its
  # lambda-returns mix the two). A GAE that cut at truncations would fail
  # the first assertion.
  probe = testing.TimeLimit(1)
  value, _ = probe_values(*probe_run("probe:time_limit", iterations=60),
                          [[1.0]])
  value_term, _ = probe_values(
      *probe_run("probe:time_limit", iterations=60,
                 env_kwargs=config_dict.ConfigDict(dict(as_termination=True))),
      [[1.0]])
  np.testing.assert_allclose(value, probe.value(jnp.ones((1, 1)), GAMMA),
                             rtol=0.12)
  assert (0.9 * probe.terminating_value(GAMMA, 1.0) < value_term[0] <
          1.1 * probe.terminating_value(GAMMA, 0.0)), value_term


def test_discount_wiring_termination_reaches_gae():
  # GAE as learn computes it, seen through the policy-loss hook (one epoch
  # of one minibatch, advantages not normalised: the hook sees every
  # advantage once), against a brute-force sum over a random trajectory
  # with terminations and truncations:
  #   delta_t = r_t + 0.9 * (0 if terminated_t else 1) * v(next_obs_t) - v_t
  #   A_t = sum_k (0.9 * 0.8)^k delta_{t+k}, up to and including the first
  #         step from t on that ended its episode (or the rollout's end).
  config = testing.tiny(ppo_config.get_config("CartPole-v1"), num_envs=4,
                        rollout_length=8, num_minibatches=1, num_epochs=1,
                        normalize_advantages=False, discount=0.9,
                        gae_lambda=0.8)
  settings, hp = haikurl.agent_settings(config)
  spec = haikurl.make_env(config).spec

  def mean_square_advantage(ratio, advantage, hp):
    del ratio, hp
    return jnp.mean(jnp.square(advantage))

  agent = ppo.make(settings, spec, policy_loss=mean_square_advantage)
  state = agent.init(jax.random.key(0), hp)
  extras = ppo.Extras(jax.ShapeDtypeStruct((), jnp.float32),
                      jax.ShapeDtypeStruct((), jnp.float32))
  traj = testing.random_trajectory(jax.random.key(1), spec, 8, 4, extras,
                                   termination_prob=0.2, truncation_prob=0.15)
  _, metrics = jax.jit(agent.learn)(state, traj, jax.random.key(2), hp)
  _, v_next = ppo.make_network(settings, spec).apply(
      state.params, traj.next_obs.reshape((32,) + spec.obs_shape))
  v_next = v_next.reshape(8, 4)
  traj, v_next = jax.device_get((traj, v_next))
  assert traj.terminated.any() and traj.truncated.any()

  def brute_force(discount_of):
    adv = np.zeros((8, 4))
    for b in range(4):
      delta = [traj.reward[t, b] + 0.9 * discount_of(t, b) * v_next[t, b]
               - traj.extras.value[t, b] for t in range(8)]
      for t in range(8):
        for k in range(t, 8):
          adv[t, b] += (0.9 * 0.8) ** (k - t) * delta[k]
          if traj.terminated[k, b] or traj.truncated[k, b]:
            break
    return np.mean(adv ** 2)

  right = brute_force(lambda t, b: 1.0 - traj.terminated[t, b])
  np.testing.assert_allclose(metrics["loss/policy"], right, rtol=1e-4)
  # A learner that bootstrapped through terminations would be far off.
  wrong = brute_force(lambda t, b: 1.0)
  assert abs(wrong - right) > 0.05 * right, (wrong, right)


def test_epochs_gathers_once_per_epoch_as_minibatch_by_minibatch():
  # The whole-epoch gather (default `take`) visits the same rows in the
  # same order as gathering every minibatch (any other `take`): bitwise the
  # same state; and each epoch visits every sample exactly once.
  batch = {"x": jnp.arange(12), "y": jnp.arange(24.0).reshape(12, 2)}

  def step(state, minibatch):
    # Order-sensitive: the total depends on which rows came in which order.
    total, counts = state
    total = 1.5 * total + jnp.sum(minibatch["y"][:, 0])
    counts = counts.at[minibatch["x"]].add(1)
    return (total, counts), {"total": total}

  start = (jnp.float32(0), jnp.zeros(12, jnp.int32))
  key = jax.random.key(0)
  once = jax.jit(lambda k: ppo.epochs(step, start, batch, k, 2, 3))(key)
  each = jax.jit(lambda k: ppo.epochs(
      step, start, batch, k, 2, 3,
      take=lambda b, idx: ppo.take_rows(b, idx)))(key)
  chex.assert_trees_all_equal(once, each)
  np.testing.assert_array_equal(once[0][1], np.full(12, 2))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 256, 1000, 4096, 4097])
def test_shuffle_is_a_permutation_on_both_paths(n):
  # Packed keys up to PACKED_SHUFFLE_MAX items, argsort beyond: every index
  # exactly once, and the same key gives the same permutation.
  order = np.asarray(ppo.shuffle(jax.random.key(n), n))
  assert order.dtype == np.int32
  np.testing.assert_array_equal(np.sort(order), np.arange(n))
  np.testing.assert_array_equal(order, ppo.shuffle(jax.random.key(n), n))


@pytest.mark.parametrize("n", [3, 4])
def test_shuffle_is_uniform_over_small_permutations(n):
  # 24,000 shuffles: each of the n! orders about equally often (a chi-square
  # test at p = 0.001 over n! - 1 degrees of freedom: 13.8 for 3 items,
  # 49.7 for 4); an order biased by the packed indices fails it.
  samples = 24_000
  orders = np.asarray(jax.vmap(lambda k: ppo.shuffle(k, n))(
      jax.random.split(jax.random.key(1), samples)))
  codes = orders @ (n ** np.arange(n))
  _, counts = np.unique(codes, return_counts=True)
  assert len(counts) == np.prod(np.arange(1, n + 1))
  expected = samples / len(counts)
  chi2 = np.sum((counts - expected) ** 2 / expected)
  assert chi2 < {3: 13.8, 4: 49.7}[n], counts


def test_shuffle_breaks_ties_of_the_random_bits_fairly(monkeypatch):
  # Random bits that all tie (every item's high bits zero; only the last
  # word, the mask, random): the masked indices order the two items, each
  # first in about half of 4,000 shuffles. Ordered by index alone, item 0
  # would always come first.
  real_bits = jax.random.bits

  def tied_bits(key, shape, dtype):
    words = real_bits(key, shape, dtype)
    return words.at[:-1].set(0)

  monkeypatch.setattr(ppo.jax.random, "bits", tied_bits)
  orders = np.asarray(jax.vmap(lambda k: ppo.shuffle(k, 2))(
      jax.random.split(jax.random.key(2), 4000)))
  np.testing.assert_array_equal(np.sort(orders, axis=1),
                                np.tile([0, 1], (4000, 1)))
  assert 0.45 < np.mean(orders[:, 0] == 0) < 0.55
