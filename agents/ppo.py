"""PPO (Schulman et al., 2017) for discrete and continuous actions.

Clipped surrogate from rlax, GAE that bootstraps through time-limit
truncation from the true last observation (`haikurl.returns`), optionally
clipped value loss, entropy bonus, epochs x minibatches of shuffled samples,
global gradient-norm clipping, linear learning-rate annealing. Torsos
(`torso`: MLP, MinAtar CNN, IMPALA CNN, ResNet) from `networks.TorsoSettings`;
image augmentation of each minibatch's observations (`augmentation`, DrQ's
random shift and a colour jitter, `haikurl.augment`) in `learn` only. With
augmentation the ratio compares pi(a | aug(s)) with the behaviour
pi_old(a | s) (the plain form; Raileanu et al. 2021, DrAC, regularise
instead).

Deviations from the paper: separate actor and critic MLPs (as CleanRL and
PureJaxRL); advantages normalised per minibatch when
`normalize_advantages`; one sort of packed keys per shuffle (`shuffle`)
rather than `jax.random.permutation`, which sorts twice.

A variant passes its own pieces to `make`: `policy_loss`, `advantage_fn`
(advantages from the rollout's rewards, discounts and values) and
`value_loss`; each receives `hp`, so a variant's own traced coefficients
(`haikurl.settings.extend_hparams`) can be swept.

Metrics (means over the update's minibatches):
  loss/total        pg + value_coef * value - entropy_coef * entropy
  loss/policy       rlax clipped surrogate loss
  loss/value        0.5 * squared error to the GAE target (clipped if set)
  loss/entropy      mean entropy of the policy
  train/approx_kl   mean of (ratio - 1) - log ratio
  train/clip_fraction  fraction of samples whose ratio left [1-eps, 1+eps]
  train/learning_rate  the (annealed) learning rate used
  train/gradient_steps gradient steps this learn call took
"""
import dataclasses
import functools
from typing import Callable, NamedTuple, Optional

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from haikurl import augment
from haikurl import networks
from haikurl import optim
from haikurl import returns
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec, Transition, check_trajectory


@dataclasses.dataclass(frozen=True)
class Settings(networks.TorsoSettings, augment.AugmentSettings):
  """PPO's static settings (defaults: configs/ppo.py's CartPole-v1 preset)."""
  num_envs: int = s.setting(16, "environments stepped in parallel",
                            s.positive_int)
  rollout_length: int = s.setting(32, "env steps per env between updates",
                                  s.positive_int)
  num_epochs: int = s.setting(4, "passes over each rollout", s.positive_int)
  num_minibatches: int = s.setting(8, "minibatches per epoch", s.positive_int)
  hidden_sizes: tuple = s.setting((64, 64), "units of the actor's and the "
                                  "critic's MLP layers", s.positive_ints)
  activation: str = s.setting("tanh", "MLP nonlinearity",
                              s.one_of(*networks.ACTIVATIONS))
  normalize_advantages: bool = s.setting(
      True, "normalise advantages per minibatch", s.boolean)
  clip_value_loss: bool = s.setting(
      False, "clip the value loss around the rollout's values", s.boolean)
  anneal_learning_rate: bool = s.setting(
      True, "decay the rate linearly to 0 over the run", s.boolean)
  optimizer: str = s.setting("adam", "'adam' or 'rmsprop' (eps 1e-5 both)",
                             s.one_of(*optim.KINDS))

  # config.data_parallel: each device learns on its share of the rollout
  # (num_minibatches minibatches of its own samples per epoch, advantages
  # normalised over its minibatch), gradients averaged by haikurl.optim.
  DATA_PARALLEL = True

  def check(self):
    super().check()
    if self.steps_per_learn % self.num_minibatches:
      raise ValueError(
          f"config.agent.num_minibatches={self.num_minibatches} must divide "
          f"num_envs * rollout_length = {self.num_envs} * "
          f"{self.rollout_length} = {self.steps_per_learn}.")

  @property
  def minibatch_size(self) -> int:
    return self.steps_per_learn // self.num_minibatches

  @property
  def total_gradient_steps(self) -> int:
    updates_per_learn = self.num_epochs * self.num_minibatches
    return max(1, self.total_env_steps // self.steps_per_learn *
               updates_per_learn)


