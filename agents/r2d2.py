"""R2D2 (Kapturowski et al., 2019): recurrent DQN from replayed sequences.

The actor carries a GRU or LSTM core after the torso (`haikurl.recurrent`;
the loop resets the carry where an episode ended) and stores, with every
transition, the actor carry that step was taken with (its extras). Replay
(`offpolicy.make_sequence_replay`) keeps one flashbax trajectory row per
env and samples fixed-length overlapping sequences of
`sequence_length` steps that start every `sequence_period` steps and never
straddle the write head. A sampled sequence is unrolled from the
stored carry at its first step:

- burn-in: the first `burn_in` steps are unrolled without gradient (to
  refresh the stale stored state), the rest with gradient from the state
  burn-in reached (`unroll_with_burn_in`);
- episode boundaries inside a sequence reset the core (hk.ResetCore on the
  first-step flags, `recurrent.first_steps`) and cut the n-step returns;
- targets: n-step double Q-learning (the online net picks the action at the
  bootstrap observation, the target net values it) with the invertible
  value rescaling h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x
  (`rlax.signed_hyperbolic`, inverse `rlax.signed_parabolic`):
  target_t = h(sum_k gamma^k r_{t+k} + gamma^n h^-1(q_target(s_{t+n}, a*))).
  The values at every step's *pre-reset* next observation come from one
  step of each net from the core after that step, so a truncation inside
  the sequence bootstraps from the true last observation under the memory
  that led there, and a termination does not bootstrap
  (`returns.sequence_n_step_targets`); the sequence's last step bootstraps
  from its own next observation;
- prioritised sequences: priority = eta max_t |td_t| + (1 - eta) mean_t
  |td_t| over the trained steps (eta 0.9), importance weights normalised by
  the batch maximum with their exponent annealed to 1 (as DQN's);
- target network: every `target_period` gradient steps, target <- tau *
  online + (1 - tau) * target (`dqn.target_update`).

Torso before the core: `torso` ('auto', 'mlp', 'minatar_cnn', 'impala',
'resnet'; `haikurl.networks.TorsoSettings`). No image augmentation: R2D2
refuses `augmentation` other than 'none' (see `haikurl.augment`).

Exploration: Ape-X's fixed epsilon per actor, eps_i = eps^(1 + alpha i /
(N - 1)) over the N envs of the batch (eps alone when N = 1), and uniform
random actions before `learning_starts`. Evaluation is greedy.

Deviations from the paper: one learner on one device (no distributed
actors); the value at the bootstrap observation is computed from the state
after its step (identical to the next step's output wherever no episode
ended); Adam with clipped gradients (haikurl.optim), the rate optionally
annealed.

Metrics (means over the learn call's gradient steps; 0 before learning):
  loss/td             mean importance-weighted loss of the sampled batch
  train/td_abs        mean |TD error| (rescaled space) of trained steps
  train/priority      mean priority of the sampled sequences
  train/q_mean        mean Q(s, a) of the trained steps
  train/num_updates, train/gradient_steps, train/learning_rate,
  train/importance_exponent (prioritised)
"""
import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import rlax

from agents import dqn
from haikurl import networks
from haikurl import offpolicy
from haikurl import optim
from haikurl import recurrent
from haikurl import returns
from haikurl import settings as s
from haikurl.types import ActorCarry, Agent, EnvSpec, Transition

State = dqn.State


