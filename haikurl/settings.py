"""An agent's settings: typed, frozen records with defaults, built from a config.

Every agent module declares, in one place, what it accepts:

  Settings  a frozen dataclass (a subclass of `Settings` below) of the static
            settings: they fix shapes or control flow and are closed over by
            `make`. Every field has a default and a line of documentation
            (`setting(default, doc, check)`), and is checked when the record
            is built.
  HParams   a NamedTuple of the traced hyperparameters (float32 scalars, or
            [M] under vmap), every field with a default. Optional
            `CHECKS = {field: check}` on the class checks their values.

`split(agent_config, agent_module)` builds both from `config.agent`: a config
sets only what it changes, and a key the agent does not have is one line
naming it (with the closest name). A variant adds traced fields of its own
with `extend_hparams(base, ...)`, so they can be swept from the CLI like the
built-in ones.

    @dataclasses.dataclass(frozen=True)
    class Settings(settings.Settings):
      batch_size: int = settings.setting(128, "transitions per gradient step",
                                         settings.positive_int)

    class HParams(NamedTuple):
      learning_rate: float = 1e-3   # Adam step size
      CHECKS = {"learning_rate": settings.positive}
"""
import copy
import dataclasses
import difflib
from typing import (Any, Callable, ClassVar, Dict, NamedTuple, Optional,
                    Tuple, Type)

import numpy as np
from ml_collections import config_dict

# Keys of `config.agent` that are neither settings nor hyperparameters.
META_KEYS = ("name",)
# Settings the loop fills in; a config does not set them.
LOOP_KEYS = ("total_env_steps", "data_axis")

# A check maps a value to None (fine) or the end of a sentence saying what
# it must be ("must be a positive integer").
Check = Callable[[Any], Optional[str]]


def _fmt(value) -> str:
  v = np.asarray(value)
  if v.ndim == 0 and np.issubdtype(v.dtype, np.floating):
    return f"{float(v):.6g}"
  if v.ndim >= 1 and np.issubdtype(v.dtype, np.floating):
    return "[" + ", ".join(f"{float(x):.6g}" for x in v.ravel()) + "]"
  return repr(value)


def _is_int(x) -> bool:
  return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_number(x) -> bool:
  return (isinstance(x, (int, float, np.integer, np.floating)) and
          not isinstance(x, bool))


def positive_int(x) -> Optional[str]:
  return None if _is_int(x) and x >= 1 else "must be a positive integer"


def non_negative_int(x) -> Optional[str]:
  return None if _is_int(x) and x >= 0 else "must be a non-negative integer"


def positive_ints(x) -> Optional[str]:
  """A tuple of positive integers; () is allowed (no hidden layer)."""
  sizes = tuple(x) if isinstance(x, (tuple, list)) else (x,)
  if all(_is_int(s) and s >= 1 for s in sizes):
    return None
  return "must be a tuple of positive integers"


def boolean(x) -> Optional[str]:
  return None if isinstance(x, (bool, np.bool_)) else "must be True or False"


def number(x) -> Optional[str]:
  return None if _is_number(x) else "must be a number"


def one_of(*choices) -> Check:
  def check(x):
    return None if x in choices else f"must be one of {choices}"
  return check


# Checks of traced values: they see numpy arrays (a sweep's [M] values too).
def positive(v) -> Optional[str]:
  return None if np.all(np.asarray(v) > 0) else "must be positive"


def non_negative(v) -> Optional[str]:
  return None if np.all(np.asarray(v) >= 0) else "must be non-negative"


def unit_interval(v) -> Optional[str]:
  v = np.asarray(v)
  return None if np.all((v >= 0) & (v <= 1)) else "must lie in [0, 1]"


def optional_name(x) -> Optional[str]:
  return None if x is None or isinstance(x, str) else "must be None or a name"


def setting(default, doc: str, check: Optional[Check] = None):
  """A field of a Settings record: its default, documentation and check."""
  return dataclasses.field(default=default,
                           metadata={"doc": doc, "check": check})


