"""TD3 (Fujimoto et al., 2018) for continuous actions; DDPG with its extras off.

A deterministic tanh actor, critics Q(s, a) trained towards
`r + gamma * d * min_i Q'_i(s', clip(mu'(s') + clip(eps, -c, c), -1, 1))`,
eps ~ N(0, target_noise^2) (the minimum of twin target critics and clipped
target policy smoothing), and the actor and both targets updated every
`policy_delay` critic steps (delayed updates). The actor ascends Q_1 through
rlax's deterministic policy gradient (`rlax.dpg_loss`); critic TD errors come
from `rlax.td_learning`. Exploration adds N(0, exploration_noise^2) to the
actor's action and clips to [-1, 1] (the env's RescaleAction maps [-1, 1]
onto the true bounds). Targets are Polyak averages with rate `tau`.

`twin_critics=False, target_policy_smoothing=False, policy_delay=1` is DDPG
(Lillicrap et al., 2016) as in Fujimoto's "OurDDPG": agents/ddpg.py. Settings
`twin_critics`, `target_policy_smoothing` and `policy_delay` are static.

Deviations: gradient steps per env step (`replay_ratio`) and uniform random
actions before `learning_starts`, as in the TD3 reference code's start
steps; Adam without weight decay for both nets.

Metrics (means over a learn call's gradient steps; zeros before learning):
  loss/critic      0.5 * squared TD error, summed over critics
  loss/actor       rlax.dpg_loss: 0.5 |dQ_1/da|^2 (its gradient in a is -dQ_1/da)
  train/q          mean Q_1(s, a) of the sampled batch
  train/target     mean critic target
  train/gradient_steps  gradient steps this learn call took (0 before learning)
"""
import dataclasses
from typing import Any, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from haikurl import networks
from haikurl import offpolicy
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec


@dataclasses.dataclass(frozen=True)
class DeterministicSettings(offpolicy.ActorCriticSettings):
  """What TD3 and DDPG share (Fujimoto et al., 2018's reference code:
  25,000 random steps first); DDPG's Settings."""
  learning_starts: int = s.setting(
      25_000, "env steps of uniform random actions before learning",
      s.non_negative_int)


@dataclasses.dataclass(frozen=True)
class Settings(DeterministicSettings):
  """TD3's static settings: DDPG's and its three extras."""
  twin_critics: bool = s.setting(True, "the minimum of two target critics",
                                 s.boolean)
  target_policy_smoothing: bool = s.setting(
      True, "clipped noise on the target action", s.boolean)
  policy_delay: int = s.setting(2, "critic steps per actor and target step",
                                s.positive_int)


class HParams(NamedTuple):
  actor_learning_rate: float = 3e-4
  critic_learning_rate: float = 3e-4
  discount: float = 0.99
  tau: float = 0.005                # Polyak rate of the targets
  exploration_noise: float = 0.1    # std, in units of half the action range
  target_noise: float = 0.2         # std of the target policy smoothing noise
  target_noise_clip: float = 0.5    # the smoothing noise is clipped to +-this
  CHECKS = {"actor_learning_rate": s.positive,
            "critic_learning_rate": s.positive, "discount": s.unit_interval,
            "tau": s.unit_interval, "exploration_noise": s.non_negative,
            "target_noise": s.non_negative,
            "target_noise_clip": s.non_negative}


class State(NamedTuple):
  actor: hk.Params
  critic: hk.Params
  target_actor: hk.Params
  target_critic: hk.Params
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  buffer: Any              # flashbax buffer state
  env_steps: jax.Array     # [] int32 env steps added to the buffer
  num_updates: jax.Array   # [] int32 critic gradient steps taken


def validate(settings, spec: EnvSpec) -> None:
  """Raises a one-line ValueError for a discrete action space."""
  del settings
  if spec.discrete:
    raise ValueError(
        f"TD3 and DDPG need continuous actions but {spec.name} has "
        f"{spec.num_actions} discrete actions: use SAC (it has a discrete "
        "form) or DQN.")


def smoothed_target_action(mu_t, noise, noise_clip):
  """TD3's target policy smoothing: clip(mu + clip(noise, -c, c), -1, 1).

  Args:
    mu_t: [..., D] target actor's actions in [-1, 1].
    noise: [..., D] unclipped Gaussian noise.
    noise_clip: c, a scalar.
  """
  chex.assert_equal_shape([mu_t, noise])
  return jnp.clip(mu_t + jnp.clip(noise, -noise_clip, noise_clip), -1.0, 1.0)


def critic_target(r_t, discount_t, q_t):
  """r_t + discount_t * min_i q_t[i] for one transition.

  Args:
    r_t: [] reward.
    discount_t: [] gamma times the termination mask (0 at termination).
    q_t: [N] the N target critics' values at (s', a'); N = 1 is DDPG.
  """
  chex.assert_rank([r_t, discount_t, q_t], [0, 0, 1])
  return r_t + discount_t * jnp.min(q_t)


def make_networks(settings, spec: EnvSpec, num_critics: int = 0):
  """The actor and the critics (`num_critics` of them; 0: two with
  `twin_critics`, else one)."""
  num_critics = num_critics or (2 if settings.twin_critics else 1)

  def actor(obs):
    h = networks.torso(obs, settings.actor_hidden_sizes, settings.activation,
                       "actor", encoder=settings.encoder)
    return networks.deterministic_head(h, spec.action_dim).action

  def critic(obs, action):
    obs = networks.critic_features(obs, settings.encoder, settings.activation)
    return networks.twin_q(obs, action, settings.critic_hidden_sizes,
                           settings.activation, num_critics).q_values

  return (hk.without_apply_rng(hk.transform(actor)),
          hk.without_apply_rng(hk.transform(critic)))