@dataclasses.dataclass(frozen=True)
class Settings(offpolicy.Settings, networks.TorsoSettings,
               recurrent.CoreSettings):
  """R2D2's static settings (defaults: a small R2D2 for gymnax tasks)."""
  num_envs: int = s.setting(16, "environments stepped in parallel (one "
                            "epsilon each)", s.positive_int)
  rollout_length: int = s.setting(8, "env steps per env between learn calls",
                                  s.positive_int)
  hidden_sizes: tuple = s.setting((64,), "units of the torso's MLP layers "
                                  "before the core", s.positive_ints)
  head_sizes: tuple = s.setting((64,), "units of the Q head's layers after "
                                "the core", s.positive_ints)
  activation: str = s.setting("relu", "MLP nonlinearity",
                              s.one_of(*networks.ACTIVATIONS))
  core_size: int = s.setting(64, "units of the RNN core", s.positive_int)
  sequence_length: int = s.setting(
      40, "steps of each replayed sequence, burn-in included",
      s.positive_int)
  sequence_period: int = s.setting(
      20, "steps between the starts of stored sequences (consecutive ones "
      "overlap by sequence_length - sequence_period)", s.positive_int)
  burn_in: int = s.setting(
      10, "steps at the start of each sequence unrolled without gradient "
      "from the stored state", s.non_negative_int)
  n_step: int = s.setting(5, "steps of the multi-step return",
                          s.positive_int)
  double_q: bool = s.setting(True, "the online net picks the bootstrap "
                             "action", s.boolean)
  dueling: bool = s.setting(False, "value + advantage streams", s.boolean)
  value_rescaling: bool = s.setting(
      True, "learn h(Q) with h(x) = sign(x)(sqrt(|x|+1)-1) + eps x",
      s.boolean)
  prioritised: bool = s.setting(True, "prioritised sequence replay",
                                s.boolean)
  priority_exponent: float = s.setting(0.9, "alpha of prioritised replay",
                                       s.number)
  buffer_size: int = s.setting(65_536, "replay capacity in transitions (over "
                               "all envs)", s.positive_int)
  batch_size: int = s.setting(32, "sequences per gradient step",
                              s.positive_int)
  learning_starts: int = s.setting(
      2_048, "env steps of uniform random actions before learning",
      s.non_negative_int)
  replay_ratio: float = s.setting(
      1 / 16, "gradient steps per env step (each on batch_size sequences)",
      s.number)
  target_period: int = s.setting(100, "gradient steps between target "
                                 "updates", s.positive_int)
  adam_eps: float = s.setting(1e-4, "Adam's epsilon", s.number)
  anneal_learning_rate: bool = s.setting(
      False, "decay the rate linearly to 0 over the run", s.boolean)

  def check(self):
    super().check()
    if self.burn_in >= self.sequence_length:
      raise ValueError(
          f"config.agent.burn_in={self.burn_in} leaves no step of a "
          f"sequence of sequence_length={self.sequence_length} to train on.")
    if self.sequence_period > self.sequence_length:
      raise ValueError(
          f"config.agent.sequence_period={self.sequence_period} is longer "
          f"than sequence_length={self.sequence_length}: some steps would "
          "never be replayed.")
    steps_per_env = self.buffer_size // self.num_envs
    steps_per_env -= steps_per_env % self.sequence_period
    needed = max(2 * self.sequence_length, self.rollout_length)
    if steps_per_env < needed:
      raise ValueError(
          f"config.agent.buffer_size={self.buffer_size} leaves "
          f"{steps_per_env} steps per env, fewer than {needed} (twice "
          "sequence_length, and at least rollout_length).")
    if self.augmentation != "none":
      raise ValueError(
          f"config.agent.augmentation={self.augmentation!r}: R2D2 does not "
          "augment its sequences (independent draws per frame would show "
          "the core a jittering episode); use augmentation='none'.")


class HParams(NamedTuple):
  learning_rate: float = 1e-3
  discount: float = 0.99
  epsilon: float = 0.4           # Ape-X's base epsilon
  epsilon_alpha: float = 7.0     # eps_i = eps^(1 + alpha i / (N - 1))
  tau: float = 1.0               # target update step size; 1 is a copy
  max_grad_norm: float = 40.0
  importance_exponent: float = 0.6   # initial beta of prioritised replay
  priority_eta: float = 0.9      # max/mean mix of a sequence's priority
  rescale_epsilon: float = 1e-3  # eps of the value rescaling h
  CHECKS = {"learning_rate": s.positive, "discount": s.unit_interval,
            "epsilon": s.unit_interval, "epsilon_alpha": s.non_negative,
            "tau": s.unit_interval, "max_grad_norm": s.positive,
            "importance_exponent": s.unit_interval,
            "priority_eta": s.unit_interval,
            "rescale_epsilon": s.non_negative}


def validate(settings: Settings, spec: EnvSpec) -> None:
  """Raises ValueError with one line when the env does not fit R2D2."""
  del settings
  if not spec.discrete:
    raise ValueError(f"R2D2 needs discrete actions, but {spec.name} has a "
                     "continuous action space.")


def make_network(settings: Settings, spec: EnvSpec) -> recurrent.RecurrentNet:
  """Torso, core, then an MLP and a (dueling) Q head: outputs QValues."""
  def head(features):
    x = networks.mlp(settings.head_sizes, settings.activation,
                     name="head")(features)
    return networks.q_head(x, spec.num_actions, settings.dueling)
  return recurrent.make(settings, spec, head)


