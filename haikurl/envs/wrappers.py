"""Pure wrappers over the Env contract: observation normalisation,
continuous action rescaling and sticky actions."""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from haikurl.envs.base import Env, Wrapper


class RunningStatistics(NamedTuple):
  """Running mean and variance of observations (parallel Welford update)."""
  mean: jax.Array   # [*obs_shape]
  var: jax.Array    # [*obs_shape]
  count: jax.Array  # [] float32


def init_statistics(obs_shape) -> RunningStatistics:
  return RunningStatistics(jnp.zeros(obs_shape, jnp.float32),
                           jnp.ones(obs_shape, jnp.float32),
                           jnp.asarray(1e-4, jnp.float32))


def update_statistics(stats: RunningStatistics,
                      batch: jax.Array) -> RunningStatistics:
  """Merges a batch [N, *obs_shape] into the statistics (Chan et al.)."""
  n = jnp.asarray(batch.shape[0], jnp.float32)
  batch_mean = jnp.mean(batch, axis=0)
  batch_var = jnp.var(batch, axis=0)
  delta = batch_mean - stats.mean
  total = stats.count + n
  mean = stats.mean + delta * n / total
  m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
  return RunningStatistics(mean, m2 / total, total)


def normalize(stats: RunningStatistics, obs: jax.Array, clip: float = 10.0):
  return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)


class NormalizeState(NamedTuple):
  inner: Any
  stats: RunningStatistics


class NormalizeObservation(Wrapper):
  """Normalises observations with running statistics kept in the env state.

  The statistics are those of every observation an agent acts on: the
  first observation of every episode (at `reset` and after each auto-reset)
  and every later one; an episode's final observation (`next_observation`
  at its end) is normalised but not counted.

  With `update=False` (evaluation) the statistics stay as loaded by
  `load_statistics` from a training env's state. Both `observation` and
  `next_observation` of a TimeStep are normalised with the same statistics.
  """

  def __init__(self, env: Env, update: bool = True, clip: float = 10.0):
    super().__init__(env)
    self.update = update
    self.clip = clip

  def _apply(self, stats, timestep):
    # Every observation the agent acts on: `observation` (after an episode
    # end, the next episode's first one), not the pre-reset
    # `next_observation`, which nobody acts on.
    if self.update:
      stats = update_statistics(stats, timestep.observation)
    timestep = timestep._replace(
        observation=normalize(stats, timestep.observation, self.clip),
        next_observation=normalize(stats, timestep.next_observation, self.clip))
    return stats, timestep

  def reset(self, key):
    inner, timestep = self.env.reset(key)
    stats = init_statistics(self.spec.obs_shape)
    if self.update:
      stats = update_statistics(stats, timestep.observation)
    timestep = timestep._replace(
        observation=normalize(stats, timestep.observation, self.clip),
        next_observation=normalize(stats, timestep.next_observation, self.clip))
    return NormalizeState(inner, stats), timestep

  def step(self, state, action, key):
    inner, timestep = self.env.step(state.inner, action, key)
    stats, timestep = self._apply(state.stats, timestep)
    return NormalizeState(inner, stats), timestep

  def load_statistics(self, state, source):
    inner = self.env.load_statistics(state.inner, source.inner)
    return NormalizeState(inner, source.stats)

  def observe(self, state, observation):
    inner = self.env.observe(state.inner, observation)
    return normalize(state.stats, inner, self.clip)

  def reset_from(self, key, source):
    inner, timestep = self.env.reset_from(key, source.inner)
    stats = source.stats
    timestep = timestep._replace(
        observation=normalize(stats, timestep.observation, self.clip),
        next_observation=normalize(stats, timestep.next_observation, self.clip))
    return NormalizeState(inner, stats), timestep


