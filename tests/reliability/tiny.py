"""Tiny configs of every registered agent: a few iterations, small nets.

Each compiles in seconds on a CPU; used by the float32, numerics,
determinism and fuzz tests.
"""
import importlib

from haikurl import registry

# Agent -> (configs/<module>.py, a preset, an env it accepts).
AGENTS = {
    "ppo": ("ppo", "CartPole-v1", "gymnax:CartPole-v1"),
    "dqn": ("dqn", "CartPole-v1", "gymnax:CartPole-v1"),
    "sac": ("sac", "Pendulum-v1", "gymnax:Pendulum-v1"),
    "td3": ("td3", "Pendulum-v1", "gymnax:Pendulum-v1"),
    "ddpg": ("ddpg", "Pendulum-v1", "gymnax:Pendulum-v1"),
}


def names():
  """Every registered built-in agent; fails if one has no tiny config, so a
  new agent cannot land without entering these tests."""
  known = registry.known()
  missing = [n for n in known if n not in AGENTS]
  assert not missing, f"add a tiny config for {missing} to {__file__}"
  return known


def base(agent: str):
  module, preset, _ = AGENTS[agent]
  return importlib.import_module(f"configs.{module}").get_config(preset)


def config(agent: str, num_envs: int = 2, rollout_length: int = 4,
           hidden: int = 8, iterations: int = 2, periods: int = 1,
           batch_size: int = 8, buffer_size: int = 64, learning_starts: int = 8,
           num_minibatches: int = 2, num_epochs: int = 1,
           env: str = None, **agent_overrides):
  """A locked config of `agent` that runs `periods` x `iterations`."""
  c = base(agent)
  a = c.agent
  if env is not None:
    c.env = env
  c.env_kwargs = type(c.env_kwargs)()
  c.normalize_observations = False
  a.num_envs, a.rollout_length = num_envs, rollout_length
  for key in a.keys():
    if key.endswith("hidden_sizes"):
      a[key] = (hidden, hidden)
  if "buffer_size" in a:
    a.buffer_size, a.batch_size = buffer_size, batch_size
    # Below the run's length: a longer one is refused.
    a.learning_starts = min(learning_starts,
                            num_envs * rollout_length * iterations * periods - 1)
  if "num_minibatches" in a:
    a.num_minibatches, a.num_epochs = num_minibatches, num_epochs
  if agent == "dqn":
    a.num_atoms = 5
    a.replay_ratio = 1.0 / (num_envs * rollout_length)  # one step per learn
  if "replay_ratio" in a and agent != "dqn":
    a.replay_ratio = 1.0 / (num_envs * rollout_length)
  for key, value in agent_overrides.items():
    a[key] = value
  steps = num_envs * rollout_length
  c.eval_every = steps * iterations
  c.total_env_steps = steps * iterations * periods
  c.num_eval_episodes = 2
  c.num_seeds = 1
  return c


def with_numerics(c):
  with c.unlocked():
    c.check_numerics = True
  return c
