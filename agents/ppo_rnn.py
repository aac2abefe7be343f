"""Recurrent PPO: PPO with a GRU or LSTM core (PureJaxRL's PPO-RNN).

The actor carries its core's state from step to step (`types.ActorCarry`;
the loop resets it where an episode ended). Learning is truncated
back-propagation through each rollout: every sequence is unrolled from the
carry stored at its first step, with the state reset inside it wherever an
episode began (`haikurl.recurrent`), so an episode never sees its
predecessor's state. Minibatches are sets of whole environments' sequences
(`num_minibatches` must divide `num_envs`): a sequence is never cut.

Everything else is PPO's own code (`agents.ppo`): its hyperparameters, the
clipped surrogate and value losses with their hooks (`policy_loss`,
`advantage_fn`, `value_loss`), the truncation-aware GAE, `ppo.loss_fn` and
`ppo.update`, the optimiser with annealing. The values of the observations
reached (`v_t` of GAE) are computed with the core's state after each step,
so a time-limit truncation bootstraps from the true last observation under
the memory that led there.

Deviations from PureJaxRL's PPO-RNN: truncation bootstraps (PureJaxRL
treats every `done` as terminal); separate actor and critic heads after one
shared torso and core, as PureJaxRL; the previous action and reward join
the core's input when `previous_inputs` (rlpyt's convention; off by default).

The torso before the core is PPO's setting `torso` (`networks.TorsoSettings`);
image augmentation is refused (`augmentation` must stay 'none': see
`haikurl.augment`).

Metrics: PPO's (see agents/ppo.py).
"""
import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from agents import ppo
from haikurl import networks
from haikurl import optim
from haikurl import recurrent
from haikurl import settings as s
from haikurl.types import ActorCarry, Agent, EnvSpec, Transition
from haikurl.types import check_trajectory

HParams = ppo.HParams
State = ppo.State


@dataclasses.dataclass(frozen=True)
class Settings(ppo.Settings, recurrent.CoreSettings):
  """Recurrent PPO's static settings: PPO's, the core's and the heads'
  (defaults: PureJaxRL's PPO-RNN on CartPole)."""
  num_envs: int = s.setting(4, "environments stepped in parallel",
                            s.positive_int)
  rollout_length: int = s.setting(
      128, "env steps per env between updates: the length of the sequences "
      "back-propagated through", s.positive_int)
  num_minibatches: int = s.setting(
      4, "minibatches per epoch, each a set of whole environments' "
      "sequences", s.positive_int)
  hidden_sizes: tuple = s.setting((128,), "units of the torso's MLP layers "
                                  "before the core", s.positive_ints)
  head_sizes: tuple = s.setting((128,), "units of the actor's and the "
                                "critic's layers after the core",
                                s.positive_ints)
  activation: str = s.setting("relu", "MLP nonlinearity",
                              s.one_of(*networks.ACTIVATIONS))
  # PureJaxRL's PPO-RNN clips it; without, on its CartPole settings, 475 came
  # at 169k, 247k and never (3 keys) instead of 70k-92k
  # (benchmarks/ppo_rnn_cartpole.py).
  clip_value_loss: bool = s.setting(
      True, "clip the value loss around the rollout's values", s.boolean)

  # Not over several devices yet: the actor carry's layout over devices is
  # not wired through the loop's data-parallel state.
  DATA_PARALLEL = False

  def check(self):
    if self.num_envs % self.num_minibatches:
      raise ValueError(
          f"config.agent.num_minibatches={self.num_minibatches} must divide "
          f"config.agent.num_envs={self.num_envs}: a minibatch is a set of "
          "whole environments' sequences.")
    super().check()
    if self.augmentation != "none":
      raise ValueError(
          f"config.agent.augmentation={self.augmentation!r}: recurrent PPO does not "
          "augment its sequences (independent draws per frame would show "
          "the core a jittering episode); use augmentation='none'.")


class Extras(NamedTuple):
  log_prob: jax.Array    # [B]
  value: jax.Array       # [B]
  carry: ActorCarry      # the carry the step was taken with
  next_core: Any         # the core's state after the step


class SequenceBatch(NamedTuple):
  """A rollout's sequences; leaves [T, B] except `start` ([B, ...])."""
  start: Any                         # the core's state at t = 0
  inputs: recurrent.SequenceInputs
  action: jax.Array
  log_prob: jax.Array
  value: jax.Array
  advantage: jax.Array
  target: jax.Array


def make_network(settings: Settings, spec: EnvSpec) -> recurrent.RecurrentNet:
  """Torso, core, then actor and critic heads: outputs (policy, value)."""
  def head(features):
    actor = networks.mlp(settings.head_sizes, settings.activation,
                         name="actor")(features)
    critic = networks.mlp(settings.head_sizes, settings.activation,
                          name="critic")(features)
    if spec.discrete:
      policy = networks.categorical_head(actor, spec.num_actions)
    else:
      policy = networks.gaussian_head(actor, spec.action_dim)
    return policy, networks.value_head(critic).value
  return recurrent.make(settings, spec, head)


