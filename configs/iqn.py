"""IQN presets: `get_config("<preset>")`, e.g. `--config=configs/iqn.py:CartPole-v1`.

Over the agent's defaults (agents/iqn.py: DQN's, with DQN Zoo's N = N' = 64
and K = 32 sampled fractions, a 64-cosine embedding and the quantile Huber
loss). IQN's head runs on batch x samples rows, so a gradient step costs
about batch * (N + K + N') head rows against DQN's 3 * batch: the presets
buy speed with fewer samples, a smaller batch and fewer gradient steps per
env step, measured to still learn (docs/tuning.md, the README).
CartPole-v1 and Acrobot-v1 keep DQN's run lengths and periods
(configs/dqn.py); Breakout-MinAtar takes DQN's MinAtar settings (the MinAtar
paper's DQN, Young & Tian 2019). `rejax` is rejax 0.1.3's IQN entry of its
configs/gymnax/cartpole.yaml on CartPole-v1 (for the benchmark beside
rejax): one env, one gradient step on a batch of 1 per env step, N = N' =
64, K = 32, Polyak 0.01, 64-64 swish torso, lr 3e-4 unclipped and constant,
epsilon 1 -> 0.01 over the first half, 1,000 random steps first, 100,000
steps. rejax 0.1.3 bootstraps from the online net (no target net); this
preset uses the target net, with double Q's online selector.
"""
from configs import common
from configs import dqn

PRESETS = {
    "CartPole-v1": dict(
        dqn.ENVS["CartPole-v1"],
        agent=dict(buffer_size=131_072, learning_rate=2e-3, replay_ratio=0.25,
                   n_step=3, batch_size=64, num_tau_samples=8,
                   num_tau_prime_samples=8, num_quantile_samples=16)),
    "Acrobot-v1": dict(dqn.ENVS["Acrobot-v1"],
                       agent=dict(buffer_size=131_072, num_tau_samples=32,
                                  num_tau_prime_samples=32,
                                  num_quantile_samples=32)),
    "Breakout-MinAtar": dict(dqn.ENVS["Breakout-MinAtar"],
                             agent=dict(dqn.ENVS["Breakout-MinAtar"]["agent"],
                                        num_tau_samples=32,
                                        num_tau_prime_samples=32,
                                        num_quantile_samples=32)),
    # rejax 0.1.3's configs/gymnax/cartpole.yaml `iqn` entry, with its
    # network (64-64 swish torso, lecun init, a 64-unit swish layer after the
    # 64-cosine embedding) and defaults (no gradient clipping, Adam).
    "rejax": dict(
        agent=dict(num_envs=1, rollout_length=1, replay_ratio=1.0,
                   batch_size=1, buffer_size=100_000, learning_starts=1000,
                   hidden_sizes=(64, 64), activation="swish",
                   torso_init="lecun", num_tau_samples=64,
                   num_tau_prime_samples=64, num_quantile_samples=32,
                   num_cosines=64, loss="huber", double_q=True,
                   learning_rate=3e-4, anneal_learning_rate=False, tau=0.01,
                   target_period=1, epsilon_start=1.0, epsilon_end=0.01,
                   exploration_fraction=0.5, discount=0.99,
                   # rejax does not clip (max_grad_norm=inf): a finite
                   # stand-in that never triggers.
                   max_grad_norm=1e9),
        total_env_steps=100_000, eval_every=5_000, num_eval_episodes=32),
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
