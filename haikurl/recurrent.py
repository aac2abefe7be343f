"""Recurrent networks for agents with an actor carry (`types.ActorCarry`).

A recurrent network is a torso (`networks.torso`: MLP, or for images the
MinAtar CNN, IMPALA CNN or ResNet chosen by the settings' `torso`,
`networks.TorsoSettings`) applied to each step's observation, optionally joined by
the previous action (one-hot when discrete) and reward (rlpyt's inputs),
then a Haiku RNN core (`hk.GRU` or `hk.LSTM`), then the agent's head. One
set of parameters serves two uses:

    net = recurrent.make(settings_of_the_core, spec, head)
    params = net.init(key)
    outputs, core = net.step(params, carry, obs)            # acting: [B]
    outputs, cores = net.unroll(params, start, inputs)      # learning: [T, B]

`unroll` runs the core over time with `hk.dynamic_unroll` (or
`hk.static_unroll`) inside `hk.ResetCore`, so the state goes back to the
initial one wherever `inputs.first` is set: an episode that began inside the
sequence never sees the state of the one before it. `step` and `unroll` are
the same function: unrolling a sequence from the carry stored at its first
step reproduces what acting computed, step by step (tested).
"""
import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from haikurl import networks
from haikurl import settings as s
from haikurl.types import ActorCarry, EnvSpec

CORES = ("gru", "lstm")


@dataclasses.dataclass(frozen=True)
class CoreSettings:
  """Settings of a recurrent torso, mixed into a recurrent agent's Settings."""
  core: str = s.setting("gru", "the RNN core: gru or lstm", s.one_of(*CORES))
  core_size: int = s.setting(128, "units of the RNN core", s.positive_int)
  previous_inputs: bool = s.setting(
      False, "feed the previous action and reward to the core (rlpyt's "
      "convention)", s.boolean)
  static_unroll: bool = s.setting(
      False, "unroll over time with hk.static_unroll (a Python loop in the "
      "trace) instead of hk.dynamic_unroll (a scan)", s.boolean)
  unroll_steps: int = s.setting(
      1, "steps per iteration of hk.dynamic_unroll's scan (its `unroll`): "
      "fewer loop iterations for the same arithmetic", s.positive_int)
  fused_gru: bool = s.setting(
      True, "learn through a GRU core with `gru_unroll` (the input "
      "projection out of the time loop, a hand-written backward pass) "
      "instead of hk.dynamic_unroll over hk.GRU: same parameters, same "
      "function, about 2.5x faster on a CPU", s.boolean)


class SequenceInputs(NamedTuple):
  """A batch of sequences [T, B, ...] as `unroll` reads them.

  Attributes:
    obs: [T, B, *obs_shape] observations acted on.
    prev_action: [T, B, *action_shape] the action before each step (zeros
      at an episode's first step).
    prev_reward: [T, B] the reward before each step (0 at a first step).
    first: [T, B] bool, True where an episode began at that step (the core
      is reset to its initial state before it).
  """
  obs: jax.Array
  prev_action: jax.Array
  prev_reward: jax.Array
  first: jax.Array


def make_core(kind: str, size: int) -> hk.RNNCore:
  if kind == "gru":
    return hk.GRU(size, name="gru")
  if kind == "lstm":
    return hk.LSTM(size, name="lstm")
  raise ValueError(f"core must be one of {CORES}, got {kind!r}.")


def initial_state(kind: str, size: int, batch: int):
  """The core's initial state for `batch` envs: zeros, as hk.GRU's and
  hk.LSTM's `initial_state`."""
  zeros = jnp.zeros((batch, size), jnp.float32)
  if kind == "lstm":
    return hk.LSTMState(hidden=zeros, cell=zeros)
  return zeros


def first_steps(trajectory) -> jax.Array:
  """[T, B] True where a step began an episode inside the trajectory (the
  step after a termination or truncation); False at t = 0, whose stored carry
  is already the one the step was taken with."""
  done = jnp.logical_or(trajectory.terminated, trajectory.truncated)
  return jnp.concatenate([jnp.zeros_like(done[:1]), done[:-1]], axis=0)


def sequence_inputs(trajectory, carry: ActorCarry) -> SequenceInputs:
  """The `unroll` inputs of a rollout [T, B] whose extras stored the actor
  carry each step was taken with (`carry`, [T, B] leaves)."""
  return SequenceInputs(trajectory.obs, carry.prev_action, carry.prev_reward,
                        first_steps(trajectory))


class RecurrentNet(NamedTuple):
  init: Callable[..., Any]    # (key) -> params
  step: Callable[..., Any]    # (params, ActorCarry[B], obs[B]) -> (out, core)
  # (params, start core [B], SequenceInputs [T, B]) -> (out [T, B], cores)
  unroll: Callable[..., Any]
  initial_state: Callable[..., Any]  # (batch) -> core


