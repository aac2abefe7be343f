"""Soft actor-critic: continuous (Haarnoja et al., 2018) and discrete
(Christodoulou, 2019), chosen by the env's action space.

Continuous: a tanh-squashed diagonal Gaussian policy whose log-probability
carries the change-of-variables term (distrax `Transformed` with a `Tanh`
bijector, `networks.tanh_gaussian`), twin critics Q_i(s, a) trained towards
`r + gamma * d * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))`, a' ~ pi(s'),
and the actor minimising `alpha * log pi(a|s) - min_i Q_i(s, a)` with a
reparameterised sample. Target entropy: `-target_entropy_ratio * action_dim`
(Haarnoja's -dim heuristic at ratio 1).

Discrete: a categorical policy, critics Q_i(s, .) over all actions, the soft
value taken in expectation over the policy,
`V(s') = sum_a pi(a|s') (min_i Q'_i(s', a) - alpha * log pi(a|s'))`, and the
actor loss `sum_a pi(a|s) (alpha * log pi(a|s) - min_i Q_i(s, a))`, with no
sampling. Target entropy: `target_entropy_ratio * log(num_actions)`, a
fraction of the maximum entropy (the paper uses 0.98).

Both: the temperature alpha = exp(log_alpha) follows the loss
`-log_alpha * stop_gradient(log pi + target_entropy)` (mean over states, and
over actions under pi when discrete), so alpha rises while the entropy is
below the target; critic TD errors come from `rlax.td_learning`; targets are
Polyak averages with rate `tau`, updated every gradient step. Each gradient
step updates the critics, then the actor and the temperature on the same
batch (the actor sees the freshly updated critics).

Deviations: gradient steps per env step (`replay_ratio`), uniform random
actions before `learning_starts`; the greedy (evaluation) action is
tanh(mean), or the argmax of the logits.

Metrics (means over a learn call's gradient steps; zeros before learning):
  loss/critic      0.5 * squared TD error, summed over critics
  loss/actor       the actor loss above
  loss/alpha       the temperature loss above
  train/alpha      the temperature after the step
  train/entropy    policy entropy estimate (-log pi; exact when discrete)
  train/q          mean Q_1(s, a) of the sampled batch
  train/gradient_steps  gradient steps this learn call took (0 before learning)
"""
import dataclasses
from typing import Any, NamedTuple, Optional

import chex
import distrax
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
class Settings(offpolicy.ActorCriticSettings):
  """SAC's static settings: the shared actor-critic ones (Haarnoja et al.,
  2018: 256-256 ReLU, batch 256, a 1M buffer, 10k random steps)."""


class HParams(NamedTuple):
  actor_learning_rate: float = 3e-4
  critic_learning_rate: float = 3e-4
  alpha_learning_rate: float = 3e-4
  discount: float = 0.99
  tau: float = 0.005                # Polyak rate of the target critics
  initial_alpha: float = 1.0        # temperature at initialisation
  target_entropy_ratio: float = 1.0  # see the module docstring
  CHECKS = {"actor_learning_rate": s.positive,
            "critic_learning_rate": s.positive,
            "alpha_learning_rate": s.positive, "discount": s.unit_interval,
            "tau": s.unit_interval, "initial_alpha": s.positive,
            "target_entropy_ratio": s.non_negative}


class State(NamedTuple):
  actor: hk.Params
  critic: hk.Params
  target_critic: hk.Params
  log_alpha: jax.Array     # [] log temperature
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  alpha_opt: optax.OptState
  buffer: Any              # flashbax buffer state
  env_steps: jax.Array     # [] int32 env steps added to the buffer
  num_updates: jax.Array   # [] int32 gradient steps taken


def target_entropy(spec: EnvSpec, ratio):
  """-ratio * action_dim (continuous) or ratio * log(num_actions) (discrete)."""
  if spec.discrete:
    return ratio * jnp.log(float(spec.num_actions))
  return -ratio * float(spec.action_dim)


def temperature_loss(log_alpha, log_prob, target):
  """-log_alpha * (log pi + target entropy), the gradient stopped in log pi.

  Args:
    log_alpha: [] log temperature.
    log_prob: [N] log pi(a|s) of sampled actions, or -entropy of pi(.|s)
      for a discrete policy (the expectation of log pi under pi).
    target: [] target entropy.
  Returns:
    [] the loss. Its gradient in log_alpha is -mean(log pi) - target =
    entropy - target: negative (alpha grows) while the entropy is below
    the target.
  """
  chex.assert_rank([log_alpha, log_prob], [0, 1])
  return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_prob) + target)


