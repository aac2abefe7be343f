"""A config's sweep -> the batch of members one program trains.

A config declares every sweepable key of its agent up front in `c.sweep`
(so a locked config still accepts the overrides); `()` means "not swept":

    c.sweep = config_dict.ConfigDict(dict(
        method="grid",          # "grid" or "random"
        num_samples=0,          # settings drawn by method="random"
        learning_rate=(), discount=(), ..., num_envs=(), ...))

Grid search: every combination of the listed values, times `num_seeds`:

    haikurl-train --config=configs/ppo.py:CartPole-v1 --config.num_seeds=4 \
        --config.sweep.learning_rate='(1e-3, 3e-4)' \
        --config.sweep.entropy_coef='(0.0, 0.01)'              # 2 x 2 x 4 = 16

Random search: `num_samples` settings, each key drawn independently from
`('uniform', low, high)`, `('log_uniform', low, high)` or, for a plain tuple
of values, uniformly among them; times `num_seeds`:

    haikurl-train --config=configs/ppo.py:CartPole-v1 --config.num_seeds=2 \
        --config.sweep.method=random --config.sweep.num_samples=16 \
        --config.sweep.learning_rate='("log_uniform", 1e-4, 1e-2)' \
        --config.sweep.gae_lambda='("uniform", 0.9, 1.0)'      # 16 x 2 = 32

Only traced hyperparameters (fields of the agent's `HParams`) can be swept;
a static setting (num_envs, layer sizes, ...) shapes the compiled program
and is refused with a ValueError before anything is compiled. Random draws
come from `config.seed`, so a sweep is reproducible.

Members are ordered setting-major: member `s * num_seeds + j` trains setting
`s` with seed `j`, and seed `j` has the same PRNG key in every setting (the
key of a plain `num_seeds` run), so settings are compared on common seeds.
"""
import itertools
import math
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import hparams as hparams_lib
from haikurl import settings as settings_lib

METHODS = ("grid", "random")
DISTRIBUTIONS = ("uniform", "log_uniform")
# Fields of `config.sweep` that are not keys of the agent.
META_KEYS = ("method", "num_samples")


class Members(NamedTuple):
  """The batch a run trains: one (key, hparams) per member, and its labels."""
  keys: jax.Array                # [M] PRNG keys
  hparams: Any                   # HParams with leading axis [M]
  seeds: np.ndarray              # [M] seed index of each member
  settings: np.ndarray           # [M] index of each member's setting
  swept: Dict[str, np.ndarray]   # swept key -> [M] its value (float32)

  @property
  def size(self) -> int:
    return len(self.seeds)

  def select(self, index) -> "Members":
    """The members at `index` (an int array or slice)."""
    take = lambda x: x[index]
    return Members(jax.tree.map(take, self.keys),
                   jax.tree.map(take, self.hparams), self.seeds[index],
                   self.settings[index],
                   {k: v[index] for k, v in self.swept.items()})


def _spec(config) -> Dict[str, tuple]:
  """The non-empty entries of `config.sweep`: key -> its tuple."""
  sweep = config.get("sweep", None)
  if sweep is None:
    return {}
  out = {}
  for name, value in sweep.items():
    if name in META_KEYS:
      continue
    if value is None or (isinstance(value, (tuple, list)) and not value):
      continue
    if not isinstance(value, (tuple, list)):
      value = (value,)
    out[name] = tuple(value)
  return out


def _method(config) -> Tuple[str, int]:
  sweep = config.get("sweep", None)
  if sweep is None:
    return "grid", 0
  method = sweep.get("method", "grid")
  num_samples = sweep.get("num_samples", 0)
  if method not in METHODS:
    raise ValueError(f"config.sweep.method must be one of {METHODS}, got "
                     f"{method!r}.")
  if (not isinstance(num_samples, (int, np.integer)) or
      isinstance(num_samples, bool) or num_samples < 0):
    raise ValueError("config.sweep.num_samples must be a non-negative "
                     f"integer, got {num_samples!r}.")
  return method, int(num_samples)


def _is_number(x) -> bool:
  return isinstance(x, (int, float, np.integer, np.floating)) and not \
      isinstance(x, bool)