class RescaleAction(Wrapper):
  """Lets the agent act in [-1, 1]^d; maps to the env's bounds and clips.

  Actions outside [-1, 1] (Gaussian exploration noise, say) are clipped
  before being scaled, so the env only ever sees valid actions.
  """

  def __init__(self, env: Env):
    super().__init__(env)
    spec = env.spec
    if spec.discrete:
      raise ValueError(f"{spec.name} has discrete actions: nothing to rescale.")
    if not (np.all(np.isfinite(spec.action_low)) and
            np.all(np.isfinite(spec.action_high))):
      raise ValueError(f"{spec.name} has unbounded actions: cannot rescale.")
    self._low = jnp.asarray(spec.action_low)
    self._high = jnp.asarray(spec.action_high)
    ones = np.ones(spec.action_shape, np.float32)
    self.spec = spec._replace(action_low=-ones, action_high=ones)

  def _rescale(self, action):
    action = jnp.clip(action, -1.0, 1.0)
    # Explicit broadcast over the batch: no implicit rank promotion.
    low = jnp.broadcast_to(self._low, action.shape)
    high = jnp.broadcast_to(self._high, action.shape)
    return low + (action + 1.0) * 0.5 * (high - low)

  def step(self, state, action, key):
    return self.env.step(state, self._rescale(action), key)

  def to_env_action(self, action):
    return self.env.to_env_action(self._rescale(action))


class StickyState(NamedTuple):
  inner: Any
  previous_action: jax.Array  # [B] int32: the action last executed


class StickyActions(Wrapper):
  """With probability `probability` per env and step, the env executes the
  previous action instead of the chosen one (Machado et al. 2018, "Revisiting
  the Arcade Learning Environment"; the MinAtar paper uses 0.1).

  The previous action is the one last *executed* (a repeated action stays
  the previous one) and is action 0 at every episode start: MinAtar's no-op,
  as in MinAtar's own implementation. The TimeStep and the agent's
  transition keep the chosen action. Discrete actions only.
  """

  def __init__(self, env: Env, probability: float):
    super().__init__(env)
    if not env.spec.discrete:
      raise ValueError(f"sticky actions need discrete actions; {env.spec.name} "
                       "has continuous ones (set sticky_actions=0).")
    if not 0.0 <= probability < 1.0:
      raise ValueError(f"sticky_actions must be a probability in [0, 1), got "
                       f"{probability!r}.")
    self.probability = float(probability)

  def _start(self, inner, timestep):
    del timestep
    return StickyState(inner, jnp.zeros((self.num_envs,), jnp.int32))

  def reset(self, key):
    inner, timestep = self.env.reset(key)
    return self._start(inner, timestep), timestep

  def step(self, state, action, key):
    sticky_key, key = jax.random.split(key)
    repeat = jax.random.uniform(sticky_key, (self.num_envs,)) < self.probability
    executed = jnp.where(repeat, state.previous_action,
                         action.astype(jnp.int32))
    inner, timestep = self.env.step(state.inner, executed, key)
    # An env whose episode ended was reset: its next episode starts from 0.
    previous = jnp.where(timestep.done, 0, executed)
    return StickyState(inner, previous), timestep

  def load_statistics(self, state, source):
    return state._replace(
        inner=self.env.load_statistics(state.inner, source.inner))

  def observe(self, state, observation):
    return self.env.observe(state.inner, observation)

  def reset_from(self, key, source):
    inner, timestep = self.env.reset_from(key, source.inner)
    return self._start(inner, timestep), timestep


class ObservationSubset(Wrapper):
  """Keeps only some components of a flat observation: a partially
  observable version of a fully observable task (popgym's "stateless
  CartPole": `indices=(0, 2)` keeps the cart position and pole angle and
  hides both velocities, which a policy must then infer from memory).
  """

  def __init__(self, env: Env, indices):
    super().__init__(env)
    spec = env.spec
    if len(spec.obs_shape) != 1:
      raise ValueError(f"observation_indices needs flat observations; "
                       f"{spec.name} has shape {spec.obs_shape}.")
    indices = tuple(int(i) for i in indices)
    size = spec.obs_shape[0]
    if not indices or any(not 0 <= i < size for i in indices):
      raise ValueError(f"observation_indices must be indices of {spec.name}'s "
                       f"{size} observation components, got {indices}.")
    self.indices = indices
    self._index = np.asarray(indices, np.int32)
    self.spec = spec._replace(obs_shape=(len(indices),))

  def _subset(self, timestep):
    return timestep._replace(
        observation=timestep.observation[:, self._index],
        next_observation=timestep.next_observation[:, self._index])

  def reset(self, key):
    state, timestep = self.env.reset(key)
    return state, self._subset(timestep)

  def step(self, state, action, key):
    state, timestep = self.env.step(state, action, key)
    return state, self._subset(timestep)

  def reset_from(self, key, source):
    state, timestep = self.env.reset_from(key, source)
    return state, self._subset(timestep)

  def observe(self, state, observation):
    observation = self.env.observe(state, observation)
    return observation[..., self._index]
