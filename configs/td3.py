"""TD3 presets: `get_config("<preset>")`, e.g. `--config=configs/td3.py:Pendulum-v1`.

The agent's defaults (agents/td3.py) follow Fujimoto et al. (2018) and its
reference code (exploration noise 0.1, target noise 0.2 clipped at 0.5,
policy delay 2, tau 0.005, batch 256, Adam 3e-4, 256-256 ReLU MLPs).
Pendulum-v1 and MountainCarContinuous-v0 follow rl-zoo3's tuned TD3 (lr
1e-3, gamma 0.98, larger exploration noise for MountainCar), scaled down to
learn on a CPU in 20k and 50k env steps. The brax presets act in 8 envs,
one gradient step per 4 env steps, with observation normalisation;
inverted_pendulum takes one per env step on brax's generalized backend,
with exploration noise 0.3 (docs/tuning.md). configs/ddpg.py uses the same
table (only keys TD3 and DDPG share).
"""
from configs import common

# The brax presets' common part (SAC's use it too).
BRAX = dict(
    env_kwargs=dict(backend="spring", episode_length=1000),
    normalize_observations=True, num_eval_episodes=8,
    agent=dict(num_envs=8, rollout_length=16, replay_ratio=0.25))

_LR_1E3 = dict(actor_learning_rate=1e-3, critic_learning_rate=1e-3)

PRESETS = {
    "Pendulum-v1": dict(
        env="gymnax:Pendulum-v1",
        agent=dict(buffer_size=20_000, learning_starts=1_000,
                   actor_hidden_sizes=(128, 128),
                   critic_hidden_sizes=(128, 128), discount=0.98, **_LR_1E3),
        total_env_steps=20_000, eval_every=2_000),
    "MountainCarContinuous-v0": dict(
        env="gymnax:MountainCarContinuous-v0",
        agent=dict(buffer_size=50_000, learning_starts=1_000,
                   actor_hidden_sizes=(128, 128),
                   critic_hidden_sizes=(128, 128),
                   exploration_noise=0.5,  # rl-zoo3: a wide noise finds the goal
                   **_LR_1E3),
        total_env_steps=50_000, eval_every=5_000),
    "inverted_pendulum": dict(
        BRAX, env="brax:inverted_pendulum",
        env_kwargs=dict(backend="generalized", episode_length=1000),
        agent=dict(BRAX["agent"], buffer_size=100_000,
                   actor_hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64),
                   learning_starts=2_048, replay_ratio=1.0,
                   exploration_noise=0.3, **_LR_1E3),
        total_env_steps=49_152, eval_every=8_192),
}
for _name in ("hopper", "halfcheetah", "ant"):
  PRESETS[_name] = dict(BRAX, env=f"brax:{_name}",
                        agent=dict(BRAX["agent"], learning_starts=10_000),
                        total_env_steps=1_000_960, eval_every=50_048)


def build(agent: str, file: str, presets, preset: str):
  """The locked config of `preset` in `presets` for `agent`."""
  if preset not in presets:
    raise common.unknown_preset(file, preset, presets)
  p = dict(presets[preset])
  section = common.agent_section(agent, **p.pop("agent"))
  p.setdefault("num_eval_episodes", 16)
  return common.make(p.pop("env"), section, **p)


def get_config(preset: str = "Pendulum-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  return build("td3", "td3.py", PRESETS, preset)
