"""SAC: the tanh-Gaussian log-probability, the temperature loss, the Polyak
step, discrete SAC's shapes, and learning (Pendulum, CartPole)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtr  # float64, independent of jax

import haikurl
from agents import sac
from configs import sac as sac_config
from haikurl import envs
from haikurl import networks
from haikurl import testing
from tests import presets


def small_settings(**overrides):
  """Settings where one learn call is exactly one gradient step."""
  values = dict(num_envs=2, rollout_length=2, buffer_size=64, batch_size=4,
                learning_starts=0, replay_ratio=0.25,  # 2 * 2 * 0.25 = 1
                actor_hidden_sizes=(8,), critic_hidden_sizes=(8,),
                activation="relu", total_env_steps=1000)
  values.update(overrides)
  return sac.Settings(**values)


def default_hparams(**overrides):
  values = dict(actor_learning_rate=1e-2, critic_learning_rate=1e-2,
                alpha_learning_rate=1e-2, discount=0.99, tau=0.25,
                initial_alpha=0.5, target_entropy_ratio=1.0)
  values.update(overrides)
  return sac.HParams(**{f: jnp.float32(values[f]) for f in sac.HParams._fields})


def random_trajectory(spec, key, t=2, b=2):
  keys = jax.random.split(key, 4)
  obs = jax.random.normal(keys[0], (t, b) + spec.obs_shape)
  if spec.discrete:
    action = jax.random.randint(keys[1], (t, b), 0, spec.num_actions)
  else:
    action = jax.random.uniform(keys[1], (t, b) + spec.action_shape,
                                minval=-1, maxval=1)
  return haikurl.Transition(
      obs=obs, action=action, reward=jax.random.normal(keys[2], (t, b)),
      discount=jnp.ones((t, b)), terminated=jnp.zeros((t, b), bool),
      truncated=jnp.zeros((t, b), bool),
      next_obs=obs + 0.1 * jax.random.normal(keys[3], obs.shape), extras=())


class TanhGaussianTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_log_prob_matches_numerical_change_of_variables(self):
    # y = tanh(x), x ~ N(mu, sigma^2) per dimension, independent. The density
    # of y is the probability of a small box around y divided by its width:
    #   p(y_i) ~ [Phi((atanh(y_i + h) - mu_i) / s_i)
    #             - Phi((atanh(y_i - h) - mu_i) / s_i)] / (2 h),
    # which uses no Jacobian formula at all.
    mean = jnp.array([[0.3, -1.2], [2.0, 0.0]])
    log_std = jnp.array([[-0.5, 0.2], [0.1, -1.0]])
    policy = networks.TanhGaussianPolicy(mean, log_std)

    def sample(key):
      return networks.tanh_gaussian(policy).sample_and_log_prob(seed=key)
    y, log_prob = self.variant(sample)(jax.random.key(0))         # [2, 2], [2]

    y64 = np.asarray(y, np.float64)
    mu = np.asarray(mean, np.float64)
    sigma = np.exp(np.asarray(log_std, np.float64))
    h = 1e-6 * (1.0 - np.abs(y64))    # a box that stays inside (-1, 1)
    upper = np.arctanh(y64 + h)
    lower = np.arctanh(y64 - h)
    mass = ndtr((upper - mu) / sigma) - ndtr((lower - mu) / sigma)
    numerical = np.sum(np.log(mass / (2 * h)), axis=-1)
    np.testing.assert_allclose(log_prob, numerical, rtol=2e-3, atol=2e-3)

  def test_log_prob_equals_gaussian_minus_log_abs_jacobian(self):
    # log p(y) = log N(x; mu, s) - log |det d tanh(x) / dx|, with the
    # Jacobian computed by autodiff: a second, exact check.
    mean, log_std = jnp.array([0.5, -0.3, 1.5]), jnp.array([0.0, -0.7, 0.4])
    dist = networks.tanh_gaussian(networks.TanhGaussianPolicy(mean, log_std))
    y, log_prob = dist.sample_and_log_prob(seed=jax.random.key(1))
    x = jnp.arctanh(y)
    gauss = jnp.sum(jax.scipy.stats.norm.logpdf(x, mean, jnp.exp(log_std)))
    _, logdet = jnp.linalg.slogdet(jax.jacfwd(jnp.tanh)(x))
    np.testing.assert_allclose(log_prob, gauss - logdet, rtol=1e-4)

  def test_samples_stay_in_the_unit_box(self):
    dist = networks.tanh_gaussian(networks.TanhGaussianPolicy(
        jnp.full((1000, 2), 3.0), jnp.full((1000, 2), 1.0)))
    y = dist.sample(seed=jax.random.key(2))
    assert np.all(np.abs(np.asarray(y)) <= 1.0)


class TemperatureTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_alpha_falls_when_the_entropy_is_above_target(self):
    # log pi = [-0.5, -1.5]: entropy estimate 1.0 > target 0.5.
    # loss = -log_alpha * mean(log pi + target) = -log 2 * (-1 + 0.5)
    #      = 0.5 * log 2 = 0.34657; d loss / d log_alpha = 0.5 > 0, so a
    # gradient step lowers alpha.
    loss, grad = self.variant(jax.value_and_grad(sac.temperature_loss))(
        jnp.log(2.0), jnp.array([-0.5, -1.5]), 0.5)
    np.testing.assert_allclose(loss, 0.5 * np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(grad, 0.5, rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_alpha_rises_when_the_entropy_is_below_target(self):
    # Same log pi (entropy 1.0), target 2.0: gradient -(-1 + 2) = -1 < 0.
    grad = self.variant(jax.grad(sac.temperature_loss))(
        jnp.log(2.0), jnp.array([-0.5, -1.5]), 2.0)
    np.testing.assert_allclose(grad, -1.0, rtol=1e-6)

  def test_no_gradient_flows_into_the_log_probabilities(self):
    grad = jax.grad(sac.temperature_loss, argnums=1)(
        jnp.float32(0.3), jnp.array([-0.5, -1.5]), 2.0)
    np.testing.assert_allclose(grad, 0.0)

  def test_target_entropy(self):
    cont = envs.make("gymnax:Pendulum-v1", 1).spec       # 1 action dim
    disc = envs.make("gymnax:CartPole-v1", 1).spec       # 2 actions
    np.testing.assert_allclose(sac.target_entropy(cont, 1.0), -1.0)
    # 0.5 * log 2 = 0.34657
    np.testing.assert_allclose(sac.target_entropy(disc, 0.5), 0.5 * np.log(2),
                               rtol=1e-6)


@pytest.mark.parametrize("env_name", ["gymnax:Pendulum-v1",
                                      "gymnax:CartPole-v1"])
def test_one_learn_step_moves_targets_by_the_polyak_rate(env_name):
  spec = envs.make(env_name, 1).spec
  agent = sac.make(small_settings(), spec)
  hp = default_hparams(tau=0.25)
  state = agent.init(jax.random.key(0), hp)
  np.testing.assert_allclose(jnp.exp(state.log_alpha), 0.5, rtol=1e-6)
  new, metrics = jax.jit(agent.learn)(
      state, random_trajectory(spec, jax.random.key(1)), jax.random.key(2), hp)
  assert int(new.num_updates) == 1
  for name in ("actor", "critic", "log_alpha"):
    assert not np.allclose(jax.tree.leaves(getattr(new, name))[0],
                           jax.tree.leaves(getattr(state, name))[0]), name
  # target <- 0.25 * online (after the step) + 0.75 * target (before).
  expected = jax.tree.map(lambda o, t: 0.25 * o + 0.75 * t, new.critic,
                          state.target_critic)
  chex.assert_trees_all_close(new.target_critic, expected, rtol=1e-6,
                              atol=1e-7)
  for value in metrics.values():
    assert np.isfinite(value)


def test_discrete_act_returns_valid_actions():
  spec = envs.make("gymnax:CartPole-v1", 1).spec
  agent = sac.make(small_settings(learning_starts=0), spec)
  hp = default_hparams()
  state = agent.init(jax.random.key(0), hp)
  obs = jnp.zeros((5,) + spec.obs_shape)
  for evaluation in (False, True):
    action, _ = agent.act(state, obs, jax.random.key(1), hp, evaluation)
    assert action.shape == (5,) and jnp.issubdtype(action.dtype, jnp.integer)
    assert np.all((np.asarray(action) >= 0) & (np.asarray(action) < 2))


@pytest.mark.parametrize("name", sac_config.PRESETS)
def test_presets_build_and_act(name):
  config = sac_config.get_config(name)
  assert config.agent.name == "sac"
  presets.check_builds_and_acts(config)


def _final_eval(config):
  train = haikurl.make_train(config)
  # Train is a frozen dataclass holding a ConfigDict: unhashable, so wrap it.
  _, metrics = jax.jit(lambda key: train(key))(jax.random.key(0))
  return np.asarray(metrics["eval/episode_return"])


@pytest.mark.slow
def test_learns_pendulum():
  c = sac_config.get_config("Pendulum-v1")
  c.agent.actor_hidden_sizes = c.agent.critic_hidden_sizes = (64, 64)
  c.agent.rollout_length = 8
  c.total_env_steps = 12_000
  c.eval_every = 4_000
  c.num_eval_episodes = 8
  returns = _final_eval(c)
  assert returns[-1] >= -250, returns


@pytest.mark.slow
def test_discrete_sac_learns_cartpole():
  # The preset with key 0 (the CLI's 4 seeds ended at 485-500): this key's
  # greedy return climbs from 236 to 402 at 24k steps and ends at 393
  # (mean of the last three 378); a random policy scores about 22.
  c = sac_config.get_config("CartPole-v1")
  returns = _final_eval(c)
  assert returns.max() >= 400, returns
  assert returns[-3:].mean() >= 300, returns


GAMMA = 0.9


def probe_run(env, iterations=50, **overrides):
  """SAC on the probe `env`: 8 envs x 4 steps x `iterations`, 8 gradient
  steps of 32 per learn call, gamma 0.9, the temperature held near 0.01
  (so soft values are within 0.01 * entropy of the closed-form ones)."""
  config = testing.tiny(
      sac_config.get_config("Pendulum-v1"), env=env, num_envs=8,
      rollout_length=4, hidden=16, iterations=iterations, buffer_size=1024,
      batch_size=32, learning_starts=64, replay_ratio=0.25, tau=0.05,
      discount=GAMMA, initial_alpha=0.01, alpha_learning_rate=1e-8,
      **overrides)
  train, state, _ = testing.run(config)
  return train, state


def probe_q(train, state, observations, actions=None):
  """min over the twin critics of Q(o, a) [N] (continuous) or Q(o, .)
  [N, A] (discrete), and the greedy actions."""
  obs = jnp.asarray(observations, jnp.float32)
  greedy = testing.greedy_actions(train, state, obs)
  _, critic = sac.make_networks(train.settings, train.env.spec)
  if train.env.spec.discrete:
    q = critic.apply(state.agent_state.critic, obs, None)
  else:
    q = critic.apply(state.agent_state.critic, obs,
                     greedy if actions is None else jnp.asarray(actions))
  return np.asarray(jnp.min(q, axis=0)), np.asarray(greedy)


@pytest.mark.parametrize("env", ["probe:two_step", "probe:two_step_continuous"])
def test_probe_two_step_values(env):
  # V(s0) = 0.9 * V(s1) = 0.9, V(s1) = 1: soft values with alpha 0.01 add
  # at most 0.01 * log 2 (discrete) per step.
  q, _ = probe_q(*probe_run(env), [[1, 0, 0], [0, 1, 0]])
  value = q.max(-1) if q.ndim == 2 else q
  np.testing.assert_allclose(value, [GAMMA, 1.0], atol=0.1)


@pytest.mark.parametrize("env", ["probe:action_reward",
                                 "probe:action_reward_continuous"])
def test_probe_action_reward(env):
  # Discrete: Q(s, 1) = +1, Q(s, 0) = -1, greedy 1. Continuous:
  # Q(s, a) = 1 - (a - 0.5)^2, greedy tanh(mean) near 0.5; Q(s, -0.5) = 0.
  train, state = probe_run(env)
  q, greedy = probe_q(train, state, [[1.0]])
  if train.env.spec.discrete:
    np.testing.assert_allclose(q[0], [-1.0, 1.0], atol=0.2)
    np.testing.assert_array_equal(greedy, [1])
  else:
    np.testing.assert_allclose(greedy, [[testing.BEST_CONTINUOUS_ACTION]],
                               atol=0.15)
    np.testing.assert_allclose(q, [1.0], atol=0.1)
    q_bad, _ = probe_q(train, state, [[1.0]], actions=[[-0.5]])
    np.testing.assert_allclose(q_bad, [0.0], atol=0.2)
