"""R2D2 presets: `--config=configs/r2d2.py:MemoryChain-bsuite`.

The partially observable tasks of configs/ppo_rnn.py:
- MemoryChain-bsuite with a memory length of 16 (the context bit is shown at
  the first step only and must be recalled at the end; a memoryless policy
  scores 0 on average);
- CartPole-v1-position: cart position and pole angle only (popgym's
  "stateless CartPole");
- Breakout-MinAtar: the MinAtar CNN before the core.
MemoryChain's sequences (24 steps, 4 of burn-in, a new one every 4 steps)
hold a whole 17-step episode after the burn-in. The agent's defaults
(agents/r2d2.py) fill in the rest: prioritised sequences (alpha 0.9, eta
0.9), value rescaling, 5-step double-Q targets, Ape-X epsilons over the envs.

Measured on a 2-core CPU, seeds vmapped in one program (tests/agents/
r2d2_test.py's eval_returns), greedy evaluation:
- MemoryChain-bsuite, 2 seeds, 131,072 steps: 1.0 and 1.0 at every
  evaluation from 16,384 steps on (compile 47 s, run 75 s, load ~7); the
  preset runs 65,536 steps.
- CartPole-v1-position, 2 seeds, 131,072 steps (half the preset): greedy
  304, 499, 328, 269 and 329, 326, 500, 500 at 32k/65k/98k/131k (final
  mean 385; training episodes with the Ape-X epsilons 467 and 450); compile
  63 s, run 205 s, load 5.3-6.5. The full 262,144-step run over 4 seeds
  was not finished on the loaded CPU: the 450 target is not yet shown.
- Breakout-MinAtar: not measured (a CNN unrolled over 32 x 40 sequences
  is too slow for the shared 2-core CPU).
"""
from configs import common
from configs import ppo_rnn

PRESETS = {
    "MemoryChain-bsuite": dict(
        env="gymnax:MemoryChain-bsuite",
        env_kwargs=dict(memory_length=ppo_rnn.MEMORY_LENGTH),
        agent=dict(num_envs=32, rollout_length=8, sequence_length=24,
                   sequence_period=4, burn_in=4, n_step=5, core_size=64,
                   hidden_sizes=(64,), head_sizes=(64,), batch_size=32,
                   buffer_size=65_536, learning_starts=4_096,
                   replay_ratio=1 / 32, target_period=100,
                   learning_rate=1e-3, discount=0.99),
        total_env_steps=65_536, eval_every=16_384, num_eval_episodes=64),
    "CartPole-v1-position": dict(
        env="gymnax:CartPole-v1",
        env_kwargs=dict(observation_indices=ppo_rnn.POSITION_ONLY),
        agent=dict(num_envs=32, rollout_length=8, sequence_length=40,
                   sequence_period=20, burn_in=10, n_step=5, core_size=64,
                   hidden_sizes=(64,), head_sizes=(64,), batch_size=32,
                   buffer_size=131_072, learning_starts=4_096,
                   replay_ratio=1 / 16, target_period=200,
                   learning_rate=1e-3, discount=0.99),
        total_env_steps=262_144, eval_every=32_768, num_eval_episodes=16),
    "Breakout-MinAtar": dict(
        env="gymnax:Breakout-MinAtar",
        agent=dict(num_envs=32, rollout_length=8, sequence_length=40,
                   sequence_period=20, burn_in=10, n_step=5, core_size=128,
                   hidden_sizes=(128,), head_sizes=(128,), batch_size=32,
                   buffer_size=131_072, learning_starts=8_192,
                   replay_ratio=1 / 16, target_period=500,
                   learning_rate=2.5e-4, discount=0.99),
        total_env_steps=1_048_576, eval_every=131_072, num_eval_episodes=16),
}


def get_config(preset: str = "MemoryChain-bsuite"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise common.unknown_preset("r2d2.py", preset, PRESETS)
  p = dict(PRESETS[preset])
  agent = common.agent_section("r2d2", **p.pop("agent"))
  p.setdefault("num_eval_episodes", 32)
  return common.make(p.pop("env"), agent, **p)
