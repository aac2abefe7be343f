"""Agents by name.

An agent is a module (or any object) with `HParams` (a NamedTuple class of
the traced hyperparameters), `make(settings, spec) -> Agent` and, optionally,
`validate(settings, spec)` that raises ValueError for a setting or an
environment it cannot handle. The `agents` package registers the built-in
ones when first imported; `register` adds a user's own.
"""
import difflib
import importlib
from typing import Any, Dict

_AGENTS: Dict[str, Any] = {}
_BUILTINS = "agents"


def register(name: str, agent_module: Any) -> None:
  """Makes `agent_module` available to configs as `agent.name = name`."""
  for attr in ("HParams", "make"):
    if not hasattr(agent_module, attr):
      raise TypeError(f"agent {name!r} has no `{attr}`: an agent provides "
                      "HParams, make(settings, spec) and optionally validate.")
  _AGENTS[name] = agent_module


def known() -> list:
  _load_builtins()
  return sorted(_AGENTS)


def _load_builtins():
  # Imported by name, on demand: haikurl itself depends on no agent.
  try:
    importlib.import_module(_BUILTINS)
  except ModuleNotFoundError as e:
    if e.name != _BUILTINS:
      raise


def lookup(name: str) -> Any:
  """The agent registered as `name`; an unknown name lists the known ones."""
  if name not in _AGENTS:
    _load_builtins()
  if name not in _AGENTS:
    close = difflib.get_close_matches(name, list(_AGENTS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown agent {name!r}.{hint} Known agents: "
                     f"{', '.join(sorted(_AGENTS))}.")
  return _AGENTS[name]