# The pieces of the learning rule, each tested on its own.

def value_rescaling(hp):
  """(h, h^-1) of the invertible value rescaling with eps hp.rescale_epsilon."""
  eps = hp.rescale_epsilon
  return (lambda x: rlax.signed_hyperbolic(x, eps),
          lambda x: rlax.signed_parabolic(x, eps))


def actor_epsilons(hp, num_envs: int) -> jax.Array:
  """Ape-X's epsilons [N]: eps^(1 + alpha i / (N - 1)), eps when N = 1."""
  i = jnp.arange(num_envs, dtype=jnp.float32)
  exponent = 1.0 + hp.epsilon_alpha * i / max(num_envs - 1, 1)
  return jnp.asarray(hp.epsilon, jnp.float32) ** exponent


def sequence_priority(td_abs: jax.Array, eta) -> jax.Array:
  """eta max_t |td| + (1 - eta) mean_t |td| of td_abs [T, N] -> [N]."""
  return eta * jnp.max(td_abs, axis=0) + (1.0 - eta) * jnp.mean(td_abs,
                                                                axis=0)


def unroll_with_burn_in(net: recurrent.RecurrentNet, params, start,
                        inputs: recurrent.SequenceInputs, burn_in: int):
  """`net.unroll` of [T, N] sequences from `start`, the first `burn_in`
  steps without gradient (neither into the parameters nor through the state
  they hand over): outputs [T, N] and the state after every step."""
  if burn_in == 0:
    return net.unroll(params, start, inputs)
  stop = jax.lax.stop_gradient
  head = jax.tree.map(lambda x: x[:burn_in], inputs)
  tail = jax.tree.map(lambda x: x[burn_in:], inputs)
  out_head, cores_head = stop(net.unroll(stop(params), start, head))
  out_tail, cores_tail = net.unroll(
      params, jax.tree.map(lambda x: x[-1], cores_head), tail)
  cat = lambda a, b: jnp.concatenate([a, b], axis=0)
  return (jax.tree.map(cat, out_head, out_tail),
          jax.tree.map(cat, cores_head, cores_tail))


def next_q_values(net: recurrent.RecurrentNet, params, cores,
                  sequence: Transition) -> jax.Array:
  """Q [T, N, A] at every step's pre-reset next observation, one step of
  the net from the core after that step (the carry that step led to)."""
  t, n = sequence.reward.shape
  flat = lambda x: x.reshape((t * n,) + x.shape[2:])
  after = ActorCarry(cores, sequence.action,
                     sequence.reward.astype(jnp.float32))
  q, _ = net.step(params, jax.tree.map(flat, after), flat(sequence.next_obs))
  return q.q_values.reshape((t, n) + q.q_values.shape[1:])


def sequence_targets(sequence: Transition, q_next_target: jax.Array,
                     q_next_online: jax.Array, hp, settings: Settings
                     ) -> jax.Array:
  """The n-step double-Q targets [T, N] (rescaled space) of the sequences'
  steps, given both nets' Q [T, N, A] at every step's next observation."""
  h, h_inv = value_rescaling(hp)
  if not settings.value_rescaling:
    h = h_inv = lambda x: x
  selector = q_next_online if settings.double_q else q_next_target
  a_star = jnp.argmax(selector, axis=-1)
  v_next = h_inv(jnp.take_along_axis(q_next_target, a_star[..., None],
                                     axis=-1)[..., 0])
  targets = jax.vmap(returns.sequence_n_step_targets,
                     in_axes=(1, 1, 1, None, 1, None), out_axes=1)(
      sequence.reward, sequence.terminated, sequence.truncated, hp.discount,
      v_next, settings.n_step)
  return h(targets)


