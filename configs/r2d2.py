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
- CartPole-v1-position, 4 seeds, the preset (262,144 steps; the rate
  decayed linearly to 0, the previous action and reward as core inputs):
  final greedy returns 500, 500, 500, 500 (32 episodes each; every seed
  at 500 from 163,840 steps but one evaluation of one seed: 464, 396, 492
  at 164k-229k); 667 s compile included, load 3.4. Without the decay and
  the previous inputs (2 seeds, 131,072 steps): 269 and 500, greedy
  evaluations swinging 269-500 between periods.
- Breakout-MinAtar: measured for a tenth of the preset only (98,304 of
  1,048,576 steps, 2 seeds, greedy evaluation of 32 episodes with sticky
  actions 0.1 every 32,768 steps): 3.4 / 2.5, 4.4 / 4.1, 5.9 / 4.1 (final
  mean 5.0; random play about 0.4); 722 s compile included, load 1.9-3.4
  (the CNN unrolled over 32 x 40 sequences is slow on a CPU).
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
                   learning_rate=1e-3, anneal_learning_rate=True,
                   previous_inputs=True, discount=0.99),
        total_env_steps=262_144, eval_every=32_768, num_eval_episodes=32),
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
