"""Aggregates over seeds, as the field reports them (Agarwal et al., 2021).

With n >= 3 runs: the interquartile mean (IQM: the mean of the middle 50% of
the runs) and a 95% stratified-bootstrap confidence interval, both from the
`rliable` library. With n < 3 runs an interval would be meaningless (a
Student-t interval over 2 seeds is 12.7 standard errors wide): the mean is
given with the runs' min and max, and plots draw the runs themselves.

    est = aggregate.estimate(final_returns)          # [n] runs
    est.point, est.low, est.high, est.kind           # kind: "iqm" or "mean"
    est = aggregate.estimate(curve, axis=1)          # [P, n] -> [P] each

Also: `group_by_setting` (members of a sweep grouped by their setting) and
`describe` (the band's name for a legend, e.g. "IQM, 95% stratified-bootstrap
CI over 8 seeds"). rliable (and its pandas/arch stack) is imported on first
use only, so the CLI's one-line errors stay fast.
"""
import contextlib
import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

# Runs needed for an IQM with a bootstrap interval; below it, mean + min-max.
MIN_RUNS_FOR_CI = 3
# Bootstrap replications. rliable's default is 50,000 for a point estimate;
# 2,000 (its default for performance profiles) keeps a curve of a few hundred
# periods under a second, and the fixed random state makes plots repeatable.
REPS = 2000


class Estimate(NamedTuple):
  """An aggregate over runs (arrays of the input's shape less the run axis)."""
  point: np.ndarray   # IQM (n >= 3) or mean (n < 3)
  low: np.ndarray     # CI lower bound (n >= 3) or min over runs (n < 3)
  high: np.ndarray    # CI upper bound (n >= 3) or max over runs (n < 3)
  kind: str           # "iqm" (with a bootstrap CI) or "mean" (with min-max)
  num_runs: int


def iqm(scores, axis: int = 0) -> np.ndarray:
  """Interquartile mean over `axis` (rliable's `aggregate_iqm` definition:
  scipy's 25%-trimmed mean, which trims floor(0.25 n) runs at each end)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return np.asarray(stats.trim_mean(np.asarray(scores, np.float64), 0.25,
                                    axis=axis))


def _rliable():
  import logging as pylogging  # pylint: disable=g-import-not-at-top
  from rliable import library  # pylint: disable=g-import-not-at-top
  from rliable import metrics  # pylint: disable=g-import-not-at-top
  # rliable logs "Calculating estimates for ..." at INFO on absl's logger.
  pylogging.getLogger("absl").setLevel(pylogging.WARNING)
  return library, metrics


@contextlib.contextmanager
def seeded(seed: int):
  """numpy's global generator seeded for the block, then restored.

  rliable's StratifiedBootstrap draws its resamples from `np.random` itself
  (its `random_state` argument only seeds arch's unused generator, with a
  FutureWarning), so this is what makes a band repeatable.
  """
  saved = np.random.get_state()
  np.random.seed(seed)
  try:
    yield
  finally:
    np.random.set_state(saved)


def estimate(scores, axis: int = 0, reps: int = REPS,
             seed: int = 0) -> Estimate:
  """The aggregate of `scores` over the run axis `axis`.

  Args:
    scores: runs along `axis`, e.g. [n] final returns or [P, n] a curve.
      Non-finite runs (a period with no finished episode) are left out of
      that point's aggregate.
    axis: the run axis.
    reps: bootstrap replications (n >= 3).
    seed: the bootstrap's random state (a plot draws the same band twice).

  Returns:
    An `Estimate`: IQM and rliable's 95% stratified-bootstrap interval
    (`get_interval_estimates`, percentile method) for n >= 3 runs; mean and
    min-max for n < 3. Bounds are clipped to the data's range.
  """
  x = np.moveaxis(np.asarray(scores, np.float64), axis, -1)   # [..., n]
  shape, n = x.shape[:-1], x.shape[-1]
  flat = x.reshape(-1, n)                                     # [K, n]
  point, low, high = (np.full(len(flat), np.nan) for _ in range(3))
  kind = "iqm" if n >= MIN_RUNS_FOR_CI else "mean"
  for k, row in enumerate(flat):
    runs = row[np.isfinite(row)]
    if not runs.size:
      continue
    if runs.size < MIN_RUNS_FOR_CI:
      point[k], low[k], high[k] = runs.mean(), runs.min(), runs.max()
      continue
    library, metrics = _rliable()
    if np.all(runs == runs[0]):   # no spread: the bootstrap is degenerate
      point[k] = low[k] = high[k] = runs[0]
      continue
    with seeded(seed):
      points, intervals = library.get_interval_estimates(
          {"x": runs[:, None]},                     # [runs, tasks=1]
          lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps)
    point[k] = points["x"][0]
    low[k], high[k] = intervals["x"][:, 0]
    low[k] = max(low[k], runs.min())
    high[k] = min(high[k], runs.max())
  return Estimate(point.reshape(shape), low.reshape(shape),
                  high.reshape(shape), kind, n)


def describe(num_runs: int, unit: str = "seeds") -> str:
  """The name of the aggregate and its band, for a legend or a caption."""
  if num_runs >= MIN_RUNS_FOR_CI:
    return f"IQM, 95% stratified-bootstrap CI over {num_runs} {unit}"
  if num_runs == 1:
    return f"1 {unit[:-1] if unit.endswith('s') else unit}"
  return f"mean, min-max over {num_runs} {unit}"


def summary(scores, reps: int = REPS) -> Dict[str, Any]:
  """JSON-able aggregate of [n] final scores: mean, IQM and its 95% CI
  (n >= 3) or min-max (n < 3), and what was computed."""
  scores = np.asarray(scores, np.float64).reshape(-1)
  finite = scores[np.isfinite(scores)]
  out = {"mean": float(np.mean(finite)) if finite.size else math.nan,
         "min": float(np.min(finite)) if finite.size else math.nan,
         "max": float(np.max(finite)) if finite.size else math.nan,
         "num_runs": int(scores.size)}
  if finite.size >= MIN_RUNS_FOR_CI:
    est = estimate(finite, reps=reps)
    out.update({"iqm": float(est.point), "ci95": [float(est.low),
                                                  float(est.high)]})
  return out


class Group(NamedTuple):
  """The members of one setting of a sweep."""
  setting: int
  values: Dict[str, float]   # swept key -> value ({} without a sweep)
  members: List[int]         # member indices, in seed order
  seeds: List[int]


def group_by_setting(settings: Sequence[int], seeds: Sequence[int],
                     swept: Optional[Dict[str, Sequence[float]]] = None
                     ) -> List[Group]:
  """Members grouped by their setting, in setting order.

  Args:
    settings: [M] each member's setting index (`Members.settings`).
    seeds: [M] each member's seed index.
    swept: swept key -> [M] each member's value.
  """
  settings = np.asarray(settings)
  swept = swept or {}
  out = []
  for s in sorted(set(int(x) for x in settings)):
    members = [int(i) for i in np.flatnonzero(settings == s)]
    first = members[0]
    out.append(Group(setting=s,
                     values={k: float(v[first]) for k, v in swept.items()},
                     members=members,
                     seeds=[int(seeds[i]) for i in members]))
  return out


def format_value(x: float) -> str:
  """A swept value in at most 3 significant digits: 0.00025, 0.99, 1e-05."""
  return f"{float(x):.3g}"


def setting_label(values: Dict[str, float]) -> str:
  """'learning_rate=1e-03, entropy_coef=0.01' ('' without a sweep)."""
  return ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
