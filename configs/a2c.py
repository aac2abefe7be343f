"""A2C presets: `get_config("<preset>")`, e.g. `--config=configs/a2c.py:CartPole-v1`.

Over the agent's defaults (agents/a2c.py: PPO's networks, 16 envs x 8
steps per gradient step, n-step returns (GAE lambda 1), RMSProp at 7e-4
decayed to 0, entropy 0.01, gradient norm 0.5). Pendulum-v1 normalises
observations and scales rewards as configs/ppo.py's preset does;
Breakout-MinAtar uses the MinAtar CNN torso (haikurl.networks). How each
was tuned: docs/tuning.md; measured returns: the README.
"""
from configs import common

PRESETS = {
    # rl-baselines3-zoo's CartPole A2C shape (8 envs, no entropy bonus),
    # 8-step returns. Measured (4 seeds vmapped, greedy evaluation, 32
    # episodes): finals 500, 500, 500, 500 at 524288 steps; the agent's
    # defaults (16 envs, entropy 0.01) gave 455, 500, 476, 354 at 262144
    # and 487, 415, 497, 282 at 524288.
    "CartPole-v1": dict(
        env="gymnax:CartPole-v1", agent=dict(num_envs=8, entropy_coef=0.0),
        total_env_steps=524_288, eval_every=32_768),
    "Acrobot-v1": dict(
        env="gymnax:Acrobot-v1", agent=dict(),
        total_env_steps=524_288, eval_every=32_768, num_eval_episodes=16),
    # Measured (4 seeds, greedy, 16 episodes): at 1,048,576 steps the
    # finals spread from -802 to -199 (mean -502); a learning-rate sweep
    # (3e-4, 1e-3, 3e-3 x 4 seeds, 2,097,152 steps, one program) ended at
    # means -727, -168 and -167, 1e-3's last five evaluations -207 to -164.
    "Pendulum-v1": dict(
        env="gymnax:Pendulum-v1", normalize_observations=True,
        agent=dict(num_envs=16, rollout_length=8, discount=0.9,
                   gae_lambda=0.9, entropy_coef=0.0, learning_rate=1e-3,
                   reward_scale=0.1, optimizer="adam"),
        total_env_steps=2_097_152, eval_every=131_072, num_eval_episodes=16),
    "Breakout-MinAtar": dict(
        env="gymnax:Breakout-MinAtar",
        agent=dict(num_envs=64, rollout_length=16, activation="relu",
                   hidden_sizes=(64,), learning_rate=7e-4),
        total_env_steps=2_097_152, eval_every=262_144, num_eval_episodes=16),
}


def get_config(preset: str = "CartPole-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise common.unknown_preset("a2c.py", preset, PRESETS)
  p = dict(PRESETS[preset])
  agent = common.agent_section("a2c", **p.pop("agent"))
  p.setdefault("num_eval_episodes", 32)
  return common.make(p.pop("env"), agent, **p)
