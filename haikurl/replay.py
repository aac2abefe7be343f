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


def to_sequences(trajectory: Transition) -> Transition:
  """[T, B] transitions -> [B, T] rows for a trajectory buffer's `add`.

  `extras` is dropped: replayed transitions hold what the env gave.
  """
  trajectory = trajectory._replace(extras=())
  return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), trajectory)


def make_sequence_buffer(buffer_size: int, num_envs: int, batch_size: int,
                         sequence_length: int, min_size: int,
                         prioritised: bool = False,
                         priority_exponent: float = 0.6) -> Any:
  """A flashbax trajectory buffer of windows of consecutive transitions.

  Each env writes its own row (add `to_sequences(trajectory)`), so a sampled
  window holds `sequence_length` consecutive steps of one env; windows that
  would straddle the write head are never sampled. Episode ends inside a
  window are the sampler's business (see `returns.n_step_bootstrap`); every
  transition keeps its own pre-reset next observation.

  Args:
    buffer_size: capacity in transitions over all envs (rounded down to a
      multiple of num_envs).
    num_envs: rows, one per env of the training batch.
    batch_size: windows per sample.
    sequence_length: transitions per window (n of n-step returns; 1 gives
      single transitions).
    min_size: transitions stored (over all envs) before `can_sample`.
    prioritised: use flashbax's prioritised trajectory buffer; a window's
      priority is set through `set_priorities(state, indices, priorities)`.
    priority_exponent: alpha of prioritised replay; a Python number.

  Returns:
    A flashbax trajectory buffer; `sample(...).experience` is a Transition
    of [batch_size, sequence_length] fields.
  """
  if batch_size > buffer_size:
    raise ValueError(f"batch_size={batch_size} is larger than the buffer "
                     f"({buffer_size} transitions).")
  max_length = int(buffer_size) // int(num_envs)
  if max_length < 2 * sequence_length:
    raise ValueError(f"buffer_size={buffer_size} over num_envs={num_envs} "
                     f"leaves {max_length} steps per env, fewer than twice "
                     f"the window of {sequence_length}.")
  min_length = max(-(-int(min_size) // int(num_envs)), int(sequence_length), 1)
  min_length = min(min_length, max_length)
  kwargs = dict(add_batch_size=int(num_envs), sample_batch_size=int(batch_size),
                sample_sequence_length=int(sequence_length), period=1,
                min_length_time_axis=min_length,
                max_length_time_axis=max_length)
  if prioritised:
    return fbx.make_prioritised_trajectory_buffer(
        priority_exponent=float(priority_exponent), **kwargs)
  return fbx.make_trajectory_buffer(**kwargs)


def importance_weights(probabilities: jax.Array, exponent) -> jax.Array:
  """Prioritised replay's importance weights, normalised by the batch maximum.

  w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (P(i) / min_j P(j))^-beta,
  so the buffer's size N cancels (Schaul et al., 2016, section 3.4).

  Args:
    probabilities: [N] sampling probabilities of the batch's items.
    exponent: beta, scalar.

  Returns:
    [N] weights in (0, 1], 1 for the least likely item of the batch.
  """
  probabilities = jnp.maximum(probabilities, 1e-12)
  return (probabilities / jnp.min(probabilities)) ** -exponent