class _Unrolled(NamedTuple):
  """PPO's `net` for `ppo.loss_fn`: `apply(params, (start, inputs))` unrolls
  the sequences and returns the flat [T * B] (policy, value)."""
  net: recurrent.RecurrentNet

  def apply(self, params, obs):
    start, inputs = obs
    (policy, value), _ = self.net.unroll(params, start, inputs)
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]),
                        (policy, value))


def make_batch(params, trajectory: Transition, hp, *, net, advantage_fn
               ) -> SequenceBatch:
  """The rollout [T, B] -> its sequences with advantages and targets."""
  extras = trajectory.extras
  t, b = trajectory.reward.shape
  flat = lambda x: x.reshape((t * b,) + x.shape[2:])
  # v(o_t) with the state after step t and its action and reward as the
  # "previous" inputs: the value the next step would have seen, had the
  # episode gone on (it bootstraps a truncation).
  after = ActorCarry(extras.next_core, trajectory.action,
                     trajectory.reward.astype(jnp.float32))
  (_, next_value), _ = net.step(params, jax.tree.map(flat, after),
                                flat(trajectory.next_obs))
  inputs = ppo.AdvantageInputs(
      r_t=hp.reward_scale * trajectory.reward,
      discount_t=hp.discount * trajectory.discount,
      truncated_t=trajectory.truncated, v_tm1=extras.value,
      v_t=next_value.reshape(t, b))
  advantage = advantage_fn(inputs, hp)
  chex.assert_equal_shape([advantage, extras.value])
  batch = SequenceBatch(
      start=jax.tree.map(lambda x: x[0], extras.carry.core),
      inputs=recurrent.sequence_inputs(trajectory, extras.carry),
      action=trajectory.action, log_prob=extras.log_prob, value=extras.value,
      advantage=advantage, target=advantage + extras.value)
  return jax.lax.stop_gradient(batch)


def minibatch(batch: SequenceBatch, envs: jax.Array) -> ppo.Batch:
  """The sequences of environments `envs`, as the `ppo.Batch` that
  `ppo.loss_fn` reads: `obs` is (start, inputs); the rest flat [T * N]."""
  pick = lambda x: x[:, envs]
  flat = lambda x: pick(x).reshape((-1,) + x.shape[2:])
  start = jax.tree.map(lambda x: x[envs], batch.start)
  return ppo.Batch(obs=(start, jax.tree.map(pick, batch.inputs)),
                   action=flat(batch.action), log_prob=flat(batch.log_prob),
                   value=flat(batch.value), advantage=flat(batch.advantage),
                   target=flat(batch.target))


def make(settings: Settings, spec: EnvSpec,
         policy_loss: Callable = ppo.clipped_surrogate,
         advantage_fn: Callable = ppo.gae,
         value_loss: Callable = ppo.squared_value_loss) -> Agent:
  """Builds recurrent PPO's initial_carry, init, act and learn.

  The hooks are PPO's (see `agents.ppo.make`).
  """
  net = make_network(settings, spec)
  opt = optim.make(eps=1e-5, clip=True, kind=settings.optimizer,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None))
  step = functools.partial(ppo.update, opt=opt, net=_Unrolled(net),
                           settings=settings, policy_loss=policy_loss,
                           value_loss=value_loss)
  gradient_steps = float(settings.num_epochs * settings.num_minibatches)

  def initial_carry(key, num_envs):
    del key
    return net.initial_state(num_envs)

  def init(key, hp):
    del hp
    params = net.init(key)
    return State(params, opt.init(params), jnp.zeros((), jnp.int32))

  def act(state, carry, obs, key, hp, evaluation=False):
    del hp
    (policy, value), core = net.step(state.params, carry, obs)
    if evaluation:
      return networks.greedy_action(policy), core, ()
    action, log_prob = networks.distribution(policy).sample_and_log_prob(
        seed=key)
    return action, core, Extras(log_prob, value, carry, core)

  def learn(state, trajectory, key, hp):
    check_trajectory(trajectory, settings)
    batch = make_batch(state.params, trajectory, hp, net=net,
                       advantage_fn=advantage_fn)

    state, metrics = ppo.epochs(
        lambda st, mb: step(st, mb, hp), state, batch, key,
        settings.num_epochs, settings.num_minibatches,
        num_samples=settings.num_envs, take=minibatch)
    metrics["train/gradient_steps"] = jnp.asarray(gradient_steps, jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn, initial_carry=initial_carry)
