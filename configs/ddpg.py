"""DDPG presets: `get_config("<preset>")`, e.g. `--config=configs/ddpg.py:Pendulum-v1`.

DDPG as the baseline of Fujimoto et al. (2018) ("OurDDPG": one critic, no
target smoothing, no delay; exploration noise 0.1, tau 0.005, batch 256,
Adam 3e-4, 256-256 ReLU MLPs); Pendulum-v1 and MountainCarContinuous-v0
follow rl-zoo3's tuned DDPG (lr 1e-3, gamma 0.98,
larger exploration noise for MountainCar), scaled down to learn on a CPU in
20k and 50k env steps. The brax presets act in 8 envs, one gradient step
per 4 env steps, with observation normalisation; inverted_pendulum takes
one per env step on brax's generalized backend, with exploration noise 0.3
(README: TD3 ended at 1000 on 4 of 4 seeds, DDPG on 3 of 4).
"""
from ml_collections import config_dict

from configs import common
from configs import td3

PRESETS = td3.PRESETS


def base_config() -> config_dict.ConfigDict:
  c = config_dict.ConfigDict()
  c.env = "gymnax:Pendulum-v1"
  # Extra env arguments: brax `backend` and `episode_length`, gymnax params.
  c.env_kwargs = config_dict.ConfigDict()
  c.normalize_observations = False
  c.agent = config_dict.ConfigDict(dict(
      name="ddpg",
      # Static settings: they shape the program.
      num_envs=1,
      rollout_length=4,       # env steps per env between calls of learn
      buffer_size=1_000_000,  # transitions
      batch_size=256,
      learning_starts=25_000,  # env steps of uniform random actions first
      replay_ratio=1.0,       # gradient steps per env step
      actor_hidden_sizes=(256, 256),
      critic_hidden_sizes=(256, 256),
      activation="relu",
      # Traced hyperparameters: sweepable.
      actor_learning_rate=3e-4,
      critic_learning_rate=3e-4,
      discount=0.99,
      tau=0.005,              # Polyak rate: target += tau * (online - target)
      exploration_noise=0.1,  # std, in units of half the action range
  ))
  c.total_env_steps = 1_000_000
  c.eval_every = 10_000          # env steps between evaluations
  c.num_eval_episodes = 16       # greedy episodes per evaluation
  return common.add_run_settings(c)


def get_config(preset: str = "Pendulum-v1") -> config_dict.ConfigDict:
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r} for configs/ddpg.py; known: "
                     f"{', '.join(PRESETS)}.")
  c = base_config()
  td3.apply_preset(c, preset)  # the same presets as TD3's
  c.lock()
  return c
