"""Jittable evaluation episodes, the evaluation protocol and the default
callback.

A callback is `callback(ctx, state, key) -> pytree`, called by the loop at the
end of every evaluation period inside the trace; its outputs are stacked over
the run. `ctx` is a `CallbackContext` (config, envs, agent, hyperparameters,
protocol). Its key comes from the run's evaluation key stream
(`TrainState.eval_key`), never from the training one.

The protocol (`config.eval_policy`) names how evaluation episodes act:

- "greedy" (default): `agent.act(..., evaluation=True)`: PPO the mode of its
  policy (argmax / Gaussian mean), DQN argmax Q, SAC argmax logits /
  tanh(mean), TD3 and DDPG the deterministic actor.
- "epsilon": the greedy action, replaced with probability
  `config.eval_epsilon` by a uniform random one (discrete actions only).
- "sampled": the agent's behaviour policy, `agent.act(..., evaluation=False)`:
  PPO samples its policy; DQN is epsilon-greedy with the training schedule's
  epsilon at the agent's current env step (1.0 before `learning_starts`);
  SAC samples its squashed Gaussian / categorical policy; TD3 and DDPG add
  Gaussian `exploration_noise` to the actor's action. The off-policy agents
  act uniformly at random before `learning_starts` env steps.

Sticky actions (`haikurl.envs.StickyActions`) apply to evaluation episodes
as to training: the evaluation env is built by the same `make_env`.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from haikurl import types

POLICIES = ("greedy", "epsilon", "sampled")


class Protocol(NamedTuple):
  """How evaluation episodes are played (static; stated in every output)."""
  policy: str = "greedy"      # one of POLICIES
  epsilon: float = 0.0        # for "epsilon": probability of a random action
  sticky_actions: float = 0.0  # the envs' probability of repeating an action
  num_episodes: int = 0       # episodes per evaluation (0: not stated)

  def describe(self) -> str:
    """E.g. "greedy, sticky actions p=0.1, 32 episodes"."""
    if self.policy == "epsilon":
      parts = [f"epsilon-greedy eps={self.epsilon:g}"]
    elif self.policy == "sampled":
      parts = ["sampled (behaviour policy)"]
    else:
      parts = [self.policy]
    parts.append(f"sticky actions p={self.sticky_actions:g}"
                 if self.sticky_actions else "no sticky actions")
    if self.num_episodes:
      parts.append(f"{self.num_episodes} episodes")
    return ", ".join(parts)


def make_protocol(config, spec, sticky_actions: float = 0.0) -> Protocol:
  """The run's protocol from `config.eval_policy` / `config.eval_epsilon`.

  Raises a one-line ValueError for an unknown policy, an epsilon outside
  [0, 1], or "epsilon" on continuous actions.
  """
  policy = config.get("eval_policy", "greedy")
  if policy not in POLICIES:
    raise ValueError(f"config.eval_policy must be one of {POLICIES}, got "
                     f"{policy!r}.")
  epsilon = 0.0
  if policy == "epsilon":
    if not spec.discrete:
      raise ValueError(f"config.eval_policy='epsilon' needs discrete actions; "
                       f"{spec.name} has continuous ones (use 'greedy' or "
                       "'sampled').")
    epsilon = config.get("eval_epsilon", 0.0)
    if (not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or
        not 0.0 <= epsilon <= 1.0):
      raise ValueError(f"config.eval_epsilon must be a probability in [0, 1], "
                       f"got {epsilon!r}.")
  return Protocol(policy, float(epsilon), float(sticky_actions),
                  int(config.get("num_eval_episodes", 0) or 0))


class CallbackContext(NamedTuple):
  config: Any     # the run's ConfigDict (read only)
  env: Any        # the training Env
  eval_env: Any   # an Env of `num_eval_episodes` for evaluation episodes
  agent: Any      # the Agent triple
  hparams: Any    # this member's HParams (traced)
  protocol: Protocol = Protocol()  # how evaluation episodes act


def run_episodes(agent, eval_env, agent_state, hparams, key, max_steps: int,
                 train_env_state=None, policy: str = "greedy",
                 epsilon: float = 0.0):
  """Runs one episode in each of `eval_env.num_envs` envs.

  Args:
    agent: the Agent triple.
    eval_env: a batched Env; each of its envs plays one episode.
    agent_state: the agent's state.
    hparams: the agent's HParams.
    key: PRNG key.
    max_steps: a bound on episode length (the env's time limit).
    train_env_state: when given, running statistics (observation
      normalisation) are loaded from it and stay frozen.
    policy: "greedy", "epsilon" or "sampled" (see the module docstring).
    epsilon: for "epsilon", the probability of a uniform random action.

  Returns:
    (returns [N], lengths [N]) of the first episode of each env.
  """
  reset_key, key = jax.random.split(key)
  if train_env_state is None:
    env_state, timestep = eval_env.reset(reset_key)
  else:
    env_state, timestep = eval_env.reset_from(reset_key, train_env_state)
  n = eval_env.num_envs
  # Evaluation episodes carry a carry of their own (recurrent agents), from
  # the evaluation key stream.
  fresh = actor_carry = types.initial_carry(
      agent, jax.random.fold_in(reset_key, 1), n, eval_env.spec)
  init = (env_state, timestep.observation, jnp.zeros((n,), bool),
          jnp.zeros((n,), jnp.float32), jnp.zeros((n,), jnp.int32),
          jnp.zeros((), jnp.int32), key, actor_carry)

  def cond(carry):
    _, _, done, _, _, t, _, _ = carry
    return jnp.logical_and(t < max_steps, ~jnp.all(done))

  def body(carry):
    env_state, obs, done, returns, lengths, t, key, actor_carry = carry
    key, act_key, step_key = jax.random.split(key, 3)
    action, core, _ = types.act(agent, agent_state, actor_carry, obs, act_key,
                                hparams, policy != "sampled")
    if policy == "epsilon":
      explore_key, random_key = jax.random.split(act_key)
      explore = jax.random.uniform(explore_key, (n,)) < epsilon
      random = jax.random.randint(random_key, (n,), 0,
                                  eval_env.spec.num_actions)
      action = jnp.where(explore, random.astype(action.dtype), action)
    env_state, ts = eval_env.step(env_state, action, step_key)
    alive = ~done
    returns = returns + jnp.where(alive, ts.reward, 0.0)
    lengths = lengths + alive.astype(jnp.int32)
    # Rows past their episode's end are not counted.
    actor_carry = types.next_carry(actor_carry, core, action, ts.reward,
                                   ts.done, fresh)
    return (env_state, ts.observation, done | ts.done, returns, lengths,
            t + 1, key, actor_carry)

  _, _, _, returns, lengths, _, _, _ = jax.lax.while_loop(cond, body, init)
  return returns, lengths


def evaluate(ctx: CallbackContext, state, key):
  """The default callback: evaluation episodes' returns and lengths, played
  by `ctx.protocol`."""
  max_steps = int(ctx.eval_env.spec.max_episode_steps or
                  ctx.config.get("eval_max_steps", 1000))
  returns, lengths = run_episodes(ctx.agent, ctx.eval_env, state.agent_state,
                                  ctx.hparams, key, max_steps, state.env_state,
                                  policy=ctx.protocol.policy,
                                  epsilon=ctx.protocol.epsilon)
  return {"eval/episode_return": jnp.mean(returns),
          "eval/episode_return_std": jnp.std(returns),
          "eval/episode_length": jnp.mean(lengths.astype(jnp.float32))}