def loss_fn(params, state: State, sequence: Transition, weights, hp, *, net,
            settings: Settings):
  """The weighted loss of a batch of sequences [T, N] (time-major) whose
  extras are the stored actor carries; gradients in `params`."""
  stop = jax.lax.stop_gradient
  carry = sequence.extras
  start = jax.tree.map(lambda x: x[0], carry.core)
  inputs = recurrent.sequence_inputs(sequence, carry)
  q, cores = unroll_with_burn_in(net, params, start, inputs, settings.burn_in)
  _, target_cores = net.unroll(state.target_params, start, inputs)
  b = settings.burn_in
  tail = lambda x: x[b:]
  trained = jax.tree.map(tail, sequence)
  q_next_online = next_q_values(net, stop(params),
                                stop(jax.tree.map(tail, cores)), trained)
  q_next_target = next_q_values(net, state.target_params,
                                jax.tree.map(tail, target_cores), trained)
  targets = stop(sequence_targets(trained, q_next_target, q_next_online, hp,
                                  settings))
  q_a = jnp.take_along_axis(q.q_values[b:], trained.action[..., None],
                            axis=-1)[..., 0]                      # [L, N]
  td = targets - q_a
  chex.assert_equal_shape([td, trained.reward])
  per_sequence = jnp.mean(rlax.l2_loss(td), axis=0)               # [N]
  priority = sequence_priority(jnp.abs(td), hp.priority_eta)
  loss = jnp.mean(weights * per_sequence)
  metrics = {"loss/td": loss, "train/td_abs": jnp.mean(jnp.abs(td)),
             "train/priority": jnp.mean(priority),
             "train/q_mean": jnp.mean(q_a)}
  return loss, (stop(priority), metrics)


def update(state: State, sample: offpolicy.Sample, key, hp, *, net,
           opt: optim.Optimizer, settings: Settings):
  """One gradient step on sampled sequences [N, T], then the target update.

  Returns:
    (state, metrics, priorities [N]) as `offpolicy.make_learn` expects.
  """
  del key
  sequence = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), sample.batch)
  metrics = {}
  weights = jnp.ones(sequence.reward.shape[1:], jnp.float32)
  if settings.prioritised:
    beta = dqn.importance_exponent(settings, hp, state.env_steps)
    weights = offpolicy.importance_weights(sample.probabilities, beta)
    metrics["train/importance_exponent"] = beta
  grads, (priority, loss_metrics) = jax.grad(loss_fn, has_aux=True)(
      state.params, state, sequence, weights, hp, net=net, settings=settings)
  metrics.update(loss_metrics)
  params, opt_state, lr = opt.step(state.params, grads, state.opt_state,
                                   hp.learning_rate, hp.max_grad_norm)
  num_updates = state.num_updates + 1
  target_params = dqn.target_update(params, state.target_params, num_updates,
                                    hp, settings)
  metrics["train/learning_rate"] = lr
  state = state._replace(params=params, target_params=target_params,
                         opt_state=opt_state, num_updates=num_updates)
  return state, metrics, priority


def make(settings: Settings, spec: EnvSpec, network=None) -> Agent:
  """Builds R2D2's initial_carry, init, act and learn.

  Args:
    settings: R2D2's Settings.
    spec: the env's spec; actions must be discrete.
    network: a `recurrent.RecurrentNet` whose outputs have `q_values`
      (default `make_network`).
  """
  net = make_network(settings, spec) if network is None else network
  one_carry = ActorCarry(
      jax.tree.map(lambda x: x[0], net.initial_state(1)), spec.dummy_action,
      jnp.zeros((), jnp.float32))
  replay = offpolicy.make_sequence_replay(
      settings, spec, settings.sequence_length, settings.sequence_period, one_carry,
      settings.prioritised, settings.priority_exponent)
  opt = optim.make(eps=settings.adam_eps, clip=True,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None))

  def initial_carry(key, num_envs):
    del key
    return net.initial_state(num_envs)

  def init(key, hp):
    del hp
    params = net.init(key)
    zero = jnp.zeros((), jnp.int32)
    return State(params, params, opt.init(params), replay.init(), zero, zero)

  def act(state, carry, obs, key, hp, evaluation=False):
    q, core = net.step(state.params, carry, obs)
    if evaluation:
      return jnp.argmax(q.q_values, axis=-1).astype(jnp.int32), core, ()
    eps = actor_epsilons(hp, obs.shape[0])
    action = offpolicy.explore(
        state, key, spec, settings,
        lambda key: dqn.epsilon_greedy(key, q.q_values, eps))
    # The carry this step was taken with: replay starts sequences from it.
    return action, core, carry

  step = functools.partial(update, net=net, opt=opt, settings=settings)
  engine_learn = offpolicy.make_learn(settings, replay, step)

  def learn(state, trajectory, key, hp):
    state, metrics = engine_learn(state, trajectory, key, hp)
    metrics["train/num_updates"] = state.num_updates.astype(jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn, initial_carry=initial_carry)
