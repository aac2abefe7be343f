"""Opt-in numerics checks (`config.check_numerics` or `config.debug_nans`).

Every iteration flags, in the graph, which learn metric or agent-state leaf
holds a NaN or an inf; a period reports the first flagged one as
`numerics/step` (the env step after that iteration, -1 when none) and
`numerics/index` (its position in `Checker.names`), and
`Checker.message(metrics)` names it on the host. Nothing goes back to the
host inside the trace.

The checked leaves are the inexact (floating) leaves of the learn metrics
and of the agent state, except replay buffers: a flashbax buffer state
(found by its type, not by its name) holds data, not parameters, and is
skipped whole. The names are computed when the checker is built, from the
shapes of one iteration (`jax.eval_shape`), so tracing mutates nothing.
"""
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flashbax.buffers.trajectory_buffer import TrajectoryBufferState

# Its prioritised and item buffers' states are (subclasses of) this type.
BUFFER_STATE_TYPES = (TrajectoryBufferState,)


def _is_buffer(x) -> bool:
  return isinstance(x, BUFFER_STATE_TYPES)


def _checked_leaves(tree) -> Tuple[Sequence[str], Sequence[Any]]:
  """(paths, leaves) of `tree`'s inexact leaves, buffer states left out."""
  paths, leaves = [], []
  flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_buffer)[0]
  for path, leaf in flat:
    if _is_buffer(leaf):
      continue  # replay contents are data, not parameters
    if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      continue
    paths.append(jax.tree_util.keystr(path))
    leaves.append(leaf)
  return paths, leaves


def _groups(metrics, agent_state):
  return (("learn metric", metrics), ("agent state", agent_state))


def leaf_names(metrics, agent_state) -> Tuple[str, ...]:
  """Names of the checked leaves, in `Checker.flags` order; works on
  shapes (`jax.ShapeDtypeStruct`) as on arrays."""
  return tuple(f"{prefix} {path}" for prefix, tree in _groups(
      metrics, agent_state) for path in _checked_leaves(tree)[0])


class Checker(NamedTuple):
  """The numerics check of one training program; `names` fixed at build."""
  names: Tuple[str, ...]

  def flags(self, metrics, agent_state) -> jax.Array:
    """[K] bool: which checked leaf holds a NaN/inf (K = len(names))."""
    flags = []
    for _, tree in _groups(metrics, agent_state):
      flags += [jnp.logical_not(jnp.all(jnp.isfinite(leaf)))
                for leaf in _checked_leaves(tree)[1]]
    if len(flags) != len(self.names):
      raise ValueError(
          f"the learn metrics or agent state changed structure after the "
          f"numerics check was built ({len(flags)} leaves, {len(self.names)} "
          "names).")
    if not flags:
      return jnp.zeros((0,), bool)
    return jnp.stack(flags)

  @staticmethod
  def period_metrics(flags: jax.Array, start_steps: jax.Array,
                     steps_per_iteration: int) -> Dict[str, jax.Array]:
    """`numerics/step` and `numerics/index` of a period's [iterations, K]
    flags; -1 where nothing was flagged."""
    per_iteration = jnp.any(flags, axis=1)
    found = jnp.any(per_iteration)
    first = jnp.argmax(per_iteration)
    step = jnp.where(found, start_steps + (first + 1) * steps_per_iteration,
                     -1)
    index = jnp.where(found, jnp.argmax(flags[first]) if flags.shape[1] else
                      0, -1).astype(jnp.int32)
    return {"numerics/step": step, "numerics/index": index}

  def message(self, metrics) -> Optional[str]:
    """The first non-finite value in `metrics` (from `period` or `train`,
    numpy, any leading [num_evals] / [members] axes), or None."""
    if "numerics/step" not in metrics:
      return None
    step = np.asarray(metrics["numerics/step"])
    index = np.asarray(metrics["numerics/index"])
    bad = step >= 0
    if not np.any(bad):
      return None
    earliest = np.min(np.where(bad, step, step.max() + 1))
    first = np.argwhere(bad & (step == earliest))[0]
    i = int(index[tuple(first)])
    what = self.names[i] if 0 <= i < len(self.names) else f"value #{i}"
    where = (f" (batch index {tuple(int(x) for x in first)})" if first.size
             else "")
    return (f"non-finite value (NaN or inf) in {what} first at env step "
            f"{int(step[tuple(first)]):,}{where}; lower the learning rate or "
            "check the rewards and observations.")


def make_checker(iteration, state, hparams) -> Checker:
  """The checker of a loop whose `iteration(state, hparams)` returns
  `(state, outputs)` with `outputs.learn_metrics`; only shapes are traced.

  Args:
    iteration: the loop's iteration function (built without the check).
    state: a TrainState or its shapes (`jax.eval_shape` of `init`).
    hparams: the HParams (or their shapes).
  """
  new_state, outputs = jax.eval_shape(iteration, state, hparams)
  return Checker(leaf_names(outputs.learn_metrics, new_state.agent_state))
