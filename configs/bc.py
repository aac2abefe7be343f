"""Behaviour-cloning presets: `--config=configs/bc.py:<preset>
--config.dataset=<Minari dataset folder or id>`.

Offline runs count gradient steps in `total_env_steps` and `eval_every`
(haikurl/offline.py). The agent's defaults (agents/bc.py) are the IQL
paper's BC baseline (256-256 ReLU MLP, Adam 3e-4, batch 256). The presets
name the environment evaluation runs in; the dataset must come from it
(`haikurl-collect`, README "Offline RL").
"""
from configs import td3

PRESETS = {
    "CartPole-v1": dict(env="gymnax:CartPole-v1", agent=dict(),
                        total_env_steps=10_000, eval_every=1_000,
                        num_eval_episodes=16),
    "Pendulum-v1": dict(env="gymnax:Pendulum-v1", agent=dict(),
                        total_env_steps=20_000, eval_every=2_000,
                        num_eval_episodes=16),
    "Breakout-MinAtar": dict(env="gymnax:Breakout-MinAtar",
                             agent=dict(hidden_sizes=(256,)),
                             total_env_steps=50_000, eval_every=5_000,
                             num_eval_episodes=16),
}


def get_config(preset: str = "Pendulum-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  return td3.build("bc", "bc.py", PRESETS, preset)
