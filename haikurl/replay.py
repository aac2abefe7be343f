"""flashbax replay from settings, for agents that own their buffer.

Transitions are stored with their next observation explicitly (the env's
pre-reset observation), so a sampled transition never pairs the last step of
one episode with the first of the next.

    buffer = replay.make_transition_buffer(size, batch_size, min_size)
    buffer_state = buffer.init(replay.dummy_transition(spec))  # inside init()
    buffer_state = buffer.add(buffer_state, replay.flatten(trajectory))
    batch = buffer.sample(buffer_state, key).experience  # Transition [N]

Initialise the buffer inside the agent's `init`, which the loop calls inside
the vmapped `train`, so that its counters stay unbatched and
`lax.cond(buffer.can_sample(...))` remains a real branch under `vmap`.
"""
from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp

from haikurl.types import EnvSpec, Transition


def dummy_transition(spec: EnvSpec) -> Transition:
  """One zero transition (no batch axis) with the dtypes the loop produces."""
  obs = spec.dummy_obs
  zero = jnp.zeros((), jnp.float32)
  false = jnp.zeros((), bool)
  return Transition(obs=obs, action=spec.dummy_action, reward=zero,
                    discount=zero, terminated=false, truncated=false,
                    next_obs=obs, extras=())


def flatten(trajectory: Transition) -> Transition:
  """[T, B] transitions -> [1, T * B] items for an item buffer's `add`.

  `extras` is dropped: replayed transitions hold what the env gave.
  """
  trajectory = trajectory._replace(extras=())
  return jax.tree.map(lambda x: x.reshape((1, -1) + x.shape[2:]), trajectory)


def make_transition_buffer(buffer_size: int, batch_size: int, min_size: int,
                           prioritised: bool = False,
                           priority_exponent: float = 0.6) -> Any:
  """A flashbax item buffer of single transitions.

  Args:
    buffer_size: capacity in transitions.
    batch_size: transitions per sample.
    min_size: transitions stored before `can_sample` is true.
    prioritised: use flashbax's prioritised buffer (`set_priorities`).
    priority_exponent: alpha of prioritised replay; must be a Python number.

  Returns:
    A flashbax buffer (init, add, sample, can_sample[, set_priorities]).
  """
  if batch_size > buffer_size:
    raise ValueError(f"batch_size={batch_size} is larger than the buffer "
                     f"({buffer_size} transitions).")
  min_size = max(int(min_size), int(batch_size), 1)
  if prioritised:
    return fbx.make_prioritised_item_buffer(
        max_length=int(buffer_size), min_length=min_size,
        sample_batch_size=int(batch_size), add_sequences=True,
        add_batches=True, priority_exponent=float(priority_exponent))
  return fbx.make_item_buffer(
      max_length=int(buffer_size), min_length=min_size,
      sample_batch_size=int(batch_size), add_sequences=True, add_batches=True)
