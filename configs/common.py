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


def make(env: str, agent: config_dict.ConfigDict,
         **run: Any) -> config_dict.ConfigDict:
  """A locked config: env, agent section and run settings (`run` overrides
  `haikurl.settings.RUN_DEFAULTS`: total_env_steps, eval_every,
  num_eval_episodes, env_kwargs, normalize_observations, ...), with a sweep
  section that declares every agent key."""
  from haikurl import registry  # pylint: disable=g-import-not-at-top
  from haikurl import settings  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(run) - set(settings.RUN_DEFAULTS))
  if unknown:
    raise ValueError(f"unknown run settings {unknown}.")
  c = config_dict.ConfigDict()
  c.env = env
  c.agent = agent
  for key, value in run.items():
    c[key] = config_dict.ConfigDict(value) if isinstance(value, dict) else value
  c = settings.complete(c, registry.lookup(agent.name))
  c.lock()
  return c


def unknown_preset(file: str, arg: str, known) -> ValueError:
  return ValueError(f"unknown preset {arg!r} for configs/{file}; known: "
                    f"{', '.join(known)}.")
