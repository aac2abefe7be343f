"""Metrics averaged over what happened: learn metrics over the learn calls
that learned; observation statistics over every observation acted on."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

import haikurl
from configs import sac as sac_config
from haikurl import loop
from haikurl.envs import gymnax_env
from haikurl.envs import wrappers


def test_period_learn_metrics_average_over_calls_that_learned():
  # Four learn calls; calls 2 and 4 took 2 gradient steps each:
  # loss = (2 + 4) / 2 = 3 (not (0 + 2 + 0 + 4) / 4 = 1.5); 4 steps in all.
  stacked = {"loss/td": jnp.array([0.0, 2.0, 0.0, 4.0]),
             "train/gradient_steps": jnp.array([0.0, 2.0, 0.0, 2.0])}
  out = jax.jit(loop.period_learn_metrics)(stacked)
  np.testing.assert_allclose(out["loss/td"], 3.0)
  np.testing.assert_allclose(out["train/gradient_steps"], 4.0)
  # No call learned: NaN, not 0; zero gradient steps.
  none = loop.period_learn_metrics(jax.tree.map(jnp.zeros_like, stacked))
  assert np.isnan(none["loss/td"])
  np.testing.assert_allclose(none["train/gradient_steps"], 0.0)
  # The older name: train/updates = [1, 0, 1]: alpha = (0.5 + 1.5) / 2 = 1.
  out = loop.period_learn_metrics(
      {"train/alpha": jnp.array([0.5, 0.0, 1.5]),
       "train/updates": jnp.array([1.0, 0.0, 1.0])})
  np.testing.assert_allclose(out["train/alpha"], 1.0)
  np.testing.assert_allclose(out["train/updates"], 2.0)
  # No counter: the plain mean, (1 + 2 + 6) / 3 = 3.
  out = loop.period_learn_metrics({"loss/total": jnp.array([1.0, 2.0, 6.0])})
  np.testing.assert_allclose(out["loss/total"], 3.0)
  assert all(v.dtype == jnp.float32 for v in out.values())


def _sac(eval_every):
  c = sac_config.get_config("Pendulum-v1")
  a = c.agent
  a.num_envs, a.rollout_length = 2, 4
  a.actor_hidden_sizes = a.critic_hidden_sizes = (8, 8)
  a.buffer_size, a.batch_size, a.learning_starts = 64, 8, 20
  a.replay_ratio = 1 / 8             # one gradient step per learn call
  c.eval_every = eval_every
  c.total_env_steps = 64
  return c


def test_sac_period_metrics_are_means_over_the_calls_that_learned():
  # 8 env steps per call, learning_starts 20: calls 1-2 (8, 16 steps) do not
  # learn, calls 3-8 do. Evaluating after every call gives each call's
  # metrics (training does not depend on eval_every); a period of 4 calls
  # must report the mean over its learning calls and the count of them.
  key = jax.random.key(0)
  per_call = jax.device_get(jax.jit(
      haikurl.make_train(_sac(8), callbacks={}))(key)[1])
  period = jax.device_get(jax.jit(
      haikurl.make_train(_sac(32), callbacks={}))(key)[1])
  np.testing.assert_array_equal(per_call["train/gradient_steps"], [0, 0] + [1] * 6)
  np.testing.assert_array_equal(period["train/gradient_steps"], [2, 4])
  assert np.isnan(per_call["train/alpha"][0])     # no call learned
  for name in ("train/alpha", "loss/critic", "loss/actor", "train/q"):
    values = per_call[name].reshape(2, 4)
    np.testing.assert_allclose(period[name], np.nanmean(values, axis=1),
                               rtol=1e-5, err_msg=name)
  # The first period's alpha is that of two updates from 1.0, not half of it.
  assert period["train/alpha"][0] > 0.9


@struct.dataclass
class CounterState(environment.EnvState):
  pass


class Counter(environment.Environment):
  """Observation [t], t = steps into the episode; the episode ends at t = 3."""

  @property
  def default_params(self):
    return environment.EnvParams(max_steps_in_episode=100)

  def step_env(self, key, state, action, params):
    time = state.time + 1
    obs = jnp.asarray([time], jnp.float32)
    return obs, CounterState(time), jnp.float32(0.0), time >= 3, {}

  def reset_env(self, key, params):
    return jnp.zeros((1,), jnp.float32), CounterState(0)

  def action_space(self, params=None):
    return spaces.Discrete(2)


def test_normalisation_statistics_count_every_observation_acted_on():
  # One env, reset then 4 steps. Observations acted on: 0 (reset), 1, 2,
  # then the episode ends at t = 3 (final observation 3, never acted on) and
  # the next episode starts at 0, then 1. Mean = (0 + 1 + 2 + 0 + 1) / 5 =
  # 0.8; var = (0 + 1 + 4 + 0 + 1) / 5 - 0.8^2 = 1.2 - 0.64 = 0.56; count 5
  # (plus the prior's 1e-4 at mean 0, var 1).
  env = wrappers.NormalizeObservation(
      gymnax_env.GymnaxEnv("Counter", 1, environment=Counter()))
  state, ts = env.reset(jax.random.key(0))
  for t in range(4):
    state, ts = env.step(state, jnp.zeros((1,), jnp.int32), jax.random.key(t))
  stats = state.stats
  np.testing.assert_allclose(stats.count, 5.0, atol=1e-3)
  np.testing.assert_allclose(stats.mean, [0.8], atol=1e-4)
  np.testing.assert_allclose(stats.var, [0.56], atol=1e-3)