def check(config, hparams_cls) -> Dict[str, tuple]:
  """Checks `config.sweep` against the agent's HParams; returns the spec.

  Raises:
    ValueError: with one line saying what to change, for a swept static
      setting, an unknown key, a bad method, range or value.
  """
  traced = hparams_lib.traced_keys(hparams_cls)
  agent_name = config.agent.get("name", "?")
  spec = _spec(config)
  method, num_samples = _method(config)
  for name in spec:
    if name in traced:
      continue
    if name in config.agent:
      raise ValueError(
          f"config.sweep.{name}: {name!r} is a static setting of agent "
          f"{agent_name!r} (it shapes the compiled program), so it cannot be "
          f"swept inside one program; run one experiment per value. Sweepable "
          f"(traced) keys: {', '.join(traced)}.")
    raise ValueError(
        f"config.sweep.{name}: agent {agent_name!r} has no hyperparameter "
        f"{name!r}; sweepable keys: {', '.join(traced)}.")
  for name, values in spec.items():
    is_range = bool(values) and values[0] in DISTRIBUTIONS
    not_numbers = [v for v in values if not _is_number(v)]
    if not is_range and not_numbers:
      raise ValueError(
          f"config.sweep.{name}={values!r}: "
          f"{', '.join(repr(v) for v in not_numbers)} "
          f"{'is not a number' if len(not_numbers) == 1 else 'are not numbers'}"
          f"; a grid lists numbers, e.g. '(1e-3, 3e-4)', and a range is "
          f"('uniform' | 'log_uniform', low, high) with "
          f"config.sweep.method='random'.")
    if is_range:
      if method != "random":
        raise ValueError(
            f"config.sweep.{name}={values!r} is a range; ranges need "
            f"config.sweep.method='random' (a grid lists values, e.g. "
            f"'(1e-3, 3e-4)').")
      if (len(values) != 3 or values[0] not in DISTRIBUTIONS or
          not all(_is_number(v) for v in values[1:])):
        raise ValueError(
            f"config.sweep.{name}={values!r}: a range is "
            f"('uniform' | 'log_uniform', low, high).")
      low, high = float(values[1]), float(values[2])
      if not low < high:
        raise ValueError(f"config.sweep.{name}: low must be below high, got "
                         f"{values!r}.")
      if values[0] == "log_uniform" and low <= 0:
        raise ValueError(f"config.sweep.{name}: a log_uniform range needs "
                         f"low > 0, got {values!r}.")
  if method == "random":
    if spec and num_samples < 1:
      raise ValueError("config.sweep.method='random' needs "
                       "config.sweep.num_samples >= 1.")
    if num_samples and not spec:
      raise ValueError("config.sweep.num_samples is set but no key is swept; "
                       "give a range, e.g. --config.sweep.learning_rate="
                       "'(\"log_uniform\", 1e-4, 1e-2)'.")
  elif num_samples:
    raise ValueError("config.sweep.num_samples is for "
                     "config.sweep.method='random' (a grid takes every "
                     "combination of the listed values).")
  return spec


def _f32(x) -> float:
  """`x` as the float32 the member trains with, shortest decimal form."""
  return float(str(np.float32(x)))


def settings(config, hparams_cls) -> List[Dict[str, float]]:
  """The swept settings, in order: one dict (swept key -> value) each.

  A config that sweeps nothing has one setting, `{}`.
  """
  spec = check(config, hparams_cls)
  method, num_samples = _method(config)
  order = [k for k in hparams_lib.traced_keys(hparams_cls) if k in spec]
  if not order:
    return [{}]
  if method == "grid":
    return [dict(zip(order, map(_f32, combo)))
            for combo in itertools.product(*(spec[k] for k in order))]
  rng = np.random.default_rng([int(config.seed), 0x5EED])
  columns = {}
  for name in order:
    values = spec[name]
    if isinstance(values[0], str):
      kind, low, high = values[0], float(values[1]), float(values[2])
      if kind == "uniform":
        draw = rng.uniform(low, high, num_samples)
      else:
        draw = np.exp(rng.uniform(math.log(low), math.log(high), num_samples))
    else:
      draw = np.asarray(values, np.float64)[
          rng.integers(0, len(values), num_samples)]
    columns[name] = [_f32(x) for x in draw]
  return [{k: columns[k][i] for k in order} for i in range(num_samples)]


def seed_keys(config) -> jax.Array:
  """[num_seeds] keys: seed j's key, the same in every setting."""
  return jax.random.split(jax.random.key(int(config.seed)),
                          int(config.num_seeds))