def make_networks(settings, spec: EnvSpec):
  def actor(obs):
    h = networks.torso(obs, settings.actor_hidden_sizes, settings.activation,
                       "actor", encoder=settings.encoder)
    if spec.discrete:
      return networks.categorical_head(h, spec.num_actions)
    return networks.tanh_gaussian_head(h, spec.action_dim)

  def critic(obs, action):
    obs = networks.critic_features(obs, settings.encoder, settings.activation)
    return networks.twin_q(obs, action, settings.critic_hidden_sizes,
                           settings.activation, 2, spec.num_actions).q_values

  return (hk.without_apply_rng(hk.transform(actor)),
          hk.without_apply_rng(hk.transform(critic)))


class Parts(NamedTuple):
  """SAC's pieces without replay, for `make` and for variants that learn
  from other batches (agents/cql.py: CQL on SAC's critics, offline).

  init(key, hp) -> State with `buffer=()`;
  policy(actor_params, obs) -> (head output, distrax distribution);
  critic_apply(critic_params, obs, action) -> [2, N] (continuous) or
    [2, N, A] (discrete, the action ignored);
  update(state, sample: offpolicy.Sample, key, hp) -> (state, metrics,
    None): one gradient step of the critics, then the actor and the
    temperature. `sample.batch.discount` is the full bootstrap discount
    (gamma, 0 at termination). `state` may be any NamedTuple with State's
    learner fields (actor, critic, target_critic, log_alpha, the three
    optimiser states, num_updates).
  """
  init: Any
  policy: Any
  critic_apply: Any
  update: Any


