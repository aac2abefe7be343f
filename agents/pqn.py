"""PQN (Gallici et al., 2024): parallelised Q-learning without replay.

On-policy Q-learning: many parallel envs act epsilon-greedily with the
current Q network; each rollout [T, B] is turned into Q(lambda) targets
(Peng's: G_t = r_t + gamma * ((1 - lambda) max_a Q(o_t, a) + lambda G_{t+1}))
that stop at a termination and, at a time-limit truncation, bootstrap from
the pre-reset observation and cut the trace
(`returns.truncated_lambda_returns`); then `num_epochs` passes of
`num_minibatches` shuffled minibatches regress Q(o_tm1, a_tm1) on them
(`ppo.epochs`). No replay buffer and no target network: LayerNorm before
every nonlinearity of the Q network keeps the bootstrapped regression stable.
Epsilon decays linearly (`dqn.epsilon`, as DQN's); Adam with the gradient
clipped by its global norm (purejaxql's way) or, `grad_clip="value"`, each
element (rejax's), the rate optionally decayed linearly to 0
(`haikurl.optim`).

The targets use the network as it was during the rollout (learn computes
max_a Q(o_t, a) once, before its first gradient step), as purejaxql and
rejax do.

Deviations: rejax 0.1.3 and purejaxql treat a truncation as a termination
(gymnax 0.0.9 reports one `done`); here it bootstraps. Adam rather than
purejaxql's RAdam (rejax also uses Adam). rejax's Q(lambda) recursion
updates its carried value after using it, so each step t < T-1 bootstraps
from max Q two observations ahead (across an auto-reset, the next
episode's first); here, as Peng's Q(lambda) is written, the next one.

Torso (`torso`, `haikurl.networks.TorsoSettings`: 'auto' keeps the MinAtar
CNN for images, or 'mlp', 'minatar_cnn', 'impala', 'resnet') and image
augmentation of each minibatch's observations (`augmentation`,
`haikurl.augment`, in learn only; the Q(lambda) targets are those of the
observations acted on).

A variant changes the target through the `target_fn` hook of `make` and
the regression through `loss`; both receive `hp`.

Metrics (means over the learn call's minibatches):
  loss/td             0.5 * mean squared error of Q(o, a) to its target
  train/q_mean        mean Q(o_tm1, a_tm1) of the minibatches
  train/target_mean   mean Q(lambda) target of the rollout
  train/epsilon       the exploration epsilon after this rollout
  train/learning_rate the (annealed) learning rate
  train/gradient_steps  gradient steps this learn call took
"""
import dataclasses
import functools
from typing import Callable, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax

from agents import dqn
from agents import ppo
from haikurl import augment
from haikurl import networks
from haikurl import optim
from haikurl import returns
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec, Transition, check_trajectory


@dataclasses.dataclass(frozen=True)
class Settings(networks.TorsoSettings, augment.AugmentSettings):
  """PQN's static settings (defaults: configs/pqn.py's CartPole-v1 base)."""
  num_envs: int = s.setting(32, "environments stepped in parallel",
                            s.positive_int)
  rollout_length: int = s.setting(32, "env steps per env between updates",
                                  s.positive_int)
  num_epochs: int = s.setting(4, "passes over each rollout", s.positive_int)
  num_minibatches: int = s.setting(8, "minibatches per epoch",
                                   s.positive_int)
  hidden_sizes: tuple = s.setting((64, 64), "units of the Q network's MLP",
                                  s.positive_ints)
  activation: str = s.setting("relu", "MLP nonlinearity",
                              s.one_of(*networks.ACTIVATIONS))
  torso_init: str = s.setting("orthogonal", "torso weight initialisation",
                              s.one_of(*networks.TORSO_INITS))
  layer_norm: bool = s.setting(True, "LayerNorm before each nonlinearity",
                               s.boolean)
  adam_eps: float = s.setting(1e-8, "Adam's epsilon", s.number)
  grad_clip: str = s.setting(
      "global_norm", "how max_grad_norm clips the gradient: 'global_norm' "
      "(its global norm) or 'value' (each element, optax.clip, as rejax)",
      s.one_of(*optim.CLIPS))
  anneal_learning_rate: bool = s.setting(
      True, "decay the rate linearly to 0 over the run", s.boolean)

  # config.data_parallel: each device regresses on its share of the rollout,
  # gradients averaged by haikurl.optim.
  DATA_PARALLEL = True

  def check(self):
    super().check()
    if self.steps_per_learn % self.num_minibatches:
      raise ValueError(
          f"config.agent.num_minibatches={self.num_minibatches} must divide "
          f"num_envs * rollout_length = {self.num_envs} * "
          f"{self.rollout_length} = {self.steps_per_learn}.")

  @property
  def total_gradient_steps(self) -> int:
    return max(1, self.total_env_steps // self.steps_per_learn *
               self.num_epochs * self.num_minibatches)


class HParams(NamedTuple):
  learning_rate: float = 5e-4
  discount: float = 0.99
  q_lambda: float = 0.65
  epsilon_start: float = 1.0
  epsilon_end: float = 0.05
  exploration_fraction: float = 0.2  # of total_env_steps to reach epsilon_end
  max_grad_norm: float = 10.0
  reward_scale: float = 1.0  # rewards are multiplied by this in learn
  CHECKS = {"learning_rate": s.positive, "discount": s.unit_interval,
            "q_lambda": s.unit_interval, "epsilon_start": s.unit_interval,
            "epsilon_end": s.unit_interval,
            "exploration_fraction": s.positive, "max_grad_norm": s.positive}


