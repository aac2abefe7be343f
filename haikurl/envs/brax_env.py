"""brax environments as haikurl Envs.

brax's own `AutoResetWrapper` resets every slot to one stored first state,
keeps no final observation and reports truncation only in `info`. This
adapter does its own auto-reset: a fresh key per reset, the pre-reset
observation kept as `next_observation`, and a time limit of
`episode_length` steps that truncates (discount stays 1) rather than
terminates.
"""
import contextlib
import io
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from haikurl.envs.base import Env, first_timestep, select_tree
from haikurl.types import EnvSpec, TimeStep

BACKENDS = ("spring", "positional", "generalized", "mjx")


def _brax_envs():
  # mujoco's mjx prints "Failed to import warp: ..." on stdout when the
  # optional warp package is missing; haikurl does not use it, and an error
  # or a progress line must be all the terminal shows.
  with contextlib.redirect_stdout(io.StringIO()):
    import brax.envs  # pylint: disable=g-import-not-at-top  (slow import)
  return brax.envs


def known_ids():
  return sorted(name for name in _brax_envs()._envs if name != "fast")  # pylint: disable=protected-access


class BraxState(NamedTuple):
  inner: Any                 # brax State, batched [B]
  steps: jax.Array           # [B] int32 steps into the current episode
  episode_return: jax.Array  # [B] float32


class BraxEnv(Env):
  """A batch of `num_envs` brax environments with a correct auto-reset."""

  def __init__(self, name: str, num_envs: int, backend: str = "spring",
               episode_length: int = 1000, **kwargs):
    if backend not in BACKENDS:
      raise ValueError(f"unknown brax backend {backend!r}; known: {BACKENDS}")
    self.env = _brax_envs().get_environment(name, backend=backend, **kwargs)
    self.num_envs = int(num_envs)
    self.episode_length = int(episode_length)
    size = self.env.action_size
    self.spec = EnvSpec(
        f"brax:{name}", (int(self.env.observation_size),), jnp.float32, None,
        (size,), -np.ones(size, np.float32), np.ones(size, np.float32),
        self.episode_length)

  def _reset_batch(self, key):
    return jax.vmap(self.env.reset)(jax.random.split(key, self.num_envs))

  def reset(self, key):
    inner = self._reset_batch(key)
    state = BraxState(inner, jnp.zeros((self.num_envs,), jnp.int32),
                      jnp.zeros((self.num_envs,), jnp.float32))
    return state, first_timestep(inner.obs.astype(jnp.float32))

  def step(self, state, action, key):
    stepped = jax.vmap(self.env.step)(state.inner, action)
    reward = stepped.reward.astype(jnp.float32)
    steps = state.steps + 1
    terminated = stepped.done > 0.5
    truncated = jnp.logical_and(steps >= self.episode_length, ~terminated)
    done = jnp.logical_or(terminated, truncated)
    episode_return = state.episode_return + reward

    # Reset only when some slot ended (a real branch for a single run).
    inner = jax.lax.cond(
        jnp.any(done),
        lambda: select_tree(done, self._reset_batch(key), stepped),
        lambda: stepped)
    timestep = TimeStep(
        observation=inner.obs.astype(jnp.float32),
        reward=reward,
        discount=1.0 - terminated.astype(jnp.float32),
        terminated=terminated,
        truncated=truncated,
        next_observation=stepped.obs.astype(jnp.float32),
        episode_return=episode_return,
        episode_length=steps)
    state = BraxState(inner, jnp.where(done, 0, steps),
                      jnp.where(done, 0.0, episode_return))
    return state, timestep