class HParams(NamedTuple):
  learning_rate: float = 2.5e-3
  discount: float = 0.99
  gae_lambda: float = 0.95
  clip_epsilon: float = 0.2
  value_clip_epsilon: float = 0.2
  value_coef: float = 0.5
  entropy_coef: float = 0.01
  max_grad_norm: float = 0.5
  reward_scale: float = 1.0  # rewards are multiplied by this in learn
  CHECKS = {"learning_rate": s.positive, "discount": s.unit_interval,
            "gae_lambda": s.unit_interval, "clip_epsilon": s.non_negative,
            "value_clip_epsilon": s.non_negative,
            "value_coef": s.non_negative, "entropy_coef": s.non_negative,
            "max_grad_norm": s.positive}


class State(NamedTuple):
  params: hk.Params
  opt_state: optax.OptState
  num_updates: jax.Array  # [] int32 gradient steps taken


class Extras(NamedTuple):
  log_prob: jax.Array  # [B]
  value: jax.Array     # [B]


class Batch(NamedTuple):
  obs: jax.Array
  action: jax.Array
  log_prob: jax.Array
  value: jax.Array
  advantage: jax.Array
  target: jax.Array


class AdvantageInputs(NamedTuple):
  """What an advantage hook sees of a rollout; every field [T, B].

  Attributes:
    r_t: rewards (times hp.reward_scale).
    discount_t: hp.discount at a continuing step, 0 at a termination.
    truncated_t: True where a time limit cut the episode: the trace must
      stop there, but `v_t` (the true last observation's value) bootstraps.
    v_tm1: values of the observations acted on.
    v_t: values of the observations reached, before any auto-reset.
  """
  r_t: jax.Array
  discount_t: jax.Array
  truncated_t: jax.Array
  v_tm1: jax.Array
  v_t: jax.Array


def make_network(settings: Settings, spec: EnvSpec):
  """Actor and critic as separate torsos; returns (policy head output, value)."""
  def forward(obs):
    actor = networks.torso(obs, settings.hidden_sizes, settings.activation,
                           "actor", encoder=settings.encoder)
    critic = networks.torso(obs, settings.hidden_sizes, settings.activation,
                            "critic", encoder=settings.encoder)
    if spec.discrete:
      policy = networks.categorical_head(actor, spec.num_actions)
    else:
      policy = networks.gaussian_head(actor, spec.action_dim)
    return policy, networks.value_head(critic).value
  return hk.without_apply_rng(hk.transform(forward))


# Up to this many items, `shuffle` sorts one array of packed keys (see it).
PACKED_SHUFFLE_MAX = 4096


def shuffle(key, n: int) -> jax.Array:
  """A random permutation of range(n) [n] int32, from one sort.

  Up to PACKED_SHUFFLE_MAX items, each item's key packs random high bits
  above its index XOR a random mask (k = bits of n - 1): one uint32 array,
  sorted by value, whose low k bits XOR the mask give the permutation. XLA's
  CPU sort of one array of numbers takes about a fifth of the time of a
  sort of keys carrying their indices (`argsort`: 140 against 660 us for
  4,096 items, measured), which PPO at rejax's settings runs 8 times per
  update. Items whose random bits tie (about 8 pairs per 4,096-item
  shuffle, at 20 random bits) are ordered by their masked indices: each
  pair by a fair coin (argsort would keep index order), though pairs whose
  indices first differ at the same bit share that coin, and ties of three
  or more (about 0.01 per shuffle) are not ordered uniformly. Tied items
  are adjacent, so they land in the same minibatch either way unless they
  straddle a boundary. Larger n: `argsort` of 32 random bits.
  """
  k = max(1, (n - 1).bit_length())
  if n > PACKED_SHUFFLE_MAX:
    return jnp.argsort(jax.random.bits(key, (n,))).astype(jnp.int32)
  bits = jax.random.bits(key, (n + 1,), jnp.uint32)
  low = jnp.uint32((1 << k) - 1)
  mask = bits[n] & low
  index = jnp.arange(n, dtype=jnp.uint32) ^ mask
  packed = jnp.sort((bits[:n] & ~low) | index)
  return ((packed & low) ^ mask).astype(jnp.int32)


