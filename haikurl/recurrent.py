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