def make(settings, spec: EnvSpec, head: Callable[[jax.Array], Any],
         hidden_sizes=None, activation=None) -> RecurrentNet:
  """A recurrent network: torso, previous inputs, core, then `head`.

  Args:
    settings: has the `CoreSettings` fields, and `hidden_sizes` and
      `activation` of the torso unless given here.
    spec: the environment's spec.
    head: (features [N, core_size]) -> outputs, called inside the transform
      (e.g. a policy and a value head).
  """
  hidden_sizes = (settings.hidden_sizes if hidden_sizes is None
                  else hidden_sizes)
  activation = settings.activation if activation is None else activation
  # The torso before the core (`networks.TorsoSettings.torso`); settings
  # without one keep today's choice.
  encoder = getattr(settings, "encoder", networks.Encoder())

  def embed(obs, prev_action, prev_reward):
    """[N, ...] step inputs -> [N, F] core inputs."""
    x = networks.torso(obs, hidden_sizes, activation, "torso",
                       encoder=encoder)
    if settings.previous_inputs:
      if spec.discrete:
        a = jax.nn.one_hot(prev_action, spec.num_actions)
      else:
        a = prev_action.reshape(prev_action.shape[0], -1)
      x = jnp.concatenate([x, a.astype(x.dtype),
                           prev_reward[:, None].astype(x.dtype)], axis=-1)
    return x

  def step_fn(carry: ActorCarry, obs):
    x = embed(obs, carry.prev_action, carry.prev_reward)
    features, core = make_core(settings.core, settings.core_size)(x,
                                                                  carry.core)
    return head(features), core

  def unroll_fn(start, inputs: SequenceInputs):
    t, b = inputs.first.shape
    flat = lambda x: x.reshape((t * b,) + x.shape[2:])
    x = embed(flat(inputs.obs), flat(inputs.prev_action),
              flat(inputs.prev_reward))
    x = x.reshape((t, b) + x.shape[1:])
    if (settings.core == "gru" and getattr(settings, "fused_gru", False)
        and not settings.static_unroll):
      states = _FusedGRU(settings.core_size, settings.unroll_steps,
                         name="gru")(x, inputs.first, start)
      out = head(states.reshape((t * b,) + states.shape[2:]))
      out = jax.tree.map(lambda y: y.reshape((t, b) + y.shape[1:]), out)
      return out, states
    core = hk.ResetCore(make_core(settings.core, settings.core_size))
    if settings.static_unroll:
      unroll = hk.static_unroll
    else:
      unroll = functools.partial(hk.dynamic_unroll,
                                 unroll=settings.unroll_steps)
    (features, cores), _ = unroll(_WithStates(core), (x, inputs.first),
                                  start)
    out = head(features.reshape((t * b,) + features.shape[2:]))
    out = jax.tree.map(lambda y: y.reshape((t, b) + y.shape[1:]), out)
    return out, cores

  step_t = hk.without_apply_rng(hk.transform(step_fn))
  unroll_t = hk.without_apply_rng(hk.transform(unroll_fn))

  def init(key):
    carry = ActorCarry(initial_state(settings.core, settings.core_size, 1),
                       spec.dummy_action[None], jnp.zeros((1,), jnp.float32))
    return step_t.init(key, carry, spec.dummy_obs[None])

  return RecurrentNet(
      init=init, step=step_t.apply, unroll=unroll_t.apply,
      initial_state=lambda batch: initial_state(settings.core,
                                                settings.core_size, batch))


class _WithStates(hk.RNNCore):
  """A core whose output is (output, state after the step), so an unroll
  returns every step's state."""

  def __init__(self, core: hk.RNNCore):
    super().__init__(name=None)
    self._core = core

  def __call__(self, inputs, state):
    out, state = self._core(inputs, state)
    return (out, state), state

  def initial_state(self, batch_size):
    return self._core.initial_state(batch_size)


# The GRU over a sequence, fused. hk.GRU computes, from x_t and h_{t-1},
#   z, r = sigmoid(x W_i[:, :2H] + h W_h[:, :2H] + b[:2H])
#   a    = tanh(x W_i[:, 2H:] + (r * h) W_h[:, 2H:] + b[2H:])
#   h_t  = (1 - z) * h + z * a.
# Under hk.dynamic_unroll every step does the input projection x W_i, and
# autodiff's backward loop accumulates dW_i, dW_h and db step by step: on a
# CPU that is tens of tiny kernels per time step. Here the input projection
# is one matmul over the whole sequence before the loop, the backward loop
# propagates only dh (and emits the gates' gradients), and the weight
# gradients are one contraction over [T, B] after it.

