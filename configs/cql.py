"""CQL presets: `--config=configs/cql.py:<preset> --config.dataset=<Minari
dataset folder or id>`.

Offline runs count gradient steps in `total_env_steps` and `eval_every`
(haikurl/offline.py). The agent's defaults (agents/cql.py) are Kumar et
al. (2020)'s: 256-256 ReLU MLPs, batch 256, the penalty's temperature 1;
continuous actions: SAC's critics and actor with the paper's rates (actor
1e-4, critics 3e-4) and penalty weight 5 (`cql_alpha`, their
`min_q_weight` on the locomotion tasks; `--config.agent.lagrange=True`
tunes it towards `target_action_gap` instead); discrete actions: DQN's
double-Q network with weight 1 (their Atari setting), Polyak targets. The
presets name the environment evaluation runs in; the dataset must come
from it (`haikurl-collect`, README "Offline RL").
"""
from configs import td3

PRESETS = {
    "CartPole-v1": dict(env="gymnax:CartPole-v1", agent=dict(),
                        total_env_steps=10_000, eval_every=1_000,
                        num_eval_episodes=16),
    # 64-64 networks (the penalty's 30 critic calls per example make
    # 256-256 about 2 gradient steps/s per member on a 2-core CPU) and an
    # actor rate of 1e-3: at the paper's 1e-4 (and at 3e-4, with or without
    # its BC warm-up) the actor lagged a critic whose own greedy action
    # (argmax over 21 actions) already scored about -140 at 4k steps, and
    # stayed near -1,000; tau 0.02 or a critic rate of 1e-4 were worse,
    # penalty weights 1 and 0.2 let Q overestimate the bounds' actions
    # (README, "Offline RL").
    "Pendulum-v1": dict(env="gymnax:Pendulum-v1",
                        agent=dict(cql_alpha=5.0,
                                   actor_hidden_sizes=(64, 64),
                                   critic_hidden_sizes=(64, 64),
                                   actor_learning_rate=1e-3),
                        total_env_steps=20_000, eval_every=2_000,
                        num_eval_episodes=16),
    "Breakout-MinAtar": dict(env="gymnax:Breakout-MinAtar",
                             agent=dict(hidden_sizes=(256,)),
                             total_env_steps=50_000, eval_every=5_000,
                             num_eval_episodes=16),
}


def get_config(preset: str = "Pendulum-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  return td3.build("cql", "cql.py", PRESETS, preset)
