"""Jittable evaluation episodes and the default callback.

A callback is `callback(ctx, state, key) -> pytree`, called by the loop at the
end of every evaluation period inside the trace; its outputs are stacked over
the run. `ctx` is a `CallbackContext` (config, envs, agent, hyperparameters).
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class CallbackContext(NamedTuple):
  config: Any     # the run's ConfigDict (read only)
  env: Any        # the training Env
  eval_env: Any   # an Env of `num_eval_episodes` for evaluation episodes
  agent: Any      # the Agent triple
  hparams: Any    # this member's HParams (traced)


def run_episodes(agent, eval_env, agent_state, hparams, key, max_steps: int,
                 train_env_state=None):
  """Runs one episode in each of `eval_env.num_envs` envs with greedy actions.

  Args:
    agent: the Agent triple.
    eval_env: a batched Env; each of its envs plays one episode.
    agent_state: the agent's state.
    hparams: the agent's HParams.
    key: PRNG key.
    max_steps: a bound on episode length (the env's time limit).
    train_env_state: when given, running statistics (observation
      normalisation) are loaded from it and stay frozen.

  Returns:
    (returns [N], lengths [N]) of the first episode of each env.
  """
  reset_key, key = jax.random.split(key)
  if train_env_state is None:
    env_state, timestep = eval_env.reset(reset_key)
  else:
    env_state, timestep = eval_env.reset_from(reset_key, train_env_state)
  n = eval_env.num_envs
  init = (env_state, timestep.observation, jnp.zeros((n,), bool),
          jnp.zeros((n,), jnp.float32), jnp.zeros((n,), jnp.int32),
          jnp.zeros((), jnp.int32), key)

  def cond(carry):
    _, _, done, _, _, t, _ = carry
    return jnp.logical_and(t < max_steps, ~jnp.all(done))

  def body(carry):
    env_state, obs, done, returns, lengths, t, key = carry
    key, act_key, step_key = jax.random.split(key, 3)
    action, _ = agent.act(agent_state, obs, act_key, hparams, True)
    env_state, ts = eval_env.step(env_state, action, step_key)
    alive = ~done
    returns = returns + jnp.where(alive, ts.reward, 0.0)
    lengths = lengths + alive.astype(jnp.int32)
    return (env_state, ts.observation, done | ts.done, returns, lengths,
            t + 1, key)

  _, _, _, returns, lengths, _, _ = jax.lax.while_loop(cond, body, init)
  return returns, lengths


def evaluate(ctx: CallbackContext, state, key):
  """The default callback: greedy evaluation episodes' returns and lengths."""
  max_steps = int(ctx.eval_env.spec.max_episode_steps or
                  ctx.config.get("eval_max_steps", 1000))
  returns, lengths = run_episodes(ctx.agent, ctx.eval_env, state.agent,
                                  ctx.hparams, key, max_steps, state.env)
  return {"eval/episode_return": jnp.mean(returns),
          "eval/episode_return_std": jnp.std(returns),
          "eval/episode_length": jnp.mean(lengths.astype(jnp.float32))}
