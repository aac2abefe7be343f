"""Parts shared by the off-policy actor-critic agents (SAC, TD3, DDPG).

Replay is uniform (`haikurl.replay`) and owned by the agent: `learn` adds the
[T, B] trajectory to the buffer, then, once the buffer can sample and
`learning_starts` env steps have been taken, runs
`round(num_envs * rollout_length * replay_ratio)` gradient steps in a
`lax.scan` under one `lax.cond`. Before `learning_starts`, `act` returns
uniform random actions.

With `normalize_observations`, the buffer holds observations normalised by
the statistics of the moment they were stored (the env wrapper normalises
before the agent sees them); the statistics settle within a few thousand
steps, and the early, differently-scaled samples age out of the buffer.

Static settings read here: num_envs, rollout_length, buffer_size,
batch_size, learning_starts, replay_ratio.
"""
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from haikurl import replay
from haikurl.types import EnvSpec

# Adam's state does not depend on the learning rate, so the rate is applied
# from the traced hyperparameters in `adam_step` (as agents/ppo.py does).
ADAM = optax.scale_by_adam()


def adam_step(params, grads, opt_state, learning_rate):
  """One Adam step with a (traced) learning rate; returns (params, opt_state)."""
  updates, opt_state = ADAM.update(grads, opt_state)
  params = optax.apply_updates(
      params, jax.tree.map(lambda u: -learning_rate * u, updates))
  return params, opt_state


def updates_per_learn(settings) -> int:
  """Gradient steps per call of `learn`: env steps per call x replay ratio."""
  steps = settings.num_envs * settings.rollout_length
  return max(1, int(round(steps * float(settings.replay_ratio))))


def make_buffer(settings):
  return replay.make_transition_buffer(
      settings.buffer_size, settings.batch_size, min_size=settings.batch_size)


def validate(settings, spec: EnvSpec) -> None:
  """Checks the replay settings shared by the off-policy agents."""
  del spec
  for name in ("buffer_size", "batch_size"):
    if int(settings[name]) < 1:
      raise ValueError(f"config.agent.{name} must be >= 1, got "
                       f"{settings[name]}.")
  if settings.batch_size > settings.buffer_size:
    raise ValueError(f"config.agent.batch_size={settings.batch_size} exceeds "
                     f"buffer_size={settings.buffer_size}.")
  if settings.learning_starts < 0:
    raise ValueError(f"config.agent.learning_starts must be >= 0, got "
                     f"{settings.learning_starts}.")
  if not float(settings.replay_ratio) > 0:
    raise ValueError(f"config.agent.replay_ratio (gradient steps per env "
                     f"step) must be > 0, got {settings.replay_ratio}.")


def uniform_action(key, spec: EnvSpec, batch: int) -> jax.Array:
  """Uniform random actions: in [-1, 1]^D (the RescaleAction range) or
  uniform over the discrete actions."""
  if spec.discrete:
    return jax.random.randint(key, (batch,), 0, spec.num_actions)
  return jax.random.uniform(key, (batch,) + tuple(spec.action_shape),
                            minval=-1.0, maxval=1.0)


def explore(state, key, spec: EnvSpec, settings, policy_action: Callable):
  """`policy_action(key)` once `learning_starts` steps are taken, else uniform.

  `state.env_steps` counts the env steps already added to the buffer.
  """
  policy_key, random_key = jax.random.split(key)
  action = policy_action(policy_key)
  if settings.learning_starts <= 0:
    return action
  random = uniform_action(random_key, spec, action.shape[0]).astype(
      action.dtype)
  return jnp.where(
      (state.env_steps < settings.learning_starts).reshape(
          (1,) * action.ndim), random, action)


def make_learn(settings, buffer, update: Callable) -> Callable:
  """Builds `learn(state, trajectory, key, hp)` around a gradient step.

  Args:
    settings: static settings (see the module docstring).
    buffer: the flashbax buffer whose state is `state.buffer`.
    update: `update(state, batch, key, hp) -> (state, metrics)`, one gradient
      step on a sampled Transition batch [N]. It sees `state.buffer` as ()
      and must not change `env_steps`.

  Returns:
    learn(state, trajectory, key, hp) -> (state, metrics). Metrics are the
    means over the gradient steps taken, zeros when none were taken, plus
    `train/updates` (1.0 when this call learned, else 0.0).
  """
  num_updates = updates_per_learn(settings)

  def train(learner, buffer_state, key, hp):
    def step(learner, key):
      sample_key, update_key = jax.random.split(key)
      batch = buffer.sample(buffer_state, sample_key).experience
      return update(learner, batch, update_key, hp)
    learner, metrics = jax.lax.scan(step, learner,
                                    jax.random.split(key, num_updates))
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["train/updates"] = jnp.ones((), jnp.float32)
    return learner, metrics

  def learn(state, trajectory, key, hp):
    steps = trajectory.reward.size                            # T * B
    buffer_state = buffer.add(state.buffer, replay.flatten(trajectory))
    env_steps = state.env_steps + steps
    # The buffer stays outside the cond: it is read, never written, there,
    # and keeping it out of the branches' outputs avoids copying it.
    learner = state._replace(buffer=(), env_steps=env_steps)
    ready = jnp.logical_and(buffer.can_sample(buffer_state),
                            env_steps >= settings.learning_starts)

    _, metric_shapes = jax.eval_shape(train, learner, buffer_state, key, hp)

    def skip(learner, buffer_state, key, hp):
      del buffer_state, key, hp
      return learner, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                   metric_shapes)

    learner, metrics = jax.lax.cond(ready, train, skip, learner, buffer_state,
                                    key, hp)
    return learner._replace(buffer=buffer_state), metrics

  return learn


def polyak(online, target, tau):
  """target <- tau * online + (1 - tau) * target."""
  return optax.incremental_update(online, target, tau)

