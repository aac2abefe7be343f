"""PPO presets: `get_config("<preset>")`, e.g. `--config=configs/ppo.py:CartPole-v1`.

The agent's defaults (agents/ppo.py `Settings` and `HParams`) are the
CartPole-v1 preset, tuned for time-to-solve on a CPU; Acrobot-v1 and
Breakout-MinAtar follow PureJaxRL / gymnax's baselines; Pendulum-v1 follows
rl-zoo3's tuned PPO; the brax presets follow brax's training notebook
(reward scaling aside), scaled to a CPU. How each was tuned: docs/tuning.md.
"""
from configs import common

_BRAX = dict(
    env_kwargs=dict(backend="spring", episode_length=1000),
    normalize_observations=True, num_eval_episodes=8,
    agent=dict(num_envs=64, rollout_length=64, num_epochs=4,
               num_minibatches=16, hidden_sizes=(64, 64), activation="tanh",
               learning_rate=3e-4, discount=0.97, gae_lambda=0.95,
               entropy_coef=1e-3))

# preset -> env, what the preset changes in the agent's defaults, run length.
PRESETS = {
    "CartPole-v1": dict(
        env="gymnax:CartPole-v1", agent=dict(),
        total_env_steps=98_304, eval_every=8_192),
    "Acrobot-v1": dict(
        env="gymnax:Acrobot-v1",
        agent=dict(num_envs=16, rollout_length=128, num_minibatches=4,
                   learning_rate=1e-3),
        total_env_steps=524_288, eval_every=32_768),
    "Pendulum-v1": dict(
        env="gymnax:Pendulum-v1", normalize_observations=True,
        agent=dict(num_envs=16, rollout_length=128, num_epochs=10,
                   num_minibatches=32, learning_rate=1e-3, discount=0.9,
                   gae_lambda=0.95, entropy_coef=0.0, activation="tanh",
                   # returns of -1000 swamp the shared gradient clip
                   reward_scale=0.1),
        total_env_steps=524_288, eval_every=32_768, num_eval_episodes=16),
    "Breakout-MinAtar": dict(
        env="gymnax:Breakout-MinAtar",
        agent=dict(num_envs=64, rollout_length=128, num_epochs=4,
                   num_minibatches=8, learning_rate=5e-4, activation="relu",
                   hidden_sizes=(64,)),
        total_env_steps=5_242_880, eval_every=262_144, num_eval_episodes=16),
    # The memory task of configs/ppo_rnn.py:MemoryChain-bsuite, same budget
    # and sizes, without a core: the control that memory is the problem (a
    # memoryless policy scores 0 on average).
    "MemoryChain-bsuite": dict(
        env="gymnax:MemoryChain-bsuite", env_kwargs=dict(memory_length=16),
        agent=dict(num_envs=64, rollout_length=64, num_minibatches=4,
                   learning_rate=1e-3, hidden_sizes=(64, 64),
                   activation="relu"),
        total_env_steps=262_144, eval_every=32_768, num_eval_episodes=64),
    # ... and of configs/ppo_rnn.py:CartPole-v1-position (velocities hidden).
    "CartPole-v1-position": dict(
        env="gymnax:CartPole-v1",
        env_kwargs=dict(observation_indices=(0, 2)),
        agent=dict(num_envs=64, rollout_length=64, num_minibatches=8,
                   learning_rate=5e-4, hidden_sizes=(128, 128),
                   activation="relu"),
        total_env_steps=1_048_576, eval_every=131_072),
    "inverted_pendulum": dict(_BRAX, env="brax:inverted_pendulum",
                              total_env_steps=1_048_576, eval_every=131_072),
    "hopper": dict(_BRAX, env="brax:hopper", total_env_steps=5_242_880,
                   eval_every=524_288),
    "ant": dict(_BRAX, env="brax:ant", total_env_steps=5_242_880,
                eval_every=524_288),
}


def get_config(preset: str = "CartPole-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise common.unknown_preset("ppo.py", preset, PRESETS)
  p = dict(PRESETS[preset])
  agent = common.agent_section("ppo", **p.pop("agent"))
  p.setdefault("num_eval_episodes", 32)
  return common.make(p.pop("env"), agent, **p)
