"""IQN presets: `get_config("<preset>")`, e.g. `--config=configs/iqn.py:CartPole-v1`.

Over the agent's defaults (agents/iqn.py: DQN's, with 64 sampled
fractions, a 64-cosine embedding and the quantile Huber loss).
CartPole-v1 and Acrobot-v1 keep DQN's run lengths and periods
(configs/dqn.py); Breakout-MinAtar takes DQN's MinAtar settings (the MinAtar
paper's DQN, Young & Tian 2019). `rejax` is rejax 0.1.3's IQN defaults on
CartPole-v1 (for benchmarks/pqn_iqn.py): one env, a gradient step of 256 per
env step, Polyak 0.01, 64-64 swish torso, lr 3e-4 unclipped and constant,
epsilon 1 -> 0.05 over the first 10%, 2,048 random steps first. How each was
tuned: docs/tuning.md; measured returns: the README.
"""
from configs import common
from configs import dqn

PRESETS = {
    "CartPole-v1": dict(
        dqn.ENVS["CartPole-v1"],
        agent=dict(buffer_size=131_072, learning_rate=1e-3, replay_ratio=0.25,
                   num_atoms=32)),
    "Acrobot-v1": dict(dqn.ENVS["Acrobot-v1"],
                       agent=dict(buffer_size=131_072, num_atoms=32)),
    "Breakout-MinAtar": dict(dqn.ENVS["Breakout-MinAtar"],
                             agent=dict(dqn.ENVS["Breakout-MinAtar"]["agent"],
                                        num_atoms=32)),
    "rejax": dict(
        agent=dict(num_envs=1, rollout_length=1, replay_ratio=1.0,
                   batch_size=256, buffer_size=131_072, hidden_sizes=(64, 64),
                   activation="swish", torso_init="lecun", num_atoms=64,
                   num_cosines=64, loss="huber", double_q=True,
                   learning_rate=3e-4, anneal_learning_rate=False, tau=0.01,
                   target_period=1, learning_starts=2048,
                   exploration_fraction=0.1, epsilon_end=0.05,
                   # rejax does not clip (max_grad_norm=inf): a finite
                   # stand-in that never triggers.
                   max_grad_norm=1e9),
        total_env_steps=131_072, eval_every=8_192, num_eval_episodes=32),
}
ENVS = {"rejax": "CartPole-v1"}


def get_config(preset: str = "CartPole-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise common.unknown_preset("iqn.py", preset, PRESETS)
  p = dict(PRESETS[preset])
  agent = common.agent_section("iqn", **p.pop("agent"))
  env = ENVS.get(preset, preset)
  return common.make(f"gymnax:{env}", agent, **p)
