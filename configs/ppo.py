"""PPO presets: `get_config("<preset>")`, e.g. `--config=configs/ppo.py:CartPole-v1`.

CartPole-v1 is tuned here for time-to-solve on a CPU: 16 envs x 32 steps,
4 epochs of 8 minibatches of 64, lr 2.5e-3 annealed to 0 over 98,304 steps
(in a sweep of 7 settings x 8 seeds, then 16 more seeds, every seed reached
a greedy return of 475 within 20,480 steps and ended at 500). Acrobot-v1 and Breakout-MinAtar follow PureJaxRL /
gymnax's baselines; Pendulum-v1 follows rl-zoo3's tuned PPO; the brax presets
follow brax's training notebook (reward scaling aside), scaled to a CPU.
"""
from ml_collections import config_dict

from configs import common

PRESETS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Breakout-MinAtar",
           "inverted_pendulum", "hopper", "ant")


def base_config() -> config_dict.ConfigDict:
  c = config_dict.ConfigDict()
  c.env = "gymnax:CartPole-v1"
  # Extra env arguments: brax `backend` and `episode_length`, gymnax params.
  c.env_kwargs = config_dict.ConfigDict()
  c.normalize_observations = False
  c.agent = config_dict.ConfigDict(dict(
      name="ppo",
      # Static settings: they shape the program.
      num_envs=16,
      rollout_length=32,
      num_epochs=4,
      num_minibatches=8,
      hidden_sizes=(64, 64),
      activation="tanh",
      normalize_advantages=True,
      clip_value_loss=False,
      anneal_learning_rate=True,
      # Traced hyperparameters: sweepable.
      learning_rate=2.5e-3,
      discount=0.99,
      gae_lambda=0.95,
      clip_epsilon=0.2,
      value_clip_epsilon=0.2,
      value_coef=0.5,
      entropy_coef=0.01,
      max_grad_norm=0.5,
      reward_scale=1.0,     # multiplies rewards in the loss (not in logs)
  ))
  c.total_env_steps = 98_304
  c.eval_every = 8_192          # env steps between evaluations
  c.num_eval_episodes = 32      # greedy episodes per evaluation
  return common.add_run_settings(c)


def get_config(preset: str = "CartPole-v1") -> config_dict.ConfigDict:
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r} for configs/ppo.py; known: "
                     f"{', '.join(PRESETS)}.")
  c = base_config()
  a = c.agent
  if preset == "CartPole-v1":
    pass
  elif preset == "Acrobot-v1":
    c.env = "gymnax:Acrobot-v1"
    a.num_envs, a.rollout_length = 16, 128
    a.num_minibatches = 4
    a.learning_rate = 1e-3
    c.total_env_steps = 524_288   # 16 whole periods (500,000 ran as this)
    c.eval_every = 32_768
  elif preset == "Pendulum-v1":
    c.env = "gymnax:Pendulum-v1"
    c.normalize_observations = True
    a.num_envs, a.rollout_length = 16, 128
    a.num_epochs, a.num_minibatches = 10, 32
    a.learning_rate = 1e-3
    a.discount, a.gae_lambda = 0.9, 0.95
    a.entropy_coef = 0.0
    a.reward_scale = 0.1  # returns of -1000 swamp the shared gradient clip
    a.activation = "tanh"
    c.total_env_steps = 524_288
    c.eval_every = 32_768
    c.num_eval_episodes = 16
  elif preset == "Breakout-MinAtar":
    c.env = "gymnax:Breakout-MinAtar"
    a.num_envs, a.rollout_length = 64, 128
    a.num_epochs, a.num_minibatches = 4, 8
    a.learning_rate = 5e-4
    a.activation = "relu"
    a.hidden_sizes = (64,)
    c.total_env_steps = 5_242_880   # 20 whole periods (5M ran as this)
    c.eval_every = 262_144
    c.num_eval_episodes = 16
  else:  # brax
    c.env = f"brax:{preset}"
    c.env_kwargs = config_dict.ConfigDict(dict(backend="spring",
                                               episode_length=1000))
    c.normalize_observations = True
    a.num_envs, a.rollout_length = 64, 64
    a.num_epochs, a.num_minibatches = 4, 16
    a.hidden_sizes = (64, 64)
    a.activation = "tanh"
    a.learning_rate = 3e-4
    a.discount, a.gae_lambda = 0.97, 0.95
    a.entropy_coef = 1e-3
    # Whole periods (5M ran as 10 x 524,288).
    c.total_env_steps = 1_048_576 if preset == "inverted_pendulum" else 5_242_880
    c.eval_every = 131_072 if preset == "inverted_pendulum" else 524_288
    c.num_eval_episodes = 8
  c.lock()
  return c