def take_rows(batch, idx):
  """The rows `idx` of every [N, ...] leaf of `batch`."""
  return jax.tree.map(lambda x: x[idx], batch)


def epochs(step: Callable, state, batch, key, num_epochs: int,
           num_minibatches: int, *, num_samples: Optional[int] = None,
           take: Callable = take_rows, augment: Optional[Callable] = None):
  """`num_epochs` passes of shuffled minibatches over a batch.

  Args:
    step: `step(state, minibatch) -> (state, metrics)`, one gradient step.
    state: the learner's state.
    batch: a pytree of [N, ...] arrays (or what `take` reads).
    key: the shuffles' key (one permutation per epoch).
    num_epochs, num_minibatches: static; `num_minibatches` must divide
      `num_samples`.
    num_samples: how many units are shuffled (default: N, the leading size
      of `batch`'s leaves; recurrent PPO shuffles whole environments).
    take: `take(batch, indices [num_samples // num_minibatches]) ->
      minibatch` (default: those rows of every leaf).
    augment: `augment(key, minibatch) -> minibatch`, applied to every
      minibatch with a key of its own (image augmentation); None draws no
      key, so the program is that without augmentation, bit for bit.

  Returns:
    (state, metrics averaged over every minibatch of every epoch).
  """
  if num_samples is None:
    num_samples = jax.tree.leaves(batch)[0].shape[0]

  def epoch(state, key):
    if augment is not None:
      key, *keys = jax.random.split(key, num_minibatches + 1)
    order = shuffle(key, num_samples)
    if take is take_rows:
      # One gather of the whole batch per epoch, then the minibatches are
      # consecutive slices: the same rows in the same order as gathering
      # each minibatch, in fewer operations.
      xs = jax.tree.map(
          lambda x: x[order].reshape((num_minibatches, -1) + x.shape[1:]),
          batch)
      get = lambda minibatch: minibatch
    else:
      xs = order.reshape(num_minibatches, -1)
      get = lambda idx: take(batch, idx)
    if augment is None:
      return jax.lax.scan(lambda st, x: step(st, get(x)), state, xs)
    return jax.lax.scan(
        lambda st, x_key: step(st, augment(x_key[1], get(x_key[0]))),
        state, (xs, jnp.stack(keys)))

  state, metrics = jax.lax.scan(epoch, state,
                                jax.random.split(key, num_epochs))
  return state, jax.tree.map(jnp.mean, metrics)


# Hooks. Each receives hp, so a variant's traced coefficients reach it.

def clipped_surrogate(ratio, advantage, hp):
  """PPO's policy loss: rlax's clipped surrogate, [N] -> []."""
  return rlax.clipped_surrogate_pg_loss(ratio, advantage, hp.clip_epsilon)


def gae(inputs: AdvantageInputs, hp) -> jax.Array:
  """Truncation-aware GAE(hp.gae_lambda): [T, B] advantages."""
  return returns.batched_truncated_gae(
      inputs.r_t, inputs.discount_t, inputs.truncated_t, inputs.v_tm1,
      inputs.v_t, hp.gae_lambda)


def squared_value_loss(value, batch: Batch, hp, settings: Settings):
  """0.5 * mean squared error to the target, clipped around the rollout's
  values (by hp.value_clip_epsilon) when settings.clip_value_loss."""
  value_error = value - batch.target
  if settings.clip_value_loss:
    clipped = batch.value + jnp.clip(value - batch.value,
                                     -hp.value_clip_epsilon,
                                     hp.value_clip_epsilon)
    return 0.5 * jnp.mean(jnp.maximum(jnp.square(value_error),
                                      jnp.square(clipped - batch.target)))
  return 0.5 * jnp.mean(jnp.square(value_error))


