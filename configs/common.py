"""What every config file shares: the agent section from the agent's own
defaults, and the run-level settings.

An agent declares its settings, with defaults and documentation, in its
module (`agents/<name>.py`: `Settings` and `HParams`). A preset is only what
it changes; `agent_section` fills in the rest, so a printed or saved config
shows every setting and a dotted override can name any of them.
"""
from typing import Any, Dict, Optional

from ml_collections import config_dict


def agent_section(name: str, **overrides: Any) -> config_dict.ConfigDict:
  """`config.agent` for agent `name`: its defaults, then `overrides`.

  Imports the agent's module (a registered name or a dotted module path) to
  read its defaults.
  """
  from haikurl import registry  # pylint: disable=g-import-not-at-top
  from haikurl import settings  # pylint: disable=g-import-not-at-top
  keys = settings.agent_keys(registry.lookup(name))
  unknown = sorted(set(overrides) - set(keys))
  if unknown:
    raise ValueError(f"agent {name!r} has no settings {unknown}.")
  values = {k: tuple(v) if isinstance(v, list) else v
            for k, v in {**keys, **overrides}.items()}
  return config_dict.ConfigDict(dict(name=name, **values))


def make(env: str, agent: config_dict.ConfigDict, *, total_env_steps: int,
         eval_every: int, num_eval_episodes: int,
         env_kwargs: Optional[Dict[str, Any]] = None,
         normalize_observations: bool = False) -> config_dict.ConfigDict:
  """A locked config: env, agent section, run length and run settings."""
  c = config_dict.ConfigDict()
  c.env = env
  # Extra env arguments: brax `backend` and `episode_length`, gymnax params.
  c.env_kwargs = config_dict.ConfigDict(env_kwargs or {})
  c.normalize_observations = normalize_observations
  c.agent = agent
  c.total_env_steps = total_env_steps
  c.eval_every = eval_every          # env steps between evaluations
  c.num_eval_episodes = num_eval_episodes
  add_run_settings(c)
  c.lock()
  return c


def add_run_settings(c: config_dict.ConfigDict) -> config_dict.ConfigDict:
  """Adds seeds, checkpointing, logging and sweep fields to a config whose
  `agent` section is complete (the sweep declares every agent key)."""
  c.num_seeds = 1
  c.seed = 0
  # Run-only settings (may change when a run is resumed).
  c.checkpoint_every = 0        # periods between checkpoints; 0: only at the end
  c.wandb = False               # also log to Weights & Biases (needs wandb)
  # Sweep (haikurl/sweep.py): every agent key declared, () = not swept; only
  # traced ones may be given, e.g. --config.sweep.learning_rate='(1e-3, 3e-4)'.
  c.sweep = config_dict.ConfigDict(dict(
      method="grid", num_samples=0,
      **{k: () for k in c.agent.keys() if k != "name"}))
  c.chunk_size = 0              # members per jitted call; 0: all, -1: auto
  return c


def unknown_preset(file: str, arg: str, known) -> ValueError:
  return ValueError(f"unknown preset {arg!r} for configs/{file}; known: "
                    f"{', '.join(known)}.")