def make_members(config, default_hparams) -> Members:
  """Settings x seeds members of `config` (see the module docstring).

  Args:
    config: a haikurl config with `num_seeds`, `seed` and maybe `sweep`.
    default_hparams: the agent's HParams from `config.agent` (e.g.
      `train.default_hparams`); unswept fields keep these values.
  """
  hparams_cls = type(default_hparams)
  points = settings(config, hparams_cls)
  num_seeds = int(config.num_seeds)
  if num_seeds < 1:
    raise ValueError(f"config.num_seeds must be >= 1, got {num_seeds}.")
  per_setting = [default_hparams._replace(**{k: jnp.float32(v)
                                             for k, v in p.items()})
                 for p in points]
  stacked = hparams_lib.stack([h for h in per_setting for _ in range(num_seeds)])
  settings_lib.check_hparams(stacked)
  keys = seed_keys(config)[np.tile(np.arange(num_seeds), len(points))]
  names = list(points[0])
  swept = {k: np.asarray([p[k] for p in points for _ in range(num_seeds)],
                         np.float64) for k in names}
  return Members(keys=keys, hparams=stacked,
                 seeds=np.tile(np.arange(num_seeds), len(points)),
                 settings=np.repeat(np.arange(len(points)), num_seeds),
                 swept=swept)


def labels(members: Members, index: int) -> Dict[str, Any]:
  """The label of member `index`: its seed, setting and swept values."""
  out = {"member": int(index), "seed": int(members.seeds[index]),
         "setting": int(members.settings[index])}
  out.update({k: float(v[index]) for k, v in members.swept.items()})
  return out


def best_setting(members: Members, curve) -> Dict[str, Any]:
  """Every setting's results, and the one of highest mean final return.

  Args:
    members: the run's members.
    curve: [P, M] evaluation returns over the run's periods (or [M] finals).
      Ties in the final return go to the higher mean over all periods (the
      faster learner).

  Returns:
    {"best": row, "settings": [row per setting]}; a row has the setting's
    index, swept `values`, its `members` and their `seeds`,
    `final_eval_return_per_member`, `final_eval_return_mean` / `_min` /
    `_max`, for >= 3 seeds `final_eval_return_iqm` and `_ci95` (rliable's
    95% stratified-bootstrap interval), `mean_eval_return_over_run` and
    `num_seeds`.
  """
  from haikurl import aggregate  # pylint: disable=g-import-not-at-top
  curve = np.asarray(curve, np.float64)
  curve = curve[None] if curve.ndim == 1 else curve
  final = curve[-1]
  table = []
  for group in aggregate.group_by_setting(members.settings, members.seeds,
                                          members.swept):
    idx = np.asarray(group.members)
    stats = aggregate.summary(final[idx])
    row = {
        "setting": group.setting,
        "values": group.values,
        "members": group.members,
        "seeds": group.seeds,
        "final_eval_return_per_member": [float(x) for x in final[idx]],
        "final_eval_return_mean": stats["mean"],
        "final_eval_return_min": stats["min"],
        "final_eval_return_max": stats["max"],
        "mean_eval_return_over_run": float(np.nanmean(curve[:, idx])),
        "num_seeds": len(group.members)}
    if "iqm" in stats:
      row["final_eval_return_iqm"] = stats["iqm"]
      row["final_eval_return_ci95"] = stats["ci95"]
    table.append(row)
  score = lambda r: tuple(-math.inf if math.isnan(x) else x for x in (
      r["final_eval_return_mean"], r["mean_eval_return_over_run"]))
  return {"best": max(table, key=score), "settings": table}


def results(members: Members, history: Sequence[dict],
            metric: str = "eval/episode_return") -> List[Dict[str, Any]]:
  """One row per member: labels, final and best `metric` over the run.

  Args:
    members: the run's members.
    history: the metrics rows of the run (metrics.jsonl), each with
      `metric` as a list over members.
  """
  rows = [r for r in history if metric in r]
  curve = (np.asarray([r[metric] for r in rows], np.float64) if rows else
           np.full((1, members.size), np.nan))                  # [P, M]
  out = []
  for i in range(members.size):
    row = labels(members, i)
    column = curve[:, i]
    finite = column[np.isfinite(column)]
    row["final_eval_return"] = float(column[-1])
    row["best_eval_return"] = float(finite.max()) if finite.size else math.nan
    out.append(row)
  return out


def write_csv(path: str, rows: Sequence[Dict[str, Any]]) -> str:
  """Writes `results(...)` rows as CSV (one line per member)."""
  import csv  # pylint: disable=g-import-not-at-top
  fields = list(rows[0])
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
  return path
