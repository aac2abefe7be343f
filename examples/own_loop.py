"""PPO on CartPole in a training loop of your own: the agent's pure
`init / act / learn` triple inside a hand-written `lax.scan`, no `make_train`.

    python examples/own_loop.py           # the CartPole preset's 98,304 steps
    python examples/own_loop.py --small   # a few seconds (CI)
"""
import argparse

import jax

import haikurl
from agents import ppo
from configs import ppo as ppo_config


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--small", action="store_true", help="a tiny budget (CI)")
  args = parser.parse_args()
  config = ppo_config.get_config("CartPole-v1")
  if args.small:
    config.total_env_steps = config.eval_every = 4_096
  settings, hp = haikurl.agent_settings(config)   # static settings, HParams
  env = haikurl.make_env(config)                  # num_envs CartPoles
  agent = ppo.make(settings, env.spec)
  steps_per_learn = settings.num_envs * settings.rollout_length
  num_learns = settings.total_env_steps // steps_per_learn

  def env_step(carry, key):
    """Act on the last observation, step the envs, keep the transition."""
    agent_state, env_state, timestep = carry
    act_key, step_key = jax.random.split(key)
    obs = timestep.observation                               # [B, 4]
    action, extras = agent.act(agent_state, obs, act_key, hp, False)
    env_state, timestep = env.step(env_state, action, step_key)
    transition = haikurl.Transition(
        obs=obs, action=action, reward=timestep.reward,
        discount=timestep.discount, terminated=timestep.terminated,
        truncated=timestep.truncated,
        next_obs=timestep.next_observation,  # pre-reset: bootstraps truncation
        extras=extras)
    return (agent_state, env_state, timestep), transition

  def iteration(carry, key):
    """`rollout_length` env steps, then one call of learn on them."""
    rollout_key, learn_key = jax.random.split(key)
    keys = jax.random.split(rollout_key, settings.rollout_length)
    (agent_state, env_state, timestep), trajectory = jax.lax.scan(
        env_step, carry, keys)                               # [T, B] fields
    agent_state, metrics = agent.learn(agent_state, trajectory, learn_key, hp)
    return (agent_state, env_state, timestep), metrics["loss/total"]

  @jax.jit
  def train(key):
    init_key, reset_key, key = jax.random.split(key, 3)
    env_state, timestep = env.reset(reset_key)
    carry = (agent.init(init_key, hp), env_state, timestep)
    (agent_state, _, _), losses = jax.lax.scan(
        iteration, carry, jax.random.split(key, num_learns))
    return agent_state, losses

  train_key, eval_key = jax.random.split(jax.random.key(config.seed))
  agent_state, losses = train(train_key)
  # Greedy episodes, one in each of `num_eval_episodes` fresh envs.
  eval_env = haikurl.make_env(config, evaluation=True)
  evaluate = jax.jit(lambda state, key: haikurl.evaluation.run_episodes(
      agent, eval_env, state, hp, key, env.spec.max_episode_steps))
  returns, _ = evaluate(agent_state, eval_key)
  print(f"{num_learns * steps_per_learn} env steps, final loss "
        f"{float(losses[-1]):.3f}, greedy return {float(returns.mean()):.1f}")


if __name__ == "__main__":
  main()
