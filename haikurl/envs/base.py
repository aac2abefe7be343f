"""The functional Env contract and the wrapper base class.

An Env is a batch of `num_envs` auto-resetting environments:

  reset(key) -> (state, TimeStep)
  step(state, action[B, ...], key) -> (state, TimeStep)

Both are pure and jittable; `state` is a pytree. `spec` describes one
environment of the batch.
"""
import abc
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from haikurl.types import EnvSpec, TimeStep

EnvState = Any


class Env(abc.ABC):
  """Base class of every batched, auto-resetting environment."""

  spec: EnvSpec
  num_envs: int

  @abc.abstractmethod
  def reset(self, key: jax.Array) -> Tuple[EnvState, TimeStep]:
    """Resets all `num_envs` environments with independent keys."""

  @abc.abstractmethod
  def step(self, state: EnvState, action: jax.Array,
           key: jax.Array) -> Tuple[EnvState, TimeStep]:
    """Steps all environments; those whose episode ended are reset."""

  def load_statistics(self, state: EnvState, source: EnvState) -> EnvState:
    """Returns `state` with any running statistics copied from `source`.

    Evaluation envs use this to see observations normalised with the
    training env's statistics. Envs without statistics return `state`.
    """
    del source
    return state

  def reset_from(self, key: jax.Array,
                 source: EnvState) -> Tuple[EnvState, TimeStep]:
    """Resets, with running statistics taken from `source` (a training env's
    state) already applied to the first observation."""
    state, timestep = self.reset(key)
    return self.load_statistics(state, source), timestep

  def observe(self, state: EnvState, observation: jax.Array) -> jax.Array:
    """A raw observation [B, *obs_shape] of the underlying environment as
    this env hands it to an agent, with any statistics read from `state`
    (frozen). A policy loaded for inference applies it to raw inputs."""
    del state
    return observation

  def to_env_action(self, action: jax.Array) -> jax.Array:
    """An agent's action [B, ...] (in `spec`'s units) as the underlying
    environment receives it, in its own units. The inverse side of
    `observe`: a loaded policy returns actions through it."""
    return action


class Wrapper(Env):
  """An Env that forwards everything to `env` unless it overrides it."""

  def __init__(self, env: Env):
    self.env = env
    self.spec = env.spec
    self.num_envs = env.num_envs

  def reset(self, key):
    return self.env.reset(key)

  def step(self, state, action, key):
    return self.env.step(state, action, key)

  def load_statistics(self, state, source):
    return self.env.load_statistics(state, source)

  def reset_from(self, key, source):
    # A wrapper that changes what `reset` returns must override this too.
    return self.env.reset_from(key, source)

  # A wrapper that changes observations or actions overrides these too.
  def observe(self, state, observation):
    return self.env.observe(state, observation)

  def to_env_action(self, action):
    return self.env.to_env_action(action)


def first_timestep(obs: jax.Array) -> TimeStep:
  """The TimeStep returned by reset: no reward, discount 1, nothing ended."""
  batch = obs.shape[0]
  zeros = jnp.zeros((batch,), jnp.float32)
  false = jnp.zeros((batch,), bool)
  return TimeStep(
      observation=obs, reward=zeros, discount=jnp.ones_like(zeros),
      terminated=false, truncated=false, next_observation=obs,
      episode_return=zeros, episode_length=jnp.zeros((batch,), jnp.int32))


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  """Per-env select between two batched pytrees; `pred` is [B]."""
  def select(x, y):
    p = jnp.reshape(pred, pred.shape + (1,) * (x.ndim - pred.ndim))
    return jnp.where(p, x, y)
  return jax.tree.map(select, on_true, on_false)
