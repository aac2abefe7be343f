"""Training-curve, sweep and performance-profile figures (matplotlib, Agg
backend: no display needed), aggregated as `haikurl.aggregate` does: the IQM
with a 95% stratified-bootstrap interval over n >= 3 seeds (rliable), the
mean with the seeds' min-max for n < 3. Every band is named in the legend.

    plot_curves({"ppo": {"env_steps": steps, "eval/episode_return": r}}, path)
    plot_sweep(sweep_lib.results(members, history), ["learning_rate"], path)
    plot_profile({"ppo": final_scores}, path)          # rliable's profile

`haikurl-plot DIR [DIR ...]` compares runs the same way (see `main`).
"""
import os
from typing import Dict, List, Optional, Sequence

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from haikurl import aggregate  # pylint: disable=g-import-not-at-top

# Metric keys -> axis labels in words.
LABELS = {
    "env_steps": "env steps",
    "eval/episode_return": "evaluation return",
    "eval/episode_length": "evaluation episode length",
    "train/episode_return": "training episode return (exploring)",
    "train/episode_length": "training episode length (exploring)",
    "final_eval_return": "final evaluation return",
    "best_eval_return": "best evaluation return",
}


def label(key: str) -> str:
  """The words for a metric or config key: LABELS, else 'loss/td abs'."""
  return LABELS.get(key, key.replace("_", " "))


def use_log_axis(key: str, values) -> bool:
  """A log axis for rates (keys ending in learning_rate) and for positive
  values that span more than 10x."""
  x = np.asarray(values, np.float64)
  x = x[np.isfinite(x)]
  if not x.size or np.any(x <= 0):
    return False
  return key.endswith("learning_rate") or x.max() / x.min() > 10


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path


def _colors(n: int, ordered: bool) -> list:
  """Distinct colors; a sequential map when the runs have an order (a sweep
  over one key), so neighbouring values look alike."""
  if ordered and n > 2:
    cmap = plt.get_cmap("viridis")
    return [cmap(0.9 * i / (n - 1)) for i in range(n)]
  cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
  return [cmap(i % cmap.N) for i in range(n)]


