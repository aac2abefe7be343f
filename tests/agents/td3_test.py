"""TD3 and DDPG: the target, the delayed and Polyak updates, learning."""
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import ddpg
from agents import td3
from configs import ddpg as ddpg_config
from configs import td3 as td3_config
from haikurl import envs
from haikurl import testing
from tests import presets


def small_settings(**overrides):
  """TD3 settings where one learn call is exactly one gradient step."""
  values = dict(num_envs=2, rollout_length=2, buffer_size=64, batch_size=4,
                learning_starts=0, replay_ratio=0.25,  # 2 * 2 * 0.25 = 1
                actor_hidden_sizes=(8,), critic_hidden_sizes=(8,),
                activation="relu", twin_critics=True,
                target_policy_smoothing=True, policy_delay=2,
                total_env_steps=1000)
  values.update(overrides)
  return td3.Settings(**values)


def default_hparams(module=td3, **overrides):
  values = dict(actor_learning_rate=1e-2, critic_learning_rate=1e-2,
                discount=0.99, tau=0.25, exploration_noise=0.1,
                target_noise=0.2, target_noise_clip=0.5)
  values.update(overrides)
  return module.HParams(**{f: jnp.float32(values[f])
                           for f in module.HParams._fields})


def random_trajectory(spec, key, t=2, b=2):
  keys = jax.random.split(key, 4)
  obs = jax.random.normal(keys[0], (t, b) + spec.obs_shape)
  return haikurl.Transition(
      obs=obs,
      action=jax.random.uniform(keys[1], (t, b) + spec.action_shape,
                                minval=-1, maxval=1),
      reward=jax.random.normal(keys[2], (t, b)),
      discount=jnp.ones((t, b)), terminated=jnp.zeros((t, b), bool),
      truncated=jnp.zeros((t, b), bool),
      next_obs=obs + 0.1 * jax.random.normal(keys[3], obs.shape), extras=())


@pytest.fixture(scope="module")
def pendulum_spec():
  return envs.make("gymnax:Pendulum-v1", 1).spec


class TargetTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_smoothing_noise_is_clipped_then_the_action(self):
    # mu = [0.9, -0.2, 0.0], noise = [0.5, -0.8, 0.1], c = 0.3:
    # clip(noise) = [0.3, -0.3, 0.1]; mu + that = [1.2, -0.5, 0.1];
    # clipped to [-1, 1]: [1.0, -0.5, 0.1].
    a = self.variant(td3.smoothed_target_action)(
        jnp.array([0.9, -0.2, 0.0]), jnp.array([0.5, -0.8, 0.1]), 0.3)
    np.testing.assert_allclose(a, [1.0, -0.5, 0.1], rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_target_takes_the_minimum_of_the_twins(self):
    # r = 1, gamma * d = 0.5, twins (3, 2): 1 + 0.5 * min(3, 2) = 2.0.
    target = self.variant(td3.critic_target)(
        jnp.float32(1.0), jnp.float32(0.5), jnp.array([3.0, 2.0]))
    np.testing.assert_allclose(target, 2.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_termination_stops_bootstrapping(self):
    # gamma * d = 0 at a termination: the target is the reward, -1.5.
    target = self.variant(td3.critic_target)(
        jnp.float32(-1.5), jnp.float32(0.0), jnp.array([3.0, 2.0]))
    np.testing.assert_allclose(target, -1.5)


def _changed(a, b):
  return any(not np.allclose(x, y) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("policy_delay", [1, 2, 3])
def test_actor_and_targets_move_every_policy_delay_by_polyak_rate(
    pendulum_spec, policy_delay):
  spec = pendulum_spec
  agent = td3.make(small_settings(policy_delay=policy_delay), spec)
  hp = default_hparams(tau=0.25)
  state = agent.init(jax.random.key(0), hp)
  learn = jax.jit(agent.learn)
  for step in range(1, 2 * policy_delay + 1):
    previous = state
    state, metrics = learn(state, random_trajectory(spec, jax.random.key(step)),
                           jax.random.key(100 + step), hp)
    assert int(state.num_updates) == step
    assert float(metrics["train/gradient_steps"]) == 1.0
    assert _changed(state.critic, previous.critic)
    delayed = step % policy_delay == 0
    assert _changed(state.actor, previous.actor) == delayed
    if delayed:
      # target <- 0.25 * online + 0.75 * target, online after this step.
      for online, target, name in ((state.actor, previous.target_actor,
                                    "target_actor"),
                                   (state.critic, previous.target_critic,
                                    "target_critic")):
        expected = jax.tree.map(lambda o, t: 0.25 * o + 0.75 * t, online,
                                target)
        chex.assert_trees_all_close(getattr(state, name), expected,
                                    rtol=1e-6, atol=1e-7)
    else:
      chex.assert_trees_all_equal(state.target_actor, previous.target_actor)
      chex.assert_trees_all_equal(state.target_critic,
                                  previous.target_critic)


def test_no_update_before_learning_starts(pendulum_spec):
  agent = td3.make(small_settings(learning_starts=100), pendulum_spec)
  hp = default_hparams()
  state = agent.init(jax.random.key(0), hp)
  new, metrics = jax.jit(agent.learn)(
      state, random_trajectory(pendulum_spec, jax.random.key(1)),
      jax.random.key(2), hp)
  assert int(new.num_updates) == 0 and int(new.env_steps) == 4
  assert float(metrics["train/gradient_steps"]) == 0.0
  chex.assert_trees_all_equal(new.critic, state.critic)


def test_ddpg_has_one_critic_and_no_delay(pendulum_spec):
  settings = ddpg.Settings(**{
      k: v for k, v in dataclasses.asdict(small_settings()).items()
      if k not in ddpg.DDPG_SETTINGS})
  agent = ddpg.make(settings, pendulum_spec)
  hp = default_hparams(ddpg)
  state = agent.init(jax.random.key(0), hp)
  q = jax.tree.leaves(state.critic)
  assert len(q) == 4  # one critic: (w, b) of its hidden layer and its output
  new, _ = jax.jit(agent.learn)(
      state, random_trajectory(pendulum_spec, jax.random.key(1)),
      jax.random.key(2), hp)
  assert _changed(new.actor, state.actor)  # the first step moves the actor


@pytest.mark.parametrize("module", [td3, ddpg])
def test_discrete_actions_are_refused_with_a_hint(module):
  spec = envs.make("gymnax:CartPole-v1", 1).spec
  with pytest.raises(ValueError, match="use SAC.*or DQN"):
    module.validate(None, spec)


@pytest.mark.parametrize("name", td3_config.PRESETS)
@pytest.mark.parametrize("module", [td3_config, ddpg_config])
def test_presets_build_and_act(module, name):
  config = module.get_config(name)
  assert config.agent.name == module.__name__.split(".")[-1]
  presets.check_builds_and_acts(config)


def pendulum_config(module, **agent):
  """The Pendulum-v1 preset cut to about a minute of CPU for CI."""
  c = module.get_config("Pendulum-v1")
  c.agent.actor_hidden_sizes = c.agent.critic_hidden_sizes = (64, 64)
  c.agent.rollout_length = 8
  c.total_env_steps = 16_000
  c.eval_every = 4_000
  c.num_eval_episodes = 8
  for k, v in agent.items():
    c.agent[k] = v
  return c


@pytest.mark.slow
@pytest.mark.parametrize("module", [td3_config, ddpg_config])
def test_learns_pendulum(module):
  train = haikurl.make_train(pendulum_config(module))
  # Train is a frozen dataclass holding a ConfigDict: unhashable, so wrap it.
  _, metrics = jax.jit(lambda key: train(key))(jax.random.key(0))
  returns = np.asarray(metrics["eval/episode_return"])
  assert returns[-1] >= -250, returns


GAMMA = 0.9


def probe_run(module, env, iterations=100, **overrides):
  """TD3 or DDPG (`module`: configs.td3 / configs.ddpg) on the probe
  `env`: 8 envs x 4 steps x `iterations`, 16 gradient steps of 32 per
  learn call at rate 3e-3, gamma 0.9."""
  config = testing.tiny(
      module.get_config("Pendulum-v1"), env=env, num_envs=8,
      rollout_length=4, hidden=16, iterations=iterations, buffer_size=1024,
      batch_size=32, learning_starts=64, replay_ratio=0.5, tau=0.05,
      actor_learning_rate=3e-3, critic_learning_rate=3e-3, discount=GAMMA,
      exploration_noise=0.3, **overrides)
  train, state, _ = testing.run(config)
  return train, state


def probe_q(train, state, observations, actions=None):
  """The first critic's Q(o, a) [N] at the greedy (or given) actions, and
  the greedy actions."""
  obs = jnp.asarray(observations, jnp.float32)
  greedy = testing.greedy_actions(train, state, obs)
  settings = train.settings
  if train.agent_module is ddpg:       # DDPG's settings as the TD3 it builds
    settings = ddpg.td3_settings(settings)
  _, critic = td3.make_networks(settings, train.env.spec)
  q = critic.apply(state.agent_state.critic, obs,
                   greedy if actions is None else jnp.asarray(actions))
  return np.asarray(q[0]), np.asarray(greedy)


@pytest.mark.parametrize("module", [td3_config, ddpg_config])
def test_probe_two_step_values(module):
  # V(s0) = 0 + 0.9 * V(s1) = 0.9, V(s1) = 1, whatever the action.
  q, _ = probe_q(*probe_run(module, "probe:two_step_continuous"),
                 [[1, 0, 0], [0, 1, 0]])
  np.testing.assert_allclose(q, [GAMMA, 1.0], atol=0.1)


@pytest.mark.parametrize("module", [td3_config, ddpg_config])
def test_probe_action_reward_greedy_action_and_q(module):
  # Q(s, a) = 1 - (a - 0.5)^2: the actor climbs the critic to a = 0.5,
  # where Q = 1; at a = -0.5, Q = 0.
  train, state = probe_run(module, "probe:action_reward_continuous")
  q, greedy = probe_q(train, state, [[1.0]])
  np.testing.assert_allclose(greedy, [[testing.BEST_CONTINUOUS_ACTION]],
                             atol=0.15)
  np.testing.assert_allclose(q, [1.0], atol=0.1)
  q_bad, _ = probe_q(train, state, [[1.0]], actions=[[-0.5]])
  np.testing.assert_allclose(q_bad, [0.0], atol=0.2)