def make_parts(settings, spec: EnvSpec, critic_penalty=None,
               actor_objective=None, soft_backup: bool = True,
               actor_optimizer: Optional[optim.Optimizer] = None) -> Parts:
  """SAC's networks, losses and gradient step (see `Parts`).

  Args:
    settings: actor_hidden_sizes, critic_hidden_sizes, activation, encoder.
    spec: the env's spec.
    critic_penalty: an optional hook added to the critic loss,
      `critic_penalty(critic_params, state, batch, key, hp, q_tm1) ->
      (loss [], metrics)`, with `q_tm1` [2, N] the critics at the batch's
      actions (gradients flow through it and through `critic_params`);
      its key is split off the critic loss's own, so without a penalty
      every key is SAC's.
    actor_objective: an optional hook for continuous actions replacing
      what the actor maximises beside its entropy,
      `actor_objective(q [N], dist, batch, num_updates) -> [N]` (default:
      q, SAC's); CQL's behaviour-cloning warm-up returns the dataset
      actions' log-probability for its first steps.
    soft_backup: the critics' target includes the entropy term
      (-alpha log pi(a'|s'), SAC's); False: the target critics' value at the
      sampled next action alone (CQL's "deterministic backup" on D4RL).
    actor_optimizer: the actor's optimiser (default: the critics' and the
      temperature's, Adam with a constant rate); CQL's `actor_decay` passes
      one whose rate decays on a cosine.
  """
  actor_net, critic_net = make_networks(settings, spec)
  opt = optim.make()
  actor_opt = opt if actor_optimizer is None else actor_optimizer
  discrete = spec.discrete

  def critic_apply(params, obs, action):
    # Discrete critics see no action: they return [2, N, A].
    return critic_net.apply(params, obs, None if discrete else action)

  def init(key, hp):
    actor_key, critic_key = jax.random.split(key)
    obs = spec.dummy_obs[None]
    actor = actor_net.init(actor_key, obs)
    critic = critic_net.init(critic_key, obs,
                             None if discrete else spec.dummy_action[None])
    log_alpha = jnp.log(hp.initial_alpha).astype(jnp.float32)
    zero = jnp.zeros((), jnp.int32)
    return State(actor, critic, critic, log_alpha, actor_opt.init(actor),
                 opt.init(critic), opt.init(log_alpha), (), zero, zero)

  def policy(params, obs):
    out = actor_net.apply(params, obs)
    if discrete:
      return out, distrax.Categorical(logits=out.logits)
    return out, networks.tanh_gaussian(out)

  def soft_value(actor, target_critic, obs, key, alpha):
    """[N] soft value of `obs` under the target critics."""
    _, dist = policy(actor, obs)
    if discrete:
      q = jnp.min(critic_apply(target_critic, obs, None), axis=0)  # [N, A]
      probs = dist.probs
      return jnp.sum(probs * (q - alpha * jax.nn.log_softmax(dist.logits)),
                     axis=-1)
    action, log_prob = dist.sample_and_log_prob(seed=key)           # [N, D]
    q = jnp.min(critic_apply(target_critic, obs, action), axis=0)   # [N]
    return q - alpha * log_prob

  def critic_loss(critic, state, batch, key, hp):
    if critic_penalty is not None:
      key, penalty_key = jax.random.split(key)
    alpha = jnp.exp(state.log_alpha) if soft_backup else 0.0
    v_t = soft_value(state.actor, state.target_critic, batch.next_obs, key,
                     alpha)                                         # [N]
    discount_t = batch.discount                 # gamma, 0 at termination
    q_tm1 = critic_apply(critic, batch.obs, batch.action)
    if discrete:                                                    # [2, N, A]
      q_tm1 = jnp.take_along_axis(
          q_tm1, batch.action[None, :, None].astype(jnp.int32), axis=-1)[..., 0]
    td = jax.vmap(jax.vmap(rlax.td_learning), (0, None, None, None))(
        q_tm1, batch.reward, discount_t, v_t)                       # [2, N]
    chex.assert_equal_shape([td, q_tm1])
    loss = jnp.sum(jnp.mean(rlax.l2_loss(td), axis=-1))
    metrics = {"loss/critic": loss, "train/q": jnp.mean(q_tm1[0])}
    if critic_penalty is not None:
      penalty, penalty_metrics = critic_penalty(critic, state, batch,
                                                penalty_key, hp, q_tm1)
      loss = loss + penalty
      metrics.update(penalty_metrics)
    return loss, metrics

  def actor_loss(actor, critic, log_alpha, batch, num_updates, key):
    obs = batch.obs
    alpha = jnp.exp(log_alpha)
    _, dist = policy(actor, obs)
    if discrete:
      q = jnp.min(critic_apply(critic, obs, None), axis=0)          # [N, A]
      log_probs = jax.nn.log_softmax(dist.logits)
      probs = jnp.exp(log_probs)
      loss = jnp.mean(jnp.sum(probs * (alpha * log_probs - q), axis=-1))
      log_prob = jnp.sum(probs * log_probs, axis=-1)                # -entropy [N]
    else:
      action, log_prob = dist.sample_and_log_prob(seed=key)         # [N, D], [N]
      q = jnp.min(critic_apply(critic, obs, action), axis=0)        # [N]
      chex.assert_equal_shape([q, log_prob])
      if actor_objective is not None:
        q = actor_objective(q, dist, batch, num_updates)
      loss = jnp.mean(alpha * log_prob - q)
    return loss, log_prob

  def update(state, sample, key, hp):
    batch = sample.batch
    target_key, actor_key = jax.random.split(key)
    (_, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic, state, batch, target_key, hp)
    critic, critic_opt, _ = opt.step(
        state.critic, grads, state.critic_opt, hp.critic_learning_rate)

    (loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor, critic, state.log_alpha, batch, state.num_updates,
        actor_key)
    actor, actor_state, _ = actor_opt.step(
        state.actor, grads, state.actor_opt, hp.actor_learning_rate)

    target = target_entropy(spec, hp.target_entropy_ratio)
    alpha_loss, grad = jax.value_and_grad(temperature_loss)(
        state.log_alpha, log_prob, target)
    log_alpha, alpha_opt, _ = opt.step(
        state.log_alpha, grad, state.alpha_opt, hp.alpha_learning_rate)

    metrics.update({"loss/actor": loss, "loss/alpha": alpha_loss,
                    "train/alpha": jnp.exp(log_alpha),
                    "train/entropy": -jnp.mean(log_prob)})
    state = state._replace(
        actor=actor, critic=critic,
        target_critic=optax.incremental_update(critic, state.target_critic,
                                               hp.tau),
        log_alpha=log_alpha, actor_opt=actor_state, critic_opt=critic_opt,
        alpha_opt=alpha_opt, num_updates=state.num_updates + 1)
    return state, metrics, None

  return Parts(init=init, policy=policy, critic_apply=critic_apply,
               update=update)


def make(settings, spec: EnvSpec) -> Agent:
  """Builds SAC's init, act and learn from static `settings`."""
  parts = make_parts(settings, spec)
  replay = offpolicy.make_replay(settings, spec)
  discrete = spec.discrete

  def init(key, hp):
    return parts.init(key, hp)._replace(buffer=replay.init())

  def act(state, obs, key, hp, evaluation=False):
    del hp
    out, dist = parts.policy(state.actor, obs)
    if evaluation:
      if discrete:
        return jnp.argmax(out.logits, axis=-1), ()
      return jnp.tanh(out.mean), ()
    return offpolicy.explore(state, key, spec, settings,
                             lambda k: dist.sample(seed=k)), ()

  return Agent(init=init, act=act,
               learn=offpolicy.make_learn(settings, replay, parts.update))
