"""Built-in agents, registered with haikurl by name.

`agents.get("ppo")` returns the module; an unknown name lists the known ones.
Each module provides `Settings` (its static settings, with defaults),
`HParams` (its traced hyperparameters, with defaults), `make(settings, spec,
**hooks) -> Agent` and `validate(settings, spec)`.
"""
from agents import a2c
from agents import bc
from agents import cql
from agents import ddpg
from agents import dqn
from agents import iql
from agents import iqn
from agents import ppo
from agents import ppo_rnn
from agents import pqn
from agents import r2d2
from agents import sac
from agents import td3
from haikurl import registry

BUILTIN = {
    "a2c": a2c,
    "dqn": dqn,
    "iqn": iqn,
    "ppo": ppo,
    "ppo_rnn": ppo_rnn,
    "pqn": pqn,
    "r2d2": r2d2,
    "sac": sac,
    "td3": td3,
    "ddpg": ddpg,
    "bc": bc,
    "iql": iql,
    "cql": cql,
}

for _name, _module in BUILTIN.items():
  registry.register(_name, _module)


def get(name: str):
  """The agent module registered as `name` (ValueError lists known names)."""
  return registry.lookup(name)
