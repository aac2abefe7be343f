"""gymnax environments as haikurl Envs.

gymnax 1.x `step` returns `(obs, state, reward, terminated, truncated, info)`,
always auto-resets, and keeps the pre-reset observation in
`info["final_observation"]`. This adapter batches it over `num_envs`, keeps
termination and truncation apart and tracks episode returns.

gymnax is imported when first needed, not with this module: importing it
starts JAX's backend (it builds arrays at import), and `haikurl-train`
chooses the CPU backend's thread pool after reading the config
(`haikurl.cpu`).
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from haikurl.envs.base import Env, first_timestep
from haikurl.types import EnvSpec, TimeStep

# MNISTBandit downloads a data set at construction: not offered.
EXCLUDED = ("MNISTBandit-bsuite",)


def known_ids():
  import gymnax  # pylint: disable=g-import-not-at-top
  return [name for name in gymnax.registered_envs if name not in EXCLUDED]


class GymnaxState(NamedTuple):
  inner: Any                 # gymnax's own state, batched [B]
  episode_return: jax.Array  # [B] float32
  episode_length: jax.Array  # [B] int32


def _as_float(x):
  return jnp.asarray(x, jnp.float32)


class GymnaxEnv(Env):
  """A batch of `num_envs` gymnax environments."""

  def __init__(self, env_id: str, num_envs: int, environment=None,
               **env_params):
    """A batch of gymnax's `env_id`, or of `environment` (an instance of a
    `gymnax.environments.environment.Environment` subclass: a user's own)."""
    import gymnax  # pylint: disable=g-import-not-at-top
    # Built outside jit: FourRooms and MetaMaze branch in Python here.
    if environment is not None:
      self.env, params = environment, environment.default_params
    else:
      self.env, params = gymnax.make(env_id)
    known = set(getattr(params, "__dataclass_fields__", ()))
    unknown = sorted(set(env_params) - known)
    if unknown:
      raise ValueError(
          f"{env_id} has no env parameters {unknown} (config.env_kwargs); "
          f"its parameters: {', '.join(sorted(known))}.")
    self.params = params.replace(**env_params) if env_params else params
    self.num_envs = int(num_envs)
    self.spec = self._make_spec(env_id)

  def _make_spec(self, env_id: str) -> EnvSpec:
    from gymnax.environments import spaces  # pylint: disable=g-import-not-at-top
    space = self.env.action_space(self.params)
    obs = jax.eval_shape(lambda k: self.env.reset(k, self.params)[0],
                         jax.random.key(0))
    max_steps = int(getattr(self.params, "max_steps_in_episode", 0) or 0)
    if isinstance(space, spaces.Discrete):
      return EnvSpec(f"gymnax:{env_id}", tuple(obs.shape), jnp.float32,
                     int(space.n), (), None, None, max_steps)
    if isinstance(space, spaces.Box):
      shape = tuple(space.shape)
      low = np.broadcast_to(np.asarray(space.low, np.float32), shape).copy()
      high = np.broadcast_to(np.asarray(space.high, np.float32), shape).copy()
      return EnvSpec(f"gymnax:{env_id}", tuple(obs.shape), jnp.float32, None,
                     shape, low, high, max_steps)
    raise ValueError(
        f"gymnax:{env_id} has an action space of type {type(space).__name__}; "
        "haikurl supports Discrete and Box action spaces.")

  def reset(self, key):
    keys = jax.random.split(key, self.num_envs)
    obs, inner = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)
    obs = _as_float(obs)
    zeros = jnp.zeros((self.num_envs,), jnp.float32)
    state = GymnaxState(inner, zeros, jnp.zeros((self.num_envs,), jnp.int32))
    return state, first_timestep(obs)

  def step(self, state, action, key):
    keys = jax.random.split(key, self.num_envs)
    obs, inner, reward, terminated, truncated, info = jax.vmap(
        self.env.step, in_axes=(0, 0, 0, None))(
            keys, state.inner, action, self.params)
    reward = _as_float(reward)
    terminated = jnp.asarray(terminated, bool)
    truncated = jnp.logical_and(jnp.asarray(truncated, bool), ~terminated)
    done = jnp.logical_or(terminated, truncated)
    episode_return = state.episode_return + reward
    episode_length = state.episode_length + 1
    timestep = TimeStep(
        observation=_as_float(obs),
        reward=reward,
        discount=1.0 - terminated.astype(jnp.float32),
        terminated=terminated,
        truncated=truncated,
        next_observation=_as_float(info["final_observation"]),
        episode_return=episode_return,
        episode_length=episode_length)
    state = GymnaxState(
        inner,
        jnp.where(done, 0.0, episode_return),
        jnp.where(done, 0, episode_length))
    return state, timestep
