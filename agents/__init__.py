"""Built-in agents, registered with haikurl by name.

`agents.get("ppo")` returns the module; an unknown name lists the known ones.
Each module provides `HParams`, `make(settings, spec) -> Agent` and
`validate(settings, spec)`.
"""
from agents import dqn
from agents import ppo
from haikurl import registry

BUILTIN = {
    "dqn": dqn,
    "ppo": ppo,
}

for _name, _module in BUILTIN.items():
  registry.register(_name, _module)


def get(name: str):
  """The agent module registered as `name` (ValueError lists known names)."""
  return registry.lookup(name)