class State(NamedTuple):
  params: hk.Params
  opt_state: optax.OptState
  env_steps: jax.Array    # [] int32 env steps taken
  num_updates: jax.Array  # [] int32 gradient steps taken


class Batch(NamedTuple):
  obs: jax.Array     # [N, ...]
  action: jax.Array  # [N]
  target: jax.Array  # [N] Q(lambda) targets


def validate(settings: Settings, spec: EnvSpec) -> None:
  """Raises ValueError with one line when the env does not fit PQN."""
  del settings
  if not spec.discrete:
    raise ValueError(f"PQN needs discrete actions, but {spec.name} has a "
                     "continuous action space; use SAC, TD3 or PPO instead.")


def make_network(settings: Settings, spec: EnvSpec):
  """The Q network: torso (LayerNorm MLP), then a linear Q head [B, A]."""
  def forward(obs):
    x = networks.torso(obs, settings.hidden_sizes, settings.activation,
                       "torso", settings.torso_init, settings.layer_norm,
                       encoder=settings.encoder)
    return networks.q_head(x, spec.num_actions)
  return hk.without_apply_rng(hk.transform(forward))


# Hooks. Each receives hp.

def q_lambda_targets(trajectory: Transition, q_t: jax.Array, hp) -> jax.Array:
  """Peng's Q(lambda) targets [T, B] of a rollout.

  Args:
    trajectory: the rollout [T, B] (reward, discount, truncated).
    q_t: [T, B, A] Q values at each step's pre-reset next observation.
    hp: `q_lambda`, `discount` and `reward_scale` (the rewards are
      multiplied by it, so Q estimates reward_scale times the return).
  """
  return returns.batched_truncated_lambda_returns(
      hp.reward_scale * trajectory.reward, hp.discount * trajectory.discount,
      trajectory.truncated, jnp.max(q_t, axis=-1), hp.q_lambda)


def squared_loss(q_a: jax.Array, batch: Batch, hp) -> jax.Array:
  """0.5 * mean squared error of Q(o, a) [N] to the targets."""
  del hp
  return 0.5 * jnp.mean(jnp.square(q_a - batch.target))


def loss_fn(params, batch: Batch, hp, *, net, loss):
  """The regression loss of a minibatch and its metrics."""
  q_values = net.apply(params, batch.obs).q_values                 # [N, A]
  q_a = jnp.take_along_axis(q_values, batch.action[:, None], axis=-1)[:, 0]
  chex.assert_equal_shape([q_a, batch.target])
  value = loss(q_a, batch, hp)
  return value, {"loss/td": value, "train/q_mean": jnp.mean(q_a)}


def update(state: State, batch: Batch, hp, *, opt: optim.Optimizer,
           **loss_args):
  """One gradient step on a minibatch."""
  grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, hp,
                                                  **loss_args)
  params, opt_state, lr = opt.step(state.params, grads, state.opt_state,
                                   hp.learning_rate, hp.max_grad_norm)
  metrics["train/learning_rate"] = lr
  return state._replace(params=params, opt_state=opt_state,
                        num_updates=state.num_updates + 1), metrics


def make(settings: Settings, spec: EnvSpec,
         target_fn: Callable = q_lambda_targets,
         loss: Callable = squared_loss) -> Agent:
  """Builds PQN's init, act and learn for `spec` from static `settings`.

  Args:
    settings: PQN's Settings.
    spec: the env's spec; actions must be discrete.
    target_fn: `(trajectory [T, B], q_t [T, B, A], hp) -> targets [T, B]`
      (default: truncation-aware Q(lambda)).
    loss: `(q_a [N], batch: Batch, hp) -> []`.
  """
  net = make_network(settings, spec)
  opt = optim.make(eps=settings.adam_eps, clip=settings.grad_clip,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None),
                   axis_name=settings.data_axis)
  step = functools.partial(update, opt=opt, net=net, loss=loss)
  gradient_steps = float(settings.num_epochs * settings.num_minibatches)
  augment_minibatch = augment.make_for_batch(settings)

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    zero = jnp.zeros((), jnp.int32)
    return State(params, opt.init(params), zero, zero)

  def act(state, obs, key, hp, evaluation=False):
    q_values = net.apply(state.params, obs).q_values               # [B, A]
    if evaluation:
      return jnp.argmax(q_values, axis=-1).astype(jnp.int32), ()
    return dqn.epsilon_greedy(
        key, q_values, dqn.epsilon(settings, hp, state.env_steps)), ()

  def learn(state, trajectory, key, hp):
    check_trajectory(trajectory, settings)
    time_batch = trajectory.reward.shape                           # (T, B)
    next_obs = trajectory.next_obs.reshape((-1,) + spec.obs_shape)
    q_t = net.apply(state.params, next_obs).q_values.reshape(
        time_batch + (spec.num_actions,))
    targets = jax.lax.stop_gradient(target_fn(trajectory, q_t, hp))
    chex.assert_equal_shape([targets, trajectory.reward])
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    batch = Batch(flat(trajectory.obs), flat(trajectory.action),
                  flat(targets))
    state, metrics = ppo.epochs(lambda st, mb: step(st, mb, hp), state, batch,
                                key, settings.num_epochs,
                                settings.num_minibatches,
                                augment=augment_minibatch)
    state = state._replace(env_steps=state.env_steps + settings.steps_per_learn)
    metrics["train/target_mean"] = jnp.mean(targets)
    metrics["train/epsilon"] = dqn.epsilon(settings, hp, state.env_steps)
    metrics["train/gradient_steps"] = jnp.asarray(gradient_steps, jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn)
