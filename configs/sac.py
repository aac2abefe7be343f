"""SAC presets: `get_config("<preset>")`, e.g. `--config=configs/sac.py:Pendulum-v1`.

The agent's defaults (agents/sac.py) follow Haarnoja et al. (2018, "SAC
algorithms and applications"): 256-256 ReLU MLPs, Adam 3e-4, batch 256, tau
0.005, gamma 0.99, automatic temperature towards entropy -action_dim.
Pendulum-v1 and MountainCarContinuous-v0 follow rl-zoo3's tuned SAC (lr
1e-3), scaled down to learn on a CPU in 20k and 50k env steps. CartPole-v1
is discrete SAC (Christodoulou, 2019) with the target entropy at 0.7 of the
maximum (the paper's 0.98 keeps the policy near uniform on CartPole;
CleanRL uses 0.89). The brax presets act in 8 envs, one gradient step per 4
env steps, with observation normalisation; inverted_pendulum runs on brax's
generalized backend (docs/tuning.md).
"""
from configs import common
from configs import td3

_LR_1E3 = dict(actor_learning_rate=1e-3, critic_learning_rate=1e-3,
               alpha_learning_rate=1e-3)

PRESETS = {
    "Pendulum-v1": dict(
        env="gymnax:Pendulum-v1",
        agent=dict(buffer_size=20_000, learning_starts=1_000,
                   actor_hidden_sizes=(128, 128),
                   critic_hidden_sizes=(128, 128), **_LR_1E3),
        total_env_steps=20_000, eval_every=2_000),
    "MountainCarContinuous-v0": dict(
        env="gymnax:MountainCarContinuous-v0",
        agent=dict(buffer_size=50_000, learning_starts=1_000,
                   actor_hidden_sizes=(128, 128),
                   critic_hidden_sizes=(128, 128), initial_alpha=0.1,
                   **_LR_1E3),
        total_env_steps=50_000, eval_every=5_000),
    "CartPole-v1": dict(
        env="gymnax:CartPole-v1",
        agent=dict(buffer_size=50_000, learning_starts=1_000,
                   actor_hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64),
                   # 1e-3 let 1 seed in 4 collapse
                   actor_learning_rate=3e-4, critic_learning_rate=1e-3,
                   alpha_learning_rate=1e-3, initial_alpha=0.1,
                   target_entropy_ratio=0.7),
        total_env_steps=30_000, eval_every=3_000),
    "inverted_pendulum": dict(
        td3.BRAX, env="brax:inverted_pendulum",
        env_kwargs=dict(backend="generalized", episode_length=1000),
        agent=dict(td3.BRAX["agent"], buffer_size=100_000,
                   actor_hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64),
                   learning_starts=2_048, replay_ratio=1.0, **_LR_1E3),
        total_env_steps=49_152, eval_every=8_192),
}
for _name in ("hopper", "halfcheetah", "ant"):
  PRESETS[_name] = dict(td3.BRAX, env=f"brax:{_name}",
                        agent=dict(td3.BRAX["agent"], learning_starts=10_000),
                        total_env_steps=1_000_960, eval_every=50_048)


def get_config(preset: str = "Pendulum-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  return td3.build("sac", "sac.py", PRESETS, preset)
