"""Implicit Q-learning (Kostrikov, Nair and Levine, 2021), offline.

IQL never queries Q at actions outside the dataset. Each gradient step:
  value   V(s) regresses the target critics' min_i Q'_i(s, a) at dataset
          actions with the expectile loss (rlax.expectile_loss, expectile
          tau > 0.5 leans towards the upper expectile: an in-sample
          maximum);
  critic  twin Q_i(s, a) regress r + gamma * d * V(s') (rlax.td_learning,
          0.5 * squared error summed over critics; d = 0 only at a
          termination, so a truncated step bootstraps);
  actor   advantage-weighted regression: maximise
          w * log pi(a|s), w = min(exp(beta * (min_i Q'_i(s, a) - V(s))),
          max_weight), the weights' gradient stopped;
then the target critics follow with Polyak rate `tau`. The order (value,
then actor and critic from the new value) is the paper's code's.

Continuous actions: the policy is the paper's Gaussian with tanh mean and
state-independent log-std (agents/bc.py, `policy="gaussian"`), critics are
SAC's (`networks.twin_q`); discrete actions: a categorical policy and
critics Q_i(s, .) over all actions (the same update, Q read at the dataset
action). Greedy evaluation: the policy's mean or argmax.

The actor's rate decays to 0 over the run on a cosine (the paper's code;
`actor_decay="constant"` keeps it).

Deviations: no dropout.

Metrics:
  loss/value, loss/critic, loss/actor   the three losses above
  train/v          mean V(s) of the batch
  train/q          mean Q_1(s, a)
  train/advantage  mean min_i Q'_i(s, a) - V(s)
  train/weight     mean (clipped) advantage weight
  train/gradient_steps  1.0 per learn call
"""
import dataclasses
from typing import NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from agents import bc
from agents import sac
from haikurl import networks
from haikurl import offline
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec

OFFLINE = True


@dataclasses.dataclass(frozen=True)
class Settings(offline.Settings, networks.TorsoSettings):
  """IQL's static settings (the paper's: 256-256 ReLU MLPs, batch 256)."""
  actor_hidden_sizes: tuple = s.setting(
      (256, 256), "units of the policy MLP", s.positive_ints)
  critic_hidden_sizes: tuple = s.setting(
      (256, 256), "units of each critic's and the value's MLP",
      s.positive_ints)
  activation: str = s.setting("relu", "nonlinearity of every MLP",
                              s.one_of(*networks.ACTIVATIONS))
  policy: str = s.setting(
      "auto", "policy head (agents/bc.py): 'categorical', 'gaussian', "
      "'tanh_gaussian'; 'auto': categorical or gaussian by the env",
      s.one_of("auto", "categorical", "gaussian", "tanh_gaussian"))
  action_margin: float = s.setting(
      1e-4, "tanh_gaussian: dataset actions clipped to [-1 + m, 1 - m]",
      s.number)
  actor_decay: str = s.setting(
      "cosine", "the actor's rate over the run: 'cosine' decay to 0 (the "
      "paper's) or 'constant'", s.one_of("cosine", "constant"))


class HParams(NamedTuple):
  actor_learning_rate: float = 3e-4
  critic_learning_rate: float = 3e-4
  value_learning_rate: float = 3e-4
  discount: float = 0.99
  tau: float = 0.005         # Polyak rate of the target critics
  expectile: float = 0.7     # of the value loss (paper: 0.7 locomotion)
  temperature: float = 3.0   # beta, inverse temperature of the weights
  max_weight: float = 100.0  # clip of exp(beta * advantage)
  CHECKS = {"actor_learning_rate": s.positive,
            "critic_learning_rate": s.positive,
            "value_learning_rate": s.positive, "discount": s.unit_interval,
            "tau": s.unit_interval, "expectile": s.unit_interval,
            "temperature": s.non_negative, "max_weight": s.positive}


class State(NamedTuple):
  actor: hk.Params
  critic: hk.Params
  target_critic: hk.Params
  value: hk.Params
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  value_opt: optax.OptState
  num_updates: jax.Array  # [] int32 gradient steps taken


def validate(settings: Settings, spec: EnvSpec) -> None:
  bc.validate(settings, spec)


def q_at(q_values: jax.Array, action: jax.Array, discrete: bool) -> jax.Array:
  """[C, N] critics at the dataset actions: q_values is [C, N] (continuous,
  already at them) or [C, N, A] (discrete)."""
  if not discrete:
    return q_values
  index = jnp.broadcast_to(action[None, :, None].astype(jnp.int32),
                           q_values.shape[:2] + (1,))
  return jnp.take_along_axis(q_values, index, axis=-1)[..., 0]


def expectile_value_loss(v: jax.Array, q: jax.Array, expectile) -> jax.Array:
  """[] mean expectile loss of V(s) [N] against target Q(s, a) [N]:
  |expectile - 1(q < v)| * (q - v)^2 (rlax.expectile_loss)."""
  chex.assert_equal_shape([v, q])
  return jnp.mean(rlax.expectile_loss(v, jax.lax.stop_gradient(q),
                                      expectile))


