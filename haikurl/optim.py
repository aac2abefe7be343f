"""The one optimiser step every agent uses: an optax chain with traced rates.

    opt = optim.make(eps=1e-5, clip=True, decay_steps=total_updates)
    opt_state = opt.init(params)                              # in init
    params, opt_state, lr = opt.step(params, grads, opt_state,
                                     hp.learning_rate, hp.max_grad_norm)

The chain is global-norm clipping (optional), Adam (or RMSProp), an optional linear
(or cosine) decay of the rate to 0 over `decay_steps` steps, and the rate,
applied to the parameters raveled into one vector (`optax.flatten`: the
optimiser's state is one vector per moment, not one per leaf). The rate and the
clipping norm come from the traced `HParams` at every step (the chain is
rebuilt around them inside the trace: an optax transformation is a pair of
pure functions, and the state's structure does not depend on their
values), so one compiled program trains members with different rates.

Data parallelism (`config.data_parallel`, `haikurl.loop`): built with
`axis_name`, `step` first averages the gradients over that device axis
(`jax.lax.pmean`), so every device applies the same update and the
parameters stay the same on all of them. It is the one place where the
devices' gradients meet; without `axis_name` nothing changes.
"""
from typing import Any, Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax


class Optimizer(NamedTuple):
  """init(params) -> state; step(params, grads, state, lr, max_grad_norm)
  -> (params, state, the rate used)."""
  init: Callable[[Any], Any]
  step: Callable[..., Tuple[Any, Any, jax.Array]]


def linear_decay(decay_steps: int) -> Callable[[jax.Array], jax.Array]:
  """count -> max(1 - count / decay_steps, 0): a multiplier of the rate."""
  total = float(max(1, decay_steps))
  return lambda count: jnp.maximum(1.0 - count.astype(jnp.float32) / total,
                                   0.0)


def cosine_decay(decay_steps: int) -> Callable[[jax.Array], jax.Array]:
  """count -> (1 + cos(pi * min(count / decay_steps, 1))) / 2: a multiplier
  of the rate, from 1 to 0 (optax.cosine_decay_schedule's shape; IQL's
  actor)."""
  total = float(max(1, decay_steps))
  return lambda count: 0.5 * (1.0 + jnp.cos(
      jnp.pi * jnp.minimum(count.astype(jnp.float32) / total, 1.0)))


KINDS = ("adam", "rmsprop")
DECAYS = {"linear": linear_decay, "cosine": cosine_decay}


CLIPS = ("global_norm", "value")


def make(eps: float = 1e-8, clip=False,
         decay_steps: Optional[int] = None, kind: str = "adam",
         rmsprop_decay: float = 0.99,
         axis_name: Optional[str] = None,
         decay_shape: str = "linear") -> Optimizer:
  """Adam (or RMSProp) with a traced rate, optional clipping and linear decay.

  Args:
    eps: Adam's (or RMSProp's) epsilon (static).
    clip: False (no clipping), True or "global_norm" (clip the gradient's
      global norm at `max_grad_norm` in `step`), or "value" (clip each
      element to [-max_grad_norm, max_grad_norm], optax.clip: rejax's PQN).
    decay_steps: if given, the rate decays linearly to 0 over this many
      steps (counted by the optimiser's state).
    kind: "adam", or "rmsprop" (optax.scale_by_rms: no momentum, eps added
      outside the square root, as A2C implementations: rlpyt, SB3).
    rmsprop_decay: RMSProp's decay of the squared-gradient average.
    axis_name: a device axis (bound by `shard_map`) over which `step`
      averages the gradients before clipping; None: no averaging.
    decay_shape: with `decay_steps`, "linear" or "cosine" (to 0).

  Returns:
    An Optimizer.
  """
  if kind not in KINDS:
    raise ValueError(f"unknown optimiser {kind!r}; known: {KINDS}.")
  if decay_shape not in DECAYS:
    raise ValueError(f"unknown decay {decay_shape!r}; known: {tuple(DECAYS)}.")
  if clip is True:
    clip = "global_norm"
  if clip and clip not in CLIPS:
    raise ValueError(f"unknown clipping {clip!r}; known: {CLIPS}.")
  decay = DECAYS[decay_shape](decay_steps) if decay_steps else None
  clipper = {"global_norm": optax.clip_by_global_norm,
             "value": optax.clip}.get(clip)

  def chain(learning_rate, max_grad_norm) -> optax.GradientTransformation:
    parts = [clipper(max_grad_norm)] if clip else []
    if kind == "adam":
      parts.append(optax.scale_by_adam(eps=eps))
    else:
      parts.append(optax.scale_by_rms(decay=rmsprop_decay, eps=eps,
                                      eps_in_sqrt=False, initial_scale=0.0))
    if decay is not None:
      parts.append(optax.scale_by_schedule(decay))
    parts.append(optax.scale_by_learning_rate(learning_rate))
    return optax.chain(*parts)

  def transformation(params, learning_rate, max_grad_norm):
    # One flat vector instead of a tree: every transformation's arithmetic
    # runs once over all parameters rather than once per leaf, which on a
    # CPU (small layers, per-op overhead) is 8-10% of PPO's whole program.
    # (A tree without leaves, e.g. a hand-made network's {}, has nothing to
    # ravel.)
    inner = chain(learning_rate, max_grad_norm)
    return optax.flatten(inner) if jax.tree.leaves(params) else inner

  def init(params):
    return transformation(params, 1.0, 1.0).init(params)

  def current_rate(opt_state, learning_rate):
    if decay is None:
      return jnp.asarray(learning_rate, jnp.float32)
    # The schedule's count sits in the ScaleByScheduleState of the chain.
    count = opt_state[-2].count
    return learning_rate * decay(count)

  def step(params, grads, opt_state, learning_rate, max_grad_norm=None):
    if clip and max_grad_norm is None:
      raise ValueError(f"optim.step: clip={clip!r} needs max_grad_norm.")
    lr = current_rate(opt_state, learning_rate)
    if axis_name is not None:
      # Each device's gradient is the mean over its equal share of the
      # batch: their mean is the gradient of the whole batch's mean loss.
      grads = jax.lax.pmean(grads, axis_name)
    updates, opt_state = transformation(
        params, learning_rate, max_grad_norm).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, lr

  return Optimizer(init, step)