def plot_curves(runs: Dict[str, dict], path: str,
                metric: str = "eval/episode_return",
                title: Optional[str] = None, ordered: bool = False,
                legend_title: Optional[str] = None,
                step_unit: str = "env steps") -> str:
  """One curve per run: the aggregate over its members against env steps
  (`step_unit`: what the x axis counts; offline runs count gradient steps).

  n >= 3 members: IQM and a 95% stratified-bootstrap CI band (rliable); n = 2:
  the mean and a min-max band; n = 1: the run itself. The band's name is in
  the legend (once, as its title, when every run has the same n).

  Args:
    runs: label -> {"env_steps": [P], metric: [P, M]} (P periods, M members).
    path: where to write the PNG.
    metric: the metric to plot.
    title: the figure's title.
    ordered: the runs are settings of one swept key in order (sequential
      colors).
    legend_title: a heading for the legend (e.g. the swept key).

  Returns:
    `path`.
  """
  sizes = set()
  for run in runs.values():
    values = np.asarray(run[metric], np.float64)
    sizes.add(values.shape[1] if values.ndim == 2 else 1)
  outside = len(runs) > 4
  below = not outside and len(runs) > 2
  widest = max(len(k) for k in runs) + (0 if len(sizes) == 1 else 45)
  columns = 2 if widest <= 28 else 1
  rows = -(-len(runs) // columns) + 2
  fig, ax = plt.subplots(figsize=(9.6 if outside else 7.0,
                                  4.2 + 0.2 * rows if below else 4.2),
                         dpi=120,
                         layout="constrained")
  shared = len(sizes) == 1
  few = len(runs) <= 2          # else lighter bands, no per-seed lines
  colors = _colors(len(runs), ordered)
  for color, (name, run) in zip(colors, runs.items()):
    steps = np.asarray(run["env_steps"], np.float64)
    values = np.asarray(run[metric], np.float64)
    if values.ndim == 1:
      values = values[:, None]
    est = aggregate.estimate(values, axis=1)
    n = values.shape[1]
    text = name if shared else (f"{name}: {aggregate.describe(n)}" if name
                                else aggregate.describe(n))
    ax.plot(steps, est.point, color=color, lw=1.8, label=text or None,
            marker="o" if len(steps) <= 12 else None, ms=3)  # evaluations
    if n > 1 and not outside:
      ax.fill_between(steps, est.low, est.high, color=color,
                      alpha=0.2 if few else 0.1, lw=0)
    if n == 2 and few:   # two seeds: draw them, the band is their span
      for m in range(n):
        ax.plot(steps, values[:, m], color=color, lw=0.6, alpha=0.6)
  ax.set_xlabel(step_unit)
  ax.set_ylabel(label(metric))
  ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
  ax.grid(alpha=0.3)
  if title:
    ax.set_title(title, fontsize="medium", wrap=True)
  heading = []
  if legend_title:
    heading.append(legend_title)
  if shared:
    n = sizes.pop()
    heading.append(aggregate.describe(n) if n < 2 or not outside else
                   aggregate.describe(n).split(",")[0] +
                   f" over {n} seeds (bands left out: {len(runs)} curves)")
  handles, _ = ax.get_legend_handles_labels()
  if handles or heading:
    legend = ax.legend(
        loc="upper left" if outside else "upper center" if below else "best",
        fontsize="small", title="\n".join(heading) or None,
        title_fontsize="small", ncol=columns if below else 1,
        frameon=not below,
        bbox_to_anchor=((1.01, 1.0) if outside else (0.5, -0.14) if below
                        else None))
    legend.get_title().set_multialignment("left")
  return _save(fig, path)


def curves_from_rows(rows: Sequence[dict],
                     metric: str = "eval/episode_return",
                     members: Optional[Sequence[int]] = None) -> dict:
  """metrics.jsonl rows -> {"env_steps": [P], metric: [P, M]}.

  Args:
    rows: the rows of a run's metrics.jsonl.
    metric: the metric to take.
    members: only these members (e.g. one setting's), default all.
  """
  rows = [r for r in rows if metric in r]
  steps = [float(np.max(r["env_steps"])) for r in rows]
  values = [r[metric] for r in rows]
  if members is not None:
    values = [[v[i] for i in members] for v in values]
  return {"env_steps": steps, metric: values}


def sweep_curves(rows: Sequence[dict], groups: Sequence[aggregate.Group],
                 metric: str = "eval/episode_return") -> Dict[str, dict]:
  """One `plot_curves` run per setting of a sweep, labelled by its values
  (by the value alone when one key is swept: the key goes in the legend's
  title), in order of the values."""
  keys = list(groups[0].values) if groups else []
  groups = sorted(groups, key=lambda g: tuple(g.values[k] for k in keys))
  def name(g):
    if len(keys) == 1:
      return aggregate.format_value(g.values[keys[0]])
    return aggregate.setting_label(g.values) or f"setting {g.setting}"
  return {name(g): curves_from_rows(rows, metric, g.members) for g in groups}


def _set_value_ticks(ax, values, log: bool) -> None:
  """Ticks at the swept values when they are few; readable otherwise."""
  values = np.unique(np.asarray(values, np.float64))
  if log:
    ax.set_xscale("log")
  if len(values) <= 8:
    ax.xaxis.set_major_locator(ticker.FixedLocator(values))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.xaxis.set_major_formatter(ticker.FixedFormatter(
        [aggregate.format_value(v) for v in values]))
    if log and len(values) > 1:   # room for the end labels
      span = np.log(values.max() / values.min())
      pad = np.exp(0.08 * span)
      ax.set_xlim(values.min() / pad, values.max() * pad)
  elif log:
    ax.xaxis.set_major_locator(ticker.LogLocator(numticks=6))
  if len(ax.get_xticks()) > 4:
    for tick in ax.get_xticklabels():
      tick.set_rotation(30)
      tick.set_horizontalalignment("right")


def plot_sweep(rows: Sequence[dict], keys: Sequence[str], path: str,
               metric: str = "final_eval_return",
               title: Optional[str] = None) -> str:
  """The final return of each setting against each swept value.

  One panel per swept key. Each setting is a point with error bars over its
  seeds (IQM and 95% stratified-bootstrap CI for >= 3 seeds, mean and
  min-max below), members are faint dots; in a grid, settings that share
  the other keys' values are joined by a line. Rates and values spanning more
  than 10x get a log axis.

  Args:
    rows: one dict per member with "setting", each of `keys` and `metric`
      (`haikurl.sweep.results`).
    keys: the swept keys.
    path: where to write the PNG.
    metric: the per-member value to plot.
    title: the figure's title (wrapped, never clipped).
  """
  keys = list(keys)
  settings = sorted({int(r["setting"]) for r in rows})
  by_setting = {s: [r for r in rows if int(r["setting"]) == s]
                for s in settings}
  seeds = sorted({len(v) for v in by_setting.values()})
  band = aggregate.describe(seeds[0]) if len(seeds) == 1 else (
      f"{aggregate.describe(seeds[-1])} (fewer for some settings)")
  fig, axes = plt.subplots(1, len(keys), figsize=(max(5.5, 4.8 * len(keys)),
                                                  4.8),
                           dpi=120, squeeze=False, layout="constrained")
  for ax, key in zip(axes[0], keys):
    others = [k for k in keys if k != key]
    series: Dict[tuple, List[int]] = {}
    for s in settings:
      series.setdefault(tuple(by_setting[s][0][k] for k in others),
                        []).append(s)
    grid = len(series) < len(settings)
    all_x = np.asarray([r[key] for r in rows], np.float64)
    log = use_log_axis(key, all_x)
    # Series at one value are dodged sideways so their bars do not overlap;
    # each setting's members sit just right of its bar.
    span = (np.log(all_x.max() / all_x.min()) if log else
            all_x.max() - all_x.min()) or 1.0
    step = 0.025 * span
    shift = ((lambda x, d: x * np.exp(d)) if log else (lambda x, d: x + d))
    colors = _colors(len(series), ordered=len(others) == 1)
    for j, (color, (other_values, members_of)) in enumerate(
        zip(colors, series.items())):
      dodge = (j - (len(series) - 1) / 2) * step if grid else 0.0
      xs, points, lows, highs = [], [], [], []
      for s in members_of:
        group = by_setting[s]
        x = shift(float(group[0][key]), dodge)
        y = np.asarray([r[metric] for r in group], np.float64)
        est = aggregate.estimate(y)
        xs.append(x)
        points.append(float(est.point))
        lows.append(float(est.low))
        highs.append(float(est.high))
        ax.scatter(np.full(len(y), shift(x, 0.3 * step)), y, s=9,
                   color=color, alpha=0.45, lw=0, zorder=2)
      order = np.argsort(xs)
      xs, points = np.asarray(xs)[order], np.asarray(points)[order]
      lows, highs = np.asarray(lows)[order], np.asarray(highs)[order]
      name = (", ".join(f"{k}={aggregate.format_value(v)}"
                        for k, v in zip(others, other_values)) or None)
      ax.errorbar(xs, points, yerr=[points - lows, highs - points],
                  fmt="o-" if grid or not others else "o",
                  color=color, ms=5, capsize=3, lw=1.4, zorder=3,
                  label=name)
    _set_value_ticks(ax, all_x, log)
    ax.set_xlabel(label(key) + (" (log scale)" if log else ""))
    ax.set_ylabel(label(metric))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(plt.Line2D([], [], ls="", marker="o", ms=3, color="gray",
                              alpha=0.6, label="one member"))
    ax.legend(handles=handles, fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=min(3, len(handles)),
              title=f"per setting: {band}", title_fontsize="small",
              frameon=False)
  if title:
    fig.suptitle(title, fontsize="medium", wrap=True)
  return _save(fig, path)


def plot_profile(scores: Dict[str, np.ndarray], path: str,
                 xlabel: str = "final evaluation return $\\tau$",
                 title: Optional[str] = None, reps: int = aggregate.REPS
                 ) -> str:
  """rliable's performance profile: the fraction of runs scoring above tau.

  Args:
    scores: label -> [runs, tasks] final scores (tasks: environments, whose
      scores should be normalised to a common scale first).
    path: where to write the PNG.
    xlabel: what tau is.
    title: the figure's title.
    reps: bootstrap replications of the 95% stratified-bootstrap bands.
  """
  library, _ = aggregate._rliable()  # pylint: disable=protected-access
  from rliable import plot_utils  # pylint: disable=g-import-not-at-top
  scores = {k: np.asarray(v, np.float64) for k, v in scores.items()}
  low = min(float(v.min()) for v in scores.values())
  high = max(float(v.max()) for v in scores.values())
  pad = 0.02 * (high - low or 1.0)
  tau = np.linspace(low - pad, high + pad, 101)
  with aggregate.seeded(0):   # rliable draws from np.random
    profiles, cis = library.create_performance_profile(scores, tau, reps=reps)
  fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=120, layout="constrained")
  colors = dict(zip(scores, _colors(len(scores), ordered=False)))
  plot_utils.plot_performance_profiles(
      profiles, tau, performance_profile_cis=cis, colors=colors, ax=ax,
      xlabel=xlabel, ylabel="fraction of runs with score > $\\tau$",
      labelsize="medium", ticklabelsize="small")
  handles, names = ax.get_legend_handles_labels()
  names = [f"{k} ({scores[k].shape[0]} runs x {scores[k].shape[1]} "
           f"env{'s' if scores[k].shape[1] > 1 else ''})" for k in names]
  ax.legend(handles, names, fontsize="small", loc="best",
            title="bands: 95% stratified-bootstrap CI",
            title_fontsize="small")
  if title:
    ax.set_title(title, fontsize="medium", wrap=True)
  return _save(fig, path)