def _gates(w_h, hsz):
  return w_h[:, :2 * hsz], w_h[:, 2 * hsz:]


def _gru_forward(gx, keep, h0, w_h, unroll, residuals):
  hsz = h0.shape[-1]
  w_hz, w_ha = _gates(w_h, hsz)

  def step(h, inputs):
    g, k = inputs
    h = jnp.where(k, h, 0.0)        # the state resets before this step
    zr = jax.nn.sigmoid(g[..., :2 * hsz] + h @ w_hz)
    z, r = zr[..., :hsz], zr[..., hsz:]
    a = jnp.tanh(g[..., 2 * hsz:] + (r * h) @ w_ha)
    h_next = (1.0 - z) * h + z * a
    return h_next, ((h_next, h, zr, a) if residuals else h_next)

  return jax.lax.scan(step, h0, (gx, keep), unroll=unroll)[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _gru_scan(gx, keep, h0, w_h, unroll):
  return _gru_forward(gx, keep, h0, w_h, unroll, residuals=False)


def _gru_scan_fwd(gx, keep, h0, w_h, unroll):
  hs, h_prev, zr, a = _gru_forward(gx, keep, h0, w_h, unroll, residuals=True)
  return hs, (h_prev, zr, a, keep, w_h)


def _gru_scan_bwd(unroll, res, d_hs):
  h_prev, zr, a, keep, w_h = res
  hsz = h_prev.shape[-1]
  w_hz, w_ha = _gates(w_h, hsz)

  def step(dh_next, inputs):
    d_out, h, zr_t, a_t, k = inputs
    g = d_out + dh_next               # dL/dh_t
    z, r = zr_t[..., :hsz], zr_t[..., hsz:]
    da = g * z * (1.0 - a_t * a_t)    # through tanh
    d_rh = da @ w_ha.T
    dz = g * (a_t - h) * z * (1.0 - z)
    dr = d_rh * h * r * (1.0 - r)
    dzr = jnp.concatenate([dz, dr], axis=-1)
    dh = g * (1.0 - z) + d_rh * r + dzr @ w_hz.T
    return jnp.where(k, dh, 0.0), jnp.concatenate([dzr, da], axis=-1)

  dh0, dgx = jax.lax.scan(step, jnp.zeros_like(h_prev[0]),
                          (d_hs, h_prev, zr, a, keep), reverse=True,
                          unroll=unroll)
  r = zr[..., hsz:]
  dw_hz = jnp.einsum("tbh,tbg->hg", h_prev, dgx[..., :2 * hsz])
  dw_ha = jnp.einsum("tbh,tbg->hg", r * h_prev, dgx[..., 2 * hsz:])
  d_keep = np.zeros(keep.shape, jax.dtypes.float0)
  return dgx, d_keep, dh0, jnp.concatenate([dw_hz, dw_ha], axis=1)


_gru_scan.defvjp(_gru_scan_fwd, _gru_scan_bwd)


def gru_unroll(x, first, h0, w_i, w_h, b, unroll: int = 1):
  """hk.GRU over a sequence, resetting the state to zeros where `first`.

  Args:
    x: [T, B, F] inputs; first: [T, B] bool (reset before that step);
    h0: [B, H] the state before step 0; w_i [F, 3H], w_h [H, 3H], b [3H]:
    hk.GRU's parameters.
    unroll: steps per iteration of the time loops (forward and backward).

  Returns:
    [T, B, H]: the state after each step (hk.GRU's output).
  """
  gx = networks.dense(x, w_i) + b[None, None]   # its weight gradient ordered
  return _gru_scan(gx, ~first[..., None], h0, w_h, unroll)


class _FusedGRU(hk.Module):
  """hk.GRU's parameters (the same names, shapes and initialisers, so
  `step`'s hk.GRU and this read one set), unrolled with `gru_unroll`."""

  def __init__(self, hidden_size: int, unroll: int, name: str):
    super().__init__(name=name)
    self._hidden_size, self._unroll = hidden_size, unroll

  def __call__(self, x, first, h0):
    hsz, dtype = self._hidden_size, x.dtype
    w_i = hk.get_parameter("w_i", [x.shape[-1], 3 * hsz], dtype,
                           init=hk.initializers.VarianceScaling())
    w_h = hk.get_parameter("w_h", [hsz, 3 * hsz], dtype,
                           init=hk.initializers.VarianceScaling())
    b = hk.get_parameter("b", [3 * hsz], dtype, init=jnp.zeros)
    return gru_unroll(x, first, h0, w_i, w_h, b, self._unroll)