@dataclasses.dataclass(frozen=True)
class Settings:
  """The static settings every agent has; subclasses add their own.

  A subclass may redeclare a field to change its default. `check` is the
  place for checks that relate several fields; each field's own check runs
  first. Raise ValueError with one line naming the setting.
  """
  num_envs: int = setting(8, "environments stepped in parallel", positive_int)
  rollout_length: int = setting(
      16, "env steps per environment between calls of learn", positive_int)
  total_env_steps: int = setting(
      0, "the run's length in env steps (whole iterations); set by the loop",
      non_negative_int)
  data_axis: Optional[str] = setting(
      None, "the device axis over which gradients are averaged "
      "(config.data_parallel > 1); set by the loop", optional_name)

  # Whether the agent can train one member over several devices
  # (`config.data_parallel`): its learn takes the gradient of a local batch
  # and updates through `haikurl.optim` built with `axis_name=data_axis`,
  # whose gradient average keeps the parameters the same on every device.
  # Agents whose state holds per-device data (a replay buffer) or that need
  # whole-batch statistics leave it False and are refused.
  DATA_PARALLEL: ClassVar[bool] = False

  def __post_init__(self):
    for f in dataclasses.fields(self):
      check = f.metadata.get("check")
      value = getattr(self, f.name)
      problem = check(value) if check is not None else None
      if problem:
        raise ValueError(f"config.agent.{f.name} {problem}, got "
                         f"{_fmt(value)}.")
    self.check()

  def check(self) -> None:
    """Checks across fields (override; call super().check())."""

  def check_spec(self, spec) -> None:
    """Checks against the environment's EnvSpec, made by `make_train`
    before anything is traced (override; call super().check_spec(spec))."""

  @property
  def steps_per_learn(self) -> int:
    """Env steps between calls of learn: num_envs * rollout_length."""
    return self.num_envs * self.rollout_length

  def replace(self, **changes) -> "Settings":
    return dataclasses.replace(self, **changes)


def describe(settings_cls: Type[Settings]) -> Dict[str, Tuple[Any, str]]:
  """name -> (default, documentation) of every field of a Settings class."""
  return {f.name: (f.default, f.metadata.get("doc", ""))
          for f in dataclasses.fields(settings_cls)}


def hparam_defaults(hparams_cls: Type) -> Dict[str, Any]:
  """name -> default of every traced hyperparameter (None: no default)."""
  defaults = getattr(hparams_cls, "_field_defaults", {})
  return {f: defaults.get(f) for f in hparams_cls._fields}


def extend_hparams(base: Type, name: str = "HParams",
                   checks: Optional[Dict[str, Check]] = None,
                   keep: Optional[Tuple[str, ...]] = None,
                   defaults: Optional[Dict[str, float]] = None,
                   **fields: float) -> Type:
  """`base`'s fields and defaults plus new traced fields with defaults.

      HParams = settings.extend_hparams(dqn.HParams, alpha=0.9, temperature=0.03)

  The agent's code reads `hp.learning_rate` as before; a variant's hooks
  read `hp.alpha`. `checks` adds value checks for the new fields; `keep`
  keeps only those of `base`'s fields (for an agent that reads fewer);
  `defaults` gives some of `base`'s fields other defaults.
  """
  clash = [f for f in fields if f in base._fields]
  if clash:
    raise ValueError(f"extend_hparams: {clash} are already fields of "
                     f"{base.__name__}.")
  kept = tuple(f for f in base._fields if keep is None or f in keep)
  unknown = sorted(set(defaults or {}) - set(kept))
  if unknown:
    raise ValueError(f"extend_hparams: defaults for {unknown}, which are not "
                     f"kept fields of {base.__name__}.")
  base_defaults = {f: d for f, d in hparam_defaults(base).items() if f in kept}
  base_defaults.update(defaults or {})
  cls = NamedTuple(name, [(f, float) for f in kept + tuple(fields)])
  cls.__new__.__defaults__ = tuple(
      [base_defaults[f] for f in kept] + list(fields.values()))
  cls._field_defaults = {**base_defaults, **fields}
  cls.CHECKS = {f: c for f, c in {**getattr(base, "CHECKS", {}),
                                  **(checks or {})}.items()
                if f in kept or f in fields}
  return cls


def check_hparams(hparams) -> None:
  """Every traced value is finite and passes its HParams class's CHECKS."""
  checks = getattr(type(hparams), "CHECKS", {})
  for name, value in zip(type(hparams)._fields, hparams):
    v = np.asarray(value)
    problem = None if np.all(np.isfinite(v)) else "must be finite"
    if problem is None and name in checks:
      problem = checks[name](v)
    if problem:
      raise ValueError(f"config.agent.{name} {problem}, got {_fmt(v)}.")


def _unknown_key(key: str, known, agent_name: str) -> ValueError:
  close = difflib.get_close_matches(key, list(known), n=1)
  hint = f"; did you mean {close[0]!r}?" if close else "."
  return ValueError(f"agent {agent_name!r} has no setting {key!r} "
                    f"(config.agent.{key}){hint}")


def agent_keys(agent_module) -> Dict[str, Any]:
  """Every key `config.agent` may set for this agent, with its default."""
  keys = {f.name: f.default for f in dataclasses.fields(agent_module.Settings)
          if f.name not in LOOP_KEYS}
  keys.update(hparam_defaults(agent_module.HParams))
  return keys


