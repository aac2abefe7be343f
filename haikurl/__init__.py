"""haikurl: reinforcement-learning agents as pure functions, trained by one
jittable function.

    import haikurl
    train = haikurl.make_train(config)
    state, metrics = jax.jit(jax.vmap(train))(keys, hparams)

Names are imported on first use (PEP 562), so `haikurl-train` reports a bad
flag, preset or override in about a second instead of first importing
JAX, gymnax and brax.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("cpu", "datasets", "envs", "evaluation", "hparams", "networks",
               "returns", "testing")
_NAMES = {
    "Agent": "haikurl.types", "EnvSpec": "haikurl.types",
    "TimeStep": "haikurl.types", "Transition": "haikurl.types",
    "Train": "haikurl.loop", "TrainState": "haikurl.loop",
    "make_train": "haikurl.loop", "compiler_options": "haikurl.loop",
    "make_env": "haikurl.loop", "agent_settings": "haikurl.loop",
    "complete_config": "haikurl.loop",
    "load_policy": "haikurl.policy",
}

__all__ = sorted(_NAMES) + ["register_agent"] + list(_SUBMODULES)


def __getattr__(name):
  if name in _SUBMODULES:
    return importlib.import_module(f"haikurl.{name}")
  if name == "register_agent":
    return importlib.import_module("haikurl.registry").register
  if name in _NAMES:
    return getattr(importlib.import_module(_NAMES[name]), name)
  raise AttributeError(f"module 'haikurl' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