def awr_weights(advantage: jax.Array, temperature, max_weight) -> jax.Array:
  """[N] min(exp(beta * A), max_weight), gradients stopped."""
  return jax.lax.stop_gradient(
      jnp.minimum(jnp.exp(temperature * advantage), max_weight))


def make_networks(settings: Settings, spec: EnvSpec):
  """(actor, critic, value, policy kind): the actor is BC's policy network,
  the twin critics SAC's (`sac.make_networks`), the value an MLP on the
  same torso."""
  kind = bc.policy_kind(settings, spec)
  actor = bc.make_policy_network(settings.actor_hidden_sizes,
                                 settings.activation, kind, spec, "actor",
                                 settings.encoder)
  _, critic = sac.make_networks(settings, spec)

  def value(obs):
    h = networks.torso(obs, settings.critic_hidden_sizes, settings.activation,
                       "value", encoder=settings.encoder)
    return networks.value_head(h).value

  return actor, critic, hk.without_apply_rng(hk.transform(value)), kind


def make(settings: Settings, spec: EnvSpec) -> Agent:
  """Builds IQL's init, act and learn."""
  actor_net, critic_net, value_net, kind = make_networks(settings, spec)
  discrete = spec.discrete
  opt = optim.make()
  actor_opt = offline.actor_optimizer(settings) or opt

  def critic_apply(params, obs, action):
    return critic_net.apply(params, obs, None if discrete else action)

  def init(key, hp):
    del hp
    actor_key, critic_key, value_key = jax.random.split(key, 3)
    obs = spec.dummy_obs[None]
    actor = actor_net.init(actor_key, obs)
    critic = critic_net.init(critic_key, obs,
                             None if discrete else spec.dummy_action[None])
    value = value_net.init(value_key, obs)
    return State(actor, critic, critic, value, actor_opt.init(actor),
                 opt.init(critic), opt.init(value), jnp.zeros((), jnp.int32))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    out = actor_net.apply(state.actor, obs)
    return (bc.greedy(out, kind) if evaluation
            else bc.sample(out, kind, key)), ()

  def value_loss(value, q_target, batch, hp):
    v = value_net.apply(value, batch.obs)
    loss = expectile_value_loss(v, q_target, hp.expectile)
    return loss, {"loss/value": loss, "train/v": jnp.mean(v)}

  def critic_loss(critic, value, batch, hp):
    v_t = jax.lax.stop_gradient(value_net.apply(value, batch.next_obs))
    q_tm1 = q_at(critic_apply(critic, batch.obs, batch.action), batch.action,
                 discrete)                                          # [2, N]
    td = jax.vmap(jax.vmap(rlax.td_learning), (0, None, None, None))(
        q_tm1, batch.reward, hp.discount * batch.discount, v_t)
    loss = jnp.sum(jnp.mean(rlax.l2_loss(td), axis=-1))
    return loss, {"loss/critic": loss, "train/q": jnp.mean(q_tm1[0])}

  def actor_loss(actor, weights, batch):
    out = actor_net.apply(actor, batch.obs)
    lp = bc.log_prob(out, kind, batch.action, settings.action_margin)
    chex.assert_equal_shape([lp, weights])
    loss = -jnp.mean(weights * lp)
    return loss, {"loss/actor": loss}

  def learn(state, batch, key, hp):
    del key
    q_target = jnp.min(q_at(critic_apply(state.target_critic, batch.obs,
                                         batch.action), batch.action,
                            discrete), axis=0)                      # [N]
    grads, metrics = jax.grad(value_loss, has_aux=True)(
        state.value, q_target, batch, hp)
    value, value_opt, _ = opt.step(state.value, grads, state.value_opt,
                                   hp.value_learning_rate)

    advantage = q_target - value_net.apply(value, batch.obs)
    weights = awr_weights(advantage, hp.temperature, hp.max_weight)
    grads, actor_metrics = jax.grad(actor_loss, has_aux=True)(
        state.actor, weights, batch)
    actor, actor_opt_state, _ = actor_opt.step(
        state.actor, grads, state.actor_opt, hp.actor_learning_rate)

    grads, critic_metrics = jax.grad(critic_loss, has_aux=True)(
        state.critic, value, batch, hp)
    critic, critic_opt, _ = opt.step(state.critic, grads, state.critic_opt,
                                     hp.critic_learning_rate)
    target = optax.incremental_update(critic, state.target_critic, hp.tau)

    metrics.update(actor_metrics)
    metrics.update(critic_metrics)
    metrics.update({"train/advantage": jnp.mean(advantage),
                    "train/weight": jnp.mean(weights),
                    "train/gradient_steps": jnp.ones((), jnp.float32)})
    return State(actor, critic, target, value, actor_opt_state, critic_opt,
                 value_opt, state.num_updates + 1), metrics

  return Agent(init=init, act=act, learn=learn)
