"""Agents by name, or by the module path of your own.

An agent is a module (or any object) with `Settings` (a frozen dataclass of
its static settings, `haikurl.settings.Settings`), `HParams` (a NamedTuple of
the traced hyperparameters, with defaults), `make(settings, spec) -> Agent`
and, optionally, `validate(settings, spec)` that raises ValueError for an
environment it cannot handle.

`config.agent.name` is either a registered name (the `agents` package
registers the built-in ones when first imported; `register` adds yours) or
a dotted module path such as `my_agents.mdqn`, imported from `sys.path`
(`haikurl-train` puts the config file's directory and the current directory
on it).
"""
import difflib
import importlib
import sys
from typing import Any, Dict

_AGENTS: Dict[str, Any] = {}
_BUILTINS = "agents"
REQUIRED = ("Settings", "HParams", "make")


def check_agent(name: str, agent_module: Any) -> None:
  """Raises a one-line TypeError unless `agent_module` is an agent."""
  missing = [attr for attr in REQUIRED if not hasattr(agent_module, attr)]
  if missing:
    raise TypeError(
        f"agent {name!r} has no {', '.join(missing)}: an agent module "
        "provides Settings (a haikurl.settings.Settings dataclass), HParams "
        "(a NamedTuple with defaults), make(settings, spec) and optionally "
        "validate(settings, spec).")


def register(name: str, agent_module: Any) -> None:
  """Makes `agent_module` available to configs as `agent.name = name`."""
  check_agent(name, agent_module)
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


def _no_builtins() -> str:
  """Why no agent is known: the built-in package is missing, or another
  package of its name was imported."""
  found = sys.modules.get(_BUILTINS)
  if found is None:
    return (f"none (no package {_BUILTINS!r} on sys.path: run from the "
            "repository root or install haikurl with pip)")
  where = getattr(found, "__file__", None) or next(
      iter(getattr(found, "__path__", [])), "?")
  return (f"none ({_BUILTINS!r} came from {where}, which registers no "
          "agent: another package of that name is ahead of haikurl's on "
          "sys.path)")


def _import_path(name: str) -> Any:
  """The agent module at dotted path `name`, or None if there is none."""
  try:
    module = importlib.import_module(name)
  except ModuleNotFoundError as e:
    # Only a missing module *of this path* means "not a path": an import
    # error inside the user's module is theirs to see.
    parts = name.split(".")
    if e.name in {".".join(parts[:i + 1]) for i in range(len(parts))}:
      return None
    raise
  try:
    check_agent(name, module)
  except TypeError as e:
    raise ValueError(str(e)) from None
  return module


def lookup(name: str) -> Any:
  """The agent registered as `name`, or the module at dotted path `name`.

  Raises:
    ValueError: one line that lists the known agents and says how to add
      your own.
  """
  if name not in _AGENTS:
    _load_builtins()
  if name in _AGENTS:
    return _AGENTS[name]
  if name and all(part.isidentifier() for part in name.split(".")):
    module = _import_path(name)
    if module is not None:
      return module
  close = difflib.get_close_matches(name, list(_AGENTS), n=1)
  hint = f" Did you mean {close[0]!r}?" if close else ""
  raise ValueError(
      f"unknown agent {name!r}.{hint} Known agents: "
      f"{', '.join(sorted(_AGENTS)) or _no_builtins()}; for your own, set "
      "config.agent.name to "
      "its module path (e.g. 'my_agents.mdqn', importable from the config "
      "file's directory, the current directory or sys.path) or call "
      "haikurl.register_agent(name, module).")