def make(settings, spec: EnvSpec) -> Agent:
  """Builds TD3's (or DDPG's) init, act and learn from static `settings`."""
  actor_net, critic_net = make_networks(settings, spec)
  # Q_1 alone, applied to the first critic's slice of the critics' stacked
  # parameters (`networks.first_critic`): the actor's step computes no Q_2.
  _, q1_net = make_networks(settings, spec, num_critics=1)
  replay = offpolicy.make_replay(settings, spec)
  opt = optim.make()
  policy_delay = int(settings.policy_delay)

  def init(key, hp):
    del hp
    actor_key, critic_key = jax.random.split(key)
    obs = spec.dummy_obs[None]
    actor = actor_net.init(actor_key, obs)
    critic = critic_net.init(critic_key, obs, spec.dummy_action[None])
    zero = jnp.zeros((), jnp.int32)
    return State(actor, critic, actor, critic, opt.init(actor),
                 opt.init(critic), replay.init(), zero, zero)

  def act(state, obs, key, hp, evaluation=False):
    mu = actor_net.apply(state.actor, obs)                        # [B, D]
    if evaluation:
      return mu, ()
    def noisy(key):
      noise = hp.exploration_noise * jax.random.normal(key, mu.shape)
      return jnp.clip(mu + noise, -1.0, 1.0)
    return offpolicy.explore(state, key, spec, settings, noisy), ()

  def critic_loss(critic, state, batch, key, hp):
    a_t = actor_net.apply(state.target_actor, batch.next_obs)     # [N, D]
    if settings.target_policy_smoothing:
      noise = hp.target_noise * jax.random.normal(key, a_t.shape)
      a_t = smoothed_target_action(a_t, noise, hp.target_noise_clip)
    q_t = critic_net.apply(state.target_critic, batch.next_obs, a_t)  # [C, N]
    discount_t = batch.discount                   # gamma, 0 at termination
    target = jax.vmap(critic_target)(batch.reward, discount_t, q_t.T)  # [N]
    q_tm1 = critic_net.apply(critic, batch.obs, batch.action)     # [C, N]
    # td_learning(v_tm1, r, d, v_t) = r + d v_t - v_tm1; with d = 0 and
    # v_t = target it is target - q_tm1, with the target's gradient stopped.
    zeros = jnp.zeros_like(target)
    td = jax.vmap(jax.vmap(rlax.td_learning), (0, None, None, None))(
        q_tm1, target, zeros, zeros)                               # [C, N]
    chex.assert_equal_shape([td, q_tm1])
    loss = jnp.sum(jnp.mean(rlax.l2_loss(td), axis=-1))
    return loss, {"loss/critic": loss, "train/q": jnp.mean(q_tm1[0]),
                  "train/target": jnp.mean(target)}

  def actor_loss(actor, critic, obs):
    a = actor_net.apply(actor, obs)                               # [N, D]
    # dQ_1/da per sample (the samples are independent, so the gradient of
    # the sum is each sample's own gradient). dpg_loss stops its gradient;
    # stopping it at `a` already keeps the actor's gradient from tracing
    # through the critic's backward pass (a third more products per step).
    q1 = networks.first_critic(critic)
    dqda = jax.grad(lambda a: jnp.sum(q1_net.apply(q1, obs, a)[0]))(
        jax.lax.stop_gradient(a))
    loss = jnp.mean(jax.vmap(rlax.dpg_loss)(a, dqda))
    return loss, {"loss/actor": loss}

  def update(state, sample, key, hp):
    batch = sample.batch
    (_, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic, state, batch, key, hp)
    critic, critic_opt, _ = opt.step(
        state.critic, grads, state.critic_opt, hp.critic_learning_rate)
    num_updates = state.num_updates + 1
    state = state._replace(critic=critic, critic_opt=critic_opt,
                           num_updates=num_updates)

    def delayed(state):
      (_, m), grads = jax.value_and_grad(actor_loss, has_aux=True)(
          state.actor, state.critic, batch.obs)
      actor, actor_opt, _ = opt.step(
          state.actor, grads, state.actor_opt, hp.actor_learning_rate)
      return state._replace(
          actor=actor, actor_opt=actor_opt,
          target_actor=optax.incremental_update(actor, state.target_actor,
                                                hp.tau),
          target_critic=optax.incremental_update(
              state.critic, state.target_critic, hp.tau)), m

    if policy_delay == 1:
      state, m = delayed(state)
    else:
      # As the reference code: the actor and targets move when the count of
      # critic steps is a multiple of policy_delay (steps d, 2d, ...).
      # num_updates stays unbatched under vmap, so this is a real branch.
      def hold(state):
        return state, {"loss/actor": jnp.zeros((), jnp.float32)}
      state, m = jax.lax.cond(num_updates % policy_delay == 0, delayed, hold,
                              state)
    metrics.update(m)
    return state, metrics, None

  return Agent(init=init, act=act,
               learn=offpolicy.make_learn(settings, replay, update))
