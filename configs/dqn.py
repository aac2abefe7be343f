"""DQN presets: `get_config("<env>[,<variant>]")`, e.g.
`--config=configs/dqn.py:CartPole-v1,rainbow`.

Environments: CartPole-v1, Acrobot-v1, MountainCar-v0, Breakout-MinAtar,
Asterix-MinAtar. Without a variant, an environment gets its preset
(`ENVS`). A variant means the same on every environment: it adds its
options (`VARIANTS`) to plain double DQN (`dqn`) on the environment's
preset: dueling, nstep (3-step), per (prioritised), c51, qr, rainbow
(double + dueling + 3-step + prioritised + C51, Hessel et al. 2018 without
noisy nets). What was tuned for one environment is a separate, named entry
of `TUNED` (environment, variant) -> overrides: CartPole-v1's variants, and
its `fast` (wall-clock time to solve) and `rejax` (rejax 0.1.3's DQN
settings, for benchmarks/dqn_cartpole.py) entries. How each was tuned:
docs/tuning.md; measured returns: the README.

The agent's defaults (agents/dqn.py) are the base: double DQN, 16 envs x 8
steps, half a gradient step per env step, L2 loss, Polyak averaging, the
learning rate decayed to 0. MountainCar-v0 follows rl-zoo3's tuned DQN; the
MinAtar presets follow the MinAtar paper's DQN (Young & Tian, 2019).
"""
from configs import common

# environment -> what its preset changes in the agent's defaults, run length.
ENVS = {
    # Whole periods (13 x 8,192 for CartPole, 13 x 16,384 for Acrobot).
    "CartPole-v1": dict(agent=dict(), total_env_steps=106_496,
                        eval_every=8_192, num_eval_episodes=32),
    "Acrobot-v1": dict(agent=dict(), total_env_steps=212_992,
                       eval_every=16_384, num_eval_episodes=16),
    "MountainCar-v0": dict(
        agent=dict(hidden_sizes=(256, 256), buffer_size=10_000,
                   batch_size=128, learning_rate=4e-3,
                   anneal_learning_rate=False, discount=0.98,
                   tau=1.0, target_period=75,  # 600 env steps at 8 per update
                   num_envs=16, rollout_length=1, replay_ratio=0.5,
                   exploration_fraction=0.2, epsilon_end=0.07),
        total_env_steps=120_000, eval_every=12_000, num_eval_episodes=16),
}
_MINATAR = dict(
    hidden_sizes=(128,), num_envs=32, rollout_length=4, replay_ratio=1 / 8,
    buffer_size=100_000, batch_size=64, learning_starts=5_000,
    learning_rate=2.5e-4, anneal_learning_rate=False, tau=1.0,
    target_period=1_000, exploration_fraction=0.1, epsilon_end=0.01,
    v_min=0.0, v_max=50.0)
# Whole iterations of 32 x 4 steps: 800 per evaluation.
ENVS["Breakout-MinAtar"] = dict(agent=_MINATAR, total_env_steps=1_024_000,
                                eval_every=102_400, num_eval_episodes=32)
ENVS["Asterix-MinAtar"] = dict(agent=_MINATAR, total_env_steps=2_048_000,
                               eval_every=102_400, num_eval_episodes=32)

# variant -> its options, added to plain double DQN on the env's preset.
_PLAIN = dict(double_q=True, dueling=False, n_step=1, prioritised=False,
              distributional="none")
VARIANTS = {
    "dqn": dict(_PLAIN),
    "dueling": dict(_PLAIN, dueling=True),
    "nstep": dict(_PLAIN, n_step=3),
    "per": dict(_PLAIN, prioritised=True),
    "c51": dict(_PLAIN, distributional="c51"),
    "qr": dict(_PLAIN, distributional="qr", num_atoms=32, loss="huber"),
    "rainbow": dict(double_q=True, dueling=True, prioritised=True, n_step=3,
                    distributional="c51", priority_exponent=0.5,
                    loss="huber"),
}

# (environment, variant) -> what was tuned there; `agent` overrides, and
# run-length fields. fast and rejax exist on CartPole-v1 only.
_CARTPOLE_SINGLE = dict(buffer_size=131_072, learning_rate=1e-3)
_HARD_128 = dict(learning_rate=2e-3, tau=1.0, target_period=128)
TUNED = {
    # CartPole-v1 without a variant: double DQN with a dueling C51 head.
    ("CartPole-v1", ""): dict(agent=dict(
        dueling=True, distributional="c51", loss="huber", replay_ratio=0.25,
        learning_rate=2e-3, buffer_size=131_072)),
    ("CartPole-v1", "dqn"): dict(agent=_CARTPOLE_SINGLE),
    ("CartPole-v1", "dueling"): dict(agent=dict(_CARTPOLE_SINGLE, **_HARD_128)),
    ("CartPole-v1", "nstep"): dict(agent=dict(_CARTPOLE_SINGLE,
                                              learning_rate=2e-3)),
    ("CartPole-v1", "per"): dict(agent=_CARTPOLE_SINGLE),
    ("CartPole-v1", "c51"): dict(agent=_CARTPOLE_SINGLE),
    ("CartPole-v1", "qr"): dict(agent=dict(_CARTPOLE_SINGLE, **_HARD_128)),
    ("CartPole-v1", "rainbow"): dict(
        agent=dict(replay_ratio=0.25, learning_rate=6e-3),
        total_env_steps=32_768),
    ("CartPole-v1", "fast"): dict(
        agent=dict(_PLAIN, num_envs=64, rollout_length=4, replay_ratio=1 / 16,
                   batch_size=128, n_step=3, learning_rate=5e-2,
                   anneal_learning_rate=True, tau=0.2, target_period=1,
                   exploration_fraction=0.15),
        total_env_steps=65_536),
    ("CartPole-v1", "rejax"): dict(
        agent=dict(_PLAIN, num_envs=1, rollout_length=1, replay_ratio=1.0,
                   batch_size=256, buffer_size=131_072, hidden_sizes=(64, 64),
                   activation="swish", torso_init="lecun",
                   learning_rate=3e-4, anneal_learning_rate=False, tau=0.01,
                   target_period=1, learning_starts=2048,
                   exploration_fraction=0.1, epsilon_end=0.05, loss="l2",
                   # rejax does not clip gradients (max_grad_norm=inf); a
                   # finite stand-in that never triggers.
                   max_grad_norm=1e9),
        total_env_steps=131_072, eval_every=8_192),
}


def preset(arg: str) -> dict:
  """The preset "<env>[,<variant>]" as data: env, agent overrides, run length."""
  env, _, variant = arg.partition(",")
  tuned_variants = {v for e, v in TUNED if e == env and v}
  if env not in ENVS or (variant and variant not in VARIANTS and
                         variant not in tuned_variants):
    raise ValueError(
        f"unknown preset {arg!r} for configs/dqn.py; environments: "
        f"{', '.join(ENVS)}; variants: {', '.join(VARIANTS)}; "
        f"CartPole-v1 also: fast, rejax.")
  p = dict(ENVS[env])
  agent = dict(p.pop("agent"))
  if variant:
    agent.update(VARIANTS.get(variant, {}))
  tuned = dict(TUNED.get((env, variant), {}))
  agent.update(tuned.pop("agent", {}))
  p.update(tuned)
  return dict(p, env=f"gymnax:{env}", agent=agent)


def get_config(arg: str = "CartPole-v1"):
  """Returns the locked config for "<env>[,<variant>]"."""
  p = preset(arg)
  section = common.agent_section("dqn", **p.pop("agent"))
  return common.make(p.pop("env"), section, **p)