def _labels(dirs: Sequence[str]) -> list:
  """Shortest distinct trailing path parts of `dirs`."""
  parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in dirs]
  for n in range(1, max(len(p) for p in parts) + 1):
    labels = [os.sep.join(p[-n:]) for p in parts]
    if len(set(labels)) == len(labels):
      return labels
  return list(dirs)


def _read_json(path: str) -> Optional[dict]:
  import json  # pylint: disable=g-import-not-at-top
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def run_groups(workdir: str, num_members: int) -> List[aggregate.Group]:
  """A run's members by setting, from its summary.json (one group when the
  run has no sweep or no summary yet)."""
  summary = _read_json(os.path.join(workdir, "summary.json")) or {}
  settings = summary.get("settings")
  if settings and all("members" in s for s in settings):
    return [aggregate.Group(int(s.get("setting", i)), dict(s["values"]),
                            list(s["members"]), list(s.get("seeds", [])))
            for i, s in enumerate(settings)]
  return [aggregate.Group(0, {}, list(range(num_members)),
                          list(range(num_members)))]


def main(argv: Optional[Sequence[str]] = None) -> int:
  """`haikurl-plot DIR [DIR ...] --out=FILE.png`: curves of several runs.

  Each DIR is a run directory (its metrics.jsonl). Each run, or each setting
  of a sweep, is drawn as its members' IQM with a 95% stratified-bootstrap
  interval (n >= 3), or their mean and min-max (n < 3). `--profile` draws
  rliable's performance profile of the runs' final returns instead; runs
  sharing a label are that label's tasks (e.g. one per env), and when the
  runs span several envs each env's returns are min-max normalised over all
  the runs given.
  """
  import argparse  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog="haikurl-plot",
      description="Training curves of haikurl runs in one PNG: IQM and 95%% "
                  "stratified-bootstrap CI over >= 3 seeds (rliable), mean "
                  "and min-max below; or a performance profile (--profile).")
  parser.add_argument("dirs", nargs="+", metavar="DIR",
                      help="run directories (holding metrics.jsonl)")
  parser.add_argument("--out", default="curves.png", help="the PNG to write")
  parser.add_argument("--metric", default="eval/episode_return",
                      help="the metric to plot (a metrics.jsonl key)")
  parser.add_argument("--labels", default=None,
                      help="comma-separated legend labels, one per DIR "
                           "(with --profile, DIRs sharing a label are one "
                           "method's tasks)")
  parser.add_argument("--title", default=None)
  parser.add_argument("--profile", action="store_true",
                      help="draw rliable's performance profile of the final "
                           "values instead of curves")
  args = parser.parse_args(argv)
  labels = (args.labels.split(",") if args.labels else _labels(args.dirs))
  if len(labels) != len(args.dirs):
    parser.error(f"--labels has {len(labels)} labels for {len(args.dirs)} "
                 "directories")
  runs, finals = {}, []
  for name, workdir in zip(labels, args.dirs):
    path = os.path.join(workdir, "metrics.jsonl")
    try:
      with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
      parser.error(f"{path} not found: is {workdir} a haikurl run directory?")
    except ValueError as e:
      parser.error(f"{path} is not valid JSON lines: {e}")
    curve = curves_from_rows(rows, args.metric)
    if not curve["env_steps"]:
      known = sorted({k for r in rows for k in r if isinstance(r[k], list)})
      parser.error(f"{path} has no {args.metric!r}; it has: "
                   f"{', '.join(known)}")
    groups = run_groups(workdir, len(curve[args.metric][0]))
    config = _read_json(os.path.join(workdir, "config.json")) or {}
    for g in groups:
      tag = aggregate.setting_label(g.values)
      runs[f"{name}: {tag}" if tag else name] = curves_from_rows(
          rows, args.metric, g.members)
      finals.append((f"{name}: {tag}" if tag else name,
                     config.get("env", workdir),
                     np.asarray(curve[args.metric][-1], np.float64)[
                         g.members]))
  if args.profile:
    envs = sorted({env for _, env, _ in finals})
    methods = list(dict.fromkeys(m for m, _, _ in finals))
    if len(envs) > 1:   # a common scale: min-max per env over all runs
      bounds = {e: (min(f.min() for _, env, f in finals if env == e),
                    max(f.max() for _, env, f in finals if env == e))
                for e in envs}
      finals = [(m, e, (f - bounds[e][0]) / max(bounds[e][1] - bounds[e][0],
                                                 1e-12))
                for m, e, f in finals]
    scores = {}
    for method in methods:
      columns = [f for m, _, f in finals if m == method]
      if len({len(c) for c in columns}) > 1:
        parser.error(f"--profile: the runs labelled {method!r} have "
                     f"{sorted({len(c) for c in columns})} members; one "
                     "method needs the same number of runs on every env")
      scores[method] = np.stack(columns, axis=1)            # [runs, tasks]
    if len({s.shape[1] for s in scores.values()}) > 1:
      parser.error("--profile needs every label to have the same number of "
                   "runs (one per env): give --labels so that each method "
                   "labels one DIR per env")
    xlabel = (f"{label('final_eval_return')} $\\tau$" if len(envs) == 1 else
              "final return, min-max normalised per env over these runs "
              "$\\tau$")
    plot_profile(scores, args.out, xlabel=xlabel, title=args.title)
  else:
    plot_curves(runs, args.out, metric=args.metric, title=args.title)
  print(f"wrote {args.out}", file=sys.stdout)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