def loss_fn(params, batch: Batch, hp, *, net, settings, policy_loss,
            value_loss):
  """PPO's total loss on a minibatch, and its metrics."""
  policy, value = net.apply(params, batch.obs)
  dist = networks.distribution(policy)
  log_prob = dist.log_prob(batch.action)
  log_ratio = log_prob - batch.log_prob
  ratio = jnp.exp(log_ratio)
  advantage = batch.advantage
  if settings.normalize_advantages:
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
  chex.assert_equal_shape([ratio, advantage])
  pg_loss = policy_loss(ratio, advantage, hp)
  v_loss = value_loss(value, batch, hp, settings)
  entropy = jnp.mean(dist.entropy())
  total = pg_loss + hp.value_coef * v_loss - hp.entropy_coef * entropy
  metrics = {
      "loss/total": total,
      "loss/policy": pg_loss,
      "loss/value": v_loss,
      "loss/entropy": entropy,
      "train/approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
      "train/clip_fraction": jnp.mean(
          (jnp.abs(ratio - 1.0) > hp.clip_epsilon).astype(jnp.float32)),
  }
  return total, metrics


def update(state: State, batch: Batch, hp, *, opt: optim.Optimizer, **loss_args):
  """One gradient step on a minibatch."""
  grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, hp,
                                                  **loss_args)
  params, opt_state, lr = opt.step(state.params, grads, state.opt_state,
                                   hp.learning_rate, hp.max_grad_norm)
  metrics["train/learning_rate"] = lr
  return State(params, opt_state, state.num_updates + 1), metrics


def make_batch(params, trajectory: Transition, hp, *, net, spec: EnvSpec,
               advantage_fn) -> Batch:
  """The rollout [T, B] -> a flat Batch [T * B] with advantages and targets."""
  extras = trajectory.extras
  time_batch = trajectory.reward.shape                           # (T, B)
  next_obs = trajectory.next_obs.reshape((-1,) + spec.obs_shape)
  _, next_value = net.apply(params, next_obs)
  inputs = AdvantageInputs(
      r_t=hp.reward_scale * trajectory.reward,
      discount_t=hp.discount * trajectory.discount,
      truncated_t=trajectory.truncated, v_tm1=extras.value,
      v_t=next_value.reshape(time_batch))
  advantage = advantage_fn(inputs, hp)
  chex.assert_equal_shape([advantage, extras.value])
  batch = Batch(trajectory.obs, trajectory.action, extras.log_prob,
                extras.value, advantage, advantage + extras.value)
  batch = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)
  return jax.lax.stop_gradient(batch)


def make(settings: Settings, spec: EnvSpec,
         policy_loss: Callable = clipped_surrogate,
         advantage_fn: Callable = gae,
         value_loss: Callable = squared_value_loss) -> Agent:
  """Builds PPO's init, act and learn for `spec` from static `settings`.

  Args:
    settings: PPO's Settings.
    spec: the environment's EnvSpec.
    policy_loss: `(ratio [N], advantage [N], hp) -> []`, e.g. an unclipped
      or KL-penalised objective.
    advantage_fn: `(AdvantageInputs [T, B], hp) -> advantages [T, B]`; the
      value target is advantage + v_tm1.
    value_loss: `(value [N], batch: Batch, hp, settings) -> []`.
  """
  net = make_network(settings, spec)
  opt = optim.make(eps=1e-5, clip=True, kind=settings.optimizer,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None),
                   axis_name=settings.data_axis)
  step = functools.partial(update, opt=opt, net=net, settings=settings,
                           policy_loss=policy_loss, value_loss=value_loss)
  gradient_steps = float(settings.num_epochs * settings.num_minibatches)
  augment_minibatch = augment.make_for_batch(settings)

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    return State(params, opt.init(params), jnp.zeros((), jnp.int32))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    policy, value = net.apply(state.params, obs)
    if evaluation:
      return networks.greedy_action(policy), ()
    dist = networks.distribution(policy)
    action, log_prob = dist.sample_and_log_prob(seed=key)
    return action, Extras(log_prob, value)

  def learn(state, trajectory, key, hp):
    check_trajectory(trajectory, settings)
    batch = make_batch(state.params, trajectory, hp, net=net, spec=spec,
                       advantage_fn=advantage_fn)

    state, metrics = epochs(lambda st, mb: step(st, mb, hp), state, batch,
                            key, settings.num_epochs,
                            settings.num_minibatches,
                            augment=augment_minibatch)
    metrics["train/gradient_steps"] = jnp.asarray(gradient_steps, jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn)
