"""The built-in agents' default presets, for tests that cover every agent.

`haikurl.testing.tiny` shrinks any config; these name which config each
registered agent is tested with: `configs/<name>.py`'s default preset, so
an agent registered without a config file fails `default_config` (and
`tests/reliability/numerics_test.py` says so).
"""
import importlib

from haikurl import registry
from haikurl import testing


def names():
  """Every registered agent."""
  return registry.known()


def default_config(agent: str):
  """`configs/<agent>.py`'s default preset."""
  return importlib.import_module(f"configs.{agent}").get_config()


def tiny(agent: str, **kwargs):
  """`haikurl.testing.tiny` of `agent`'s default preset."""
  return testing.tiny(default_config(agent), **kwargs)


def with_numerics(config):
  """`config` with `check_numerics` on (modified in place and returned)."""
  with config.unlocked():
    config.check_numerics = True
  return config
