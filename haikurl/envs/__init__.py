"""Functional environments over gymnax and brax.

`make("gymnax:CartPole-v1", num_envs=8)` or `make("brax:ant", num_envs=16,
backend="spring")` returns a batched, auto-resetting Env (see `base.Env`).
A name without a prefix is looked up among gymnax's environments.
"""
import difflib
import importlib
from typing import Callable, Dict, Optional, Sequence

from haikurl.envs import brax_env
from haikurl.envs import gymnax_env
from haikurl.envs.base import Env, Wrapper
from haikurl.envs.wrappers import (NormalizeObservation, RescaleAction,
                                   RunningStatistics, StickyActions,
                                   ObservationSubset)

__all__ = ["Env", "Wrapper", "make", "known_names", "NormalizeObservation",
           "RescaleAction", "RunningStatistics", "StickyActions",
           "ObservationSubset", "check_name",
           "register", "default_sticky_actions"]

# The MinAtar paper's (Young & Tian 2019) and Machado et al.'s (2018)
# recommended probability of repeating the previous action.
MINATAR_STICKY_ACTIONS = 0.1

# A user's own environments: name -> factory(num_envs, **env_kwargs) -> Env.
_REGISTERED: Dict[str, Callable[..., Env]] = {}


def register(name: str, factory: Callable[..., Env]) -> None:
  """Makes `make(name, num_envs, **env_kwargs)` (and configs' `env = name`)
  build `factory(num_envs, **env_kwargs)`: a batched, auto-resetting Env,
  e.g. `GymnaxEnv(name, num_envs, environment=MyGymnaxEnvironment())`.
  `make` adds the usual wrappers (action rescaling, normalisation)."""
  if not callable(factory):
    raise TypeError(f"factory for {name!r} must be callable, got {factory!r}.")
  _REGISTERED[name] = factory


def known_names():
  """Every environment name `make` accepts."""
  return ([f"gymnax:{n}" for n in gymnax_env.known_ids()] +
          [f"brax:{n}" for n in brax_env.known_ids()] + sorted(_REGISTERED))


def _split(name: str):
  if ":" in name:
    library, env_id = name.split(":", 1)
  else:
    library, env_id = "gymnax", name
  return library, env_id


def _load_probes(name: str) -> None:
  # haikurl.testing registers the probe envs when imported; a config naming
  # one ("probe:one_step") must not depend on who imported it first.
  if name.startswith("probe:") and name not in _REGISTERED:
    importlib.import_module("haikurl.testing")


def check_name(name: str) -> str:
  """Returns the full name of `name`, or raises a ValueError listing names."""
  _load_probes(name)
  if name in _REGISTERED:
    return name
  library, env_id = _split(name)
  known = {"gymnax": gymnax_env.known_ids, "brax": brax_env.known_ids}
  if library not in known:
    raise ValueError(f"unknown environment library {library!r} in {name!r}; "
                     "use 'gymnax:<id>' or 'brax:<name>'.")
  ids = known[library]()
  if env_id not in ids:
    close = difflib.get_close_matches(env_id, ids, n=1)
    hint = f" Did you mean {library}:{close[0]}?" if close else ""
    raise ValueError(f"unknown environment {name!r}.{hint} Known {library} "
                     f"environments: {', '.join(ids)}.")
  return f"{library}:{env_id}"


def default_sticky_actions(name: str) -> float:
  """The sticky-action probability `make` uses for `name` by default: 0.1
  for gymnax's MinAtar games, 0 (off) elsewhere."""
  if name in _REGISTERED:
    return 0.0
  library, env_id = _split(name)
  return (MINATAR_STICKY_ACTIONS
          if library == "gymnax" and env_id.endswith("-MinAtar") else 0.0)


def make(name: str, num_envs: int = 1, *, normalize_observations: bool = False,
         update_statistics: bool = True, rescale_actions: Optional[bool] = None,
         backend: str = "spring", episode_length: int = 1000,
         sticky_actions: Optional[float] = None,
         observation_indices: Optional[Sequence[int]] = None,
         **env_kwargs) -> Env:
  """Builds a batched, auto-resetting environment.

  Args:
    name: "gymnax:<id>", "brax:<name>", or a bare gymnax id.
    num_envs: batch size B.
    normalize_observations: wrap in `NormalizeObservation`.
    update_statistics: whether the normaliser updates its statistics (False
      for evaluation envs, which load the training env's statistics).
    rescale_actions: let the agent act in [-1, 1]; defaults to True for
      continuous action spaces.
    backend: brax physics backend ("spring", "positional", "generalized",
      "mjx"). Ignored for gymnax.
    episode_length: brax time limit (gymnax envs carry their own).
    sticky_actions: probability of executing the previous action instead of
      the chosen one (`StickyActions`); None: `default_sticky_actions(name)`
      (0.1 on MinAtar, else 0); 0 turns it off.
    observation_indices: keep only these components of a flat observation
      (`ObservationSubset`: e.g. (0, 2) on CartPole-v1 hides the velocities).
    **env_kwargs: gymnax EnvParams fields or brax environment arguments.

  Returns:
    An Env with `reset`, `step`, `spec` and `num_envs`.
  """
  if num_envs < 1:
    raise ValueError(f"num_envs must be at least 1, got {num_envs}.")
  name = check_name(name)
  library, env_id = _split(name)
  if name in _REGISTERED:
    env = _REGISTERED[name](num_envs, **env_kwargs)
  elif library == "gymnax":
    env = gymnax_env.GymnaxEnv(env_id, num_envs, **env_kwargs)
  else:
    env = brax_env.BraxEnv(env_id, num_envs, backend=backend,
                           episode_length=episode_length, **env_kwargs)
  if observation_indices is not None:
    env = ObservationSubset(env, observation_indices)
  if sticky_actions is None:
    sticky_actions = default_sticky_actions(name)
  if sticky_actions:
    env = StickyActions(env, sticky_actions)
  if rescale_actions is None:
    rescale_actions = not env.spec.discrete
  if rescale_actions:
    env = RescaleAction(env)
  if normalize_observations:
    env = NormalizeObservation(env, update=update_statistics)
  return env
