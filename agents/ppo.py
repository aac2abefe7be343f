"""PPO (Schulman et al., 2017) for discrete and continuous actions.

Clipped surrogate from rlax, GAE that bootstraps through time-limit
truncation from the true last observation (`haikurl.returns`), optionally
clipped value loss, entropy bonus, epochs x minibatches of shuffled samples,
global gradient-norm clipping, linear learning-rate annealing.

Deviations from the paper: separate actor and critic MLPs (as CleanRL and
PureJaxRL); advantages normalised per minibatch when
`normalize_advantages`; one sort per shuffle (argsort of random bits) rather
than `jax.random.permutation`, which sorts twice.

Metrics (means over the update's minibatches):
  loss/total        pg + value_coef * value - entropy_coef * entropy
  loss/policy       rlax clipped surrogate loss
  loss/value        0.5 * squared error to the GAE target (clipped if set)
  loss/entropy      mean entropy of the policy
  train/approx_kl   mean of (ratio - 1) - log ratio
  train/clip_fraction  fraction of samples whose ratio left [1-eps, 1+eps]
  train/learning_rate  the (annealed) learning rate used
"""
from typing import Any, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from haikurl import networks
from haikurl import returns
from haikurl.types import Agent, EnvSpec


class HParams(NamedTuple):
  learning_rate: jax.Array
  discount: jax.Array
  gae_lambda: jax.Array
  clip_epsilon: jax.Array
  value_clip_epsilon: jax.Array
  value_coef: jax.Array
  entropy_coef: jax.Array
  max_grad_norm: jax.Array
  reward_scale: jax.Array  # rewards are multiplied by this in learn


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


def validate(settings, spec: EnvSpec) -> None:
  samples = settings.num_envs * settings.rollout_length
  if settings.num_minibatches < 1 or samples % settings.num_minibatches:
    raise ValueError(
        f"config.agent.num_minibatches={settings.num_minibatches} must divide "
        f"num_envs * rollout_length = {samples}.")
  if settings.num_epochs < 1:
    raise ValueError(f"config.agent.num_epochs must be >= 1, got "
                     f"{settings.num_epochs}.")


def make_network(settings, spec: EnvSpec):
  """Actor and critic as separate torsos; returns (policy head output, value)."""
  def forward(obs):
    actor = networks.torso(obs, settings.hidden_sizes, settings.activation,
                           "actor")
    critic = networks.torso(obs, settings.hidden_sizes, settings.activation,
                            "critic")
    if spec.discrete:
      policy = networks.categorical_head(actor, spec.num_actions)
    else:
      policy = networks.gaussian_head(actor, spec.action_dim)
    return policy, networks.value_head(critic).value
  return hk.without_apply_rng(hk.transform(forward))


def _shuffle(key, n):
  """A random permutation of range(n) with a single sort."""
  return jnp.argsort(jax.random.bits(key, (n,)))


def clipped_surrogate(ratio, advantage, hp):
  """PPO's policy loss: rlax's clipped surrogate, [N] -> []."""
  return rlax.clipped_surrogate_pg_loss(ratio, advantage, hp.clip_epsilon)


def make(settings, spec: EnvSpec, policy_loss=clipped_surrogate) -> Agent:
  """Builds PPO's init, act and learn for `spec` from static `settings`.

  Args:
    settings: static settings (config.agent without the HParams fields).
    spec: the environment's EnvSpec.
    policy_loss: `(ratio [N], advantage [N], hp) -> scalar`; pass your own to
      make a variant (e.g. an unclipped or KL-penalised objective).
  """
  net = make_network(settings, spec)
  num_samples = settings.num_envs * settings.rollout_length
  minibatch_size = num_samples // settings.num_minibatches
  updates_per_learn = settings.num_epochs * settings.num_minibatches
  total_updates = max(
      1, settings.total_env_steps // num_samples * updates_per_learn)

  # The optimiser's state does not depend on the hyperparameters' values, so
  # the rate and the clipping norm are applied from the traced `hp`.
  adam = optax.scale_by_adam(eps=1e-5)

  def learning_rate(hp, num_updates):
    if settings.anneal_learning_rate:
      frac = 1.0 - num_updates.astype(jnp.float32) / total_updates
      return hp.learning_rate * jnp.maximum(frac, 0.0)
    return hp.learning_rate

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    return State(params, adam.init(params), jnp.zeros((), jnp.int32))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    policy, value = net.apply(state.params, obs)
    if evaluation:
      return networks.greedy_action(policy), ()
    dist = networks.distribution(policy)
    action, log_prob = dist.sample_and_log_prob(seed=key)
    return action, Extras(log_prob, value)

  def loss_fn(params, batch: Batch, hp):
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
    value_error = value - batch.target
    if settings.clip_value_loss:
      clipped = batch.value + jnp.clip(value - batch.value,
                                       -hp.value_clip_epsilon,
                                       hp.value_clip_epsilon)
      value_loss = 0.5 * jnp.mean(jnp.maximum(
          jnp.square(value_error), jnp.square(clipped - batch.target)))
    else:
      value_loss = 0.5 * jnp.mean(jnp.square(value_error))
    entropy = jnp.mean(dist.entropy())
    total = pg_loss + hp.value_coef * value_loss - hp.entropy_coef * entropy
    metrics = {
        "loss/total": total,
        "loss/policy": pg_loss,
        "loss/value": value_loss,
        "loss/entropy": entropy,
        "train/approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "train/clip_fraction": jnp.mean(
            (jnp.abs(ratio - 1.0) > hp.clip_epsilon).astype(jnp.float32)),
    }
    return total, metrics

  def update(state: State, batch: Batch, hp):
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, hp)
    grads, _ = optax.clip_by_global_norm(hp.max_grad_norm).update(grads, None)
    updates, opt_state = adam.update(grads, state.opt_state)
    lr = learning_rate(hp, state.num_updates)
    params = optax.apply_updates(
        state.params, jax.tree.map(lambda u: -lr * u, updates))
    metrics["train/learning_rate"] = lr
    return State(params, opt_state, state.num_updates + 1), metrics

  def learn(state, trajectory, key, hp):
    # trajectory: Transition with fields [T, B, ...].
    extras = trajectory.extras
    time_batch = trajectory.reward.shape                           # (T, B)
    next_obs = trajectory.next_obs.reshape((-1,) + spec.obs_shape)
    _, next_value = net.apply(state.params, next_obs)
    next_value = next_value.reshape(time_batch)                    # [T, B]
    advantage = returns.batched_truncated_gae(
        hp.reward_scale * trajectory.reward, hp.discount * trajectory.discount,
        trajectory.truncated, extras.value, next_value, hp.gae_lambda)
    batch = Batch(trajectory.obs, trajectory.action, extras.log_prob,
                  extras.value, advantage, advantage + extras.value)
    batch = jax.tree.map(
        lambda x: x.reshape((num_samples,) + x.shape[2:]), batch)
    batch = jax.lax.stop_gradient(batch)

    def epoch(state, key):
      order = _shuffle(key, num_samples).reshape(
          settings.num_minibatches, minibatch_size)
      def minibatch(state, idx):
        return update(state, jax.tree.map(lambda x: x[idx], batch), hp)
      return jax.lax.scan(minibatch, state, order)

    state, metrics = jax.lax.scan(
        epoch, state, jax.random.split(key, settings.num_epochs))
    return state, jax.tree.map(jnp.mean, metrics)

  return Agent(init=init, act=act, learn=learn)