def split(agent_config, agent_module, **loop_settings):
  """`config.agent` -> (Settings, HParams) of `agent_module`.

  Args:
    agent_config: the config's agent section (a ConfigDict or dict); keys it
      leaves out take the agent's defaults.
    agent_module: has `Settings` and `HParams`.
    **loop_settings: settings the loop fills in (total_env_steps).

  Returns:
    (settings, hparams): the agent's Settings record, and its HParams of
    float32 numpy scalars.

  Raises:
    ValueError: one line, for a key the agent does not have or a value its
      checks refuse.
  """
  values = (agent_config.to_dict() if hasattr(agent_config, "to_dict")
            else dict(agent_config))
  name = values.get("name", getattr(agent_module, "__name__", "?"))
  known = agent_keys(agent_module)
  for key in values:
    if key not in known and key not in META_KEYS:
      raise _unknown_key(key, known, name)
  static = {f.name for f in dataclasses.fields(agent_module.Settings)}
  settings = agent_module.Settings(
      **{k: v for k, v in values.items() if k in static and k not in LOOP_KEYS},
      **loop_settings)
  hp_cls = agent_module.HParams
  hp_values = {}
  for f, default in hparam_defaults(hp_cls).items():
    value = values.get(f, default)
    if value is None:
      raise ValueError(f"agent {name!r} needs config.agent.{f} (its HParams "
                       "field has no default).")
    if not _is_number(value):
      raise ValueError(f"config.agent.{f} must be a number, got {value!r}.")
    hp_values[f] = np.asarray(value, np.float32)
  hparams = hp_cls(**hp_values)
  check_hparams(hparams)
  return settings, hparams


def _as_config_value(value):
  return tuple(value) if isinstance(value, list) else value


# Run-level settings and their defaults (powers of two: whole iterations of
# the usual num_envs x rollout_length).
RUN_DEFAULTS = dict(
    env_kwargs={},               # brax backend / episode_length, gymnax params
    normalize_observations=False,
    total_env_steps=131_072,
    eval_every=16_384,           # env steps between evaluations
    num_eval_episodes=16,        # evaluation episodes per evaluation
    num_seeds=1,
    seed=0,
    checkpoint_every=0,          # periods between checkpoints; 0: at the end
    wandb=False,                 # also log to Weights & Biases (needs wandb)
    chunk_size=0,                # members per jitted call; 0: all, -1: auto
    # Devices per member: >1 splits each member's envs and gradient batch
    # over that many devices and averages the gradients (haikurl.loop);
    # members are sharded over the remaining mesh axis.
    data_parallel=1,
    # >= 0: rerun only member i of this config's batch (its seed and sweep
    # setting), bitwise as in the whole batch; -1: every member.
    member=-1,
    # Evaluation protocol (haikurl/evaluation.py): "greedy", "epsilon"
    # (greedy with probability eval_epsilon of a uniform random action) or
    # "sampled" (the agent's behaviour policy).
    eval_policy="greedy",
    eval_epsilon=0.05,
    # Probability that the env repeats the previous action (Machado et al.
    # 2018), training and evaluation; None: the env's default (0.1 on
    # MinAtar, else 0); 0 turns it off.
    sticky_actions=config_dict.placeholder(float),
    # Offline agents (bc, iql, cql): the Minari dataset they learn from, a
    # folder or a Minari id (haikurl/offline.py); None for online agents.
    dataset=config_dict.placeholder(str),
)
SWEEP_META = dict(method="grid", num_samples=0)


def complete(config: config_dict.ConfigDict, agent_module) -> config_dict.ConfigDict:
  """A copy of `config` that lists every setting, defaults filled in.

  Agent keys the config leaves out get the agent's defaults, run-level keys
  get `RUN_DEFAULTS`, and `config.sweep` declares every agent key (`()`:
  not swept), so dotted overrides (`--config.agent.discount=0.9`,
  `--config.sweep.learning_rate=...`) work on a config that set only a few
  keys. Unknown agent keys are left for `split` to refuse. The copy is
  locked if `config` was.
  """
  # A deep copy keeps typed placeholders (sticky_actions: float or None),
  # which a round trip through to_dict would turn into untyped Nones.
  out = copy.deepcopy(config)
  out.unlock()
  agent = out.agent
  for key, default in agent_keys(agent_module).items():
    if key not in agent:
      agent[key] = _as_config_value(default)
  for key, default in RUN_DEFAULTS.items():
    if key not in out:
      if isinstance(default, dict):
        default = config_dict.ConfigDict(default)
      elif isinstance(default, config_dict.FieldReference):
        default = config_dict.placeholder(default.get_type())
      out[key] = default
  if "sweep" not in out:
    out.sweep = config_dict.ConfigDict(SWEEP_META)
  for key, default in SWEEP_META.items():
    if key not in out.sweep:
      out.sweep[key] = default
  for key in agent.keys():
    if key not in META_KEYS and key not in out.sweep:
      out.sweep[key] = ()
  if config.is_locked:
    out.lock()
  return out
