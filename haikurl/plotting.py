"""Training-curve figures (matplotlib, Agg backend: no display needed)."""
import os
from typing import Dict, Optional, Sequence

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def plot_curves(runs: Dict[str, dict], path: str,
                metric: str = "eval/episode_return",
                title: Optional[str] = None) -> str:
  """Plots mean and spread over members of each run's metric against steps.

  Args:
    runs: label -> {"env_steps": [P], metric: [P, M]} (P periods, M members).
    path: where to write the PNG.
    metric: the metric to plot.
    title: the figure's title.

  Returns:
    `path`.
  """
  fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
  for label, run in runs.items():
    steps = np.asarray(run["env_steps"], np.float64)
    values = np.asarray(run[metric], np.float64)
    if values.ndim == 1:
      values = values[:, None]
    mean = np.nanmean(values, axis=1)
    ax.plot(steps, mean, label=f"{label} (n={values.shape[1]})")
    if values.shape[1] > 1:
      # 95% interval of the mean over members (Student's t).
      sem = np.nanstd(values, axis=1, ddof=1) / np.sqrt(values.shape[1])
      t = t_975(values.shape[1] - 1)
      ax.fill_between(steps, mean - t * sem, mean + t * sem, alpha=0.25)
      ax.plot(steps, np.nanmin(values, axis=1), lw=0.5, ls=":", color="gray")
      ax.plot(steps, np.nanmax(values, axis=1), lw=0.5, ls=":", color="gray")
  ax.set_xlabel("env steps")
  ax.set_ylabel(metric)
  ax.grid(alpha=0.3)
  if title:
    ax.set_title(title)
  ax.legend(loc="best", fontsize="small")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path


def curves_from_rows(rows: Sequence[dict],
                     metric: str = "eval/episode_return") -> dict:
  """metrics.jsonl rows -> {"env_steps": [P], metric: [P, M]}."""
  steps = [float(np.max(r["env_steps"])) for r in rows if metric in r]
  values = [r[metric] for r in rows if metric in r]
  return {"env_steps": steps, metric: values}


def plot_sweep(rows: Sequence[dict], keys: Sequence[str], path: str,
               metric: str = "final_eval_return",
               title: Optional[str] = None) -> str:
  """Final return of every member against each swept value (one panel per
  key); members as dots, the mean over seeds of each value as a line.

  Args:
    rows: one dict per member with each of `keys` and `metric`.
    keys: the swept keys.
    path: where to write the PNG.
  """
  keys = list(keys)
  fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.6),
                           dpi=110, squeeze=False)
  for ax, key in zip(axes[0], keys):
    x = np.asarray([r[key] for r in rows], np.float64)
    y = np.asarray([r[metric] for r in rows], np.float64)
    ax.scatter(x, y, s=14, alpha=0.6, label="member")
    values = np.unique(x)
    if len(values) <= max(1, len(x) // 2):   # a grid: mean per value
      means = [np.nanmean(y[x == v]) for v in values]
      ax.plot(values, means, "o-", color="C1", label="mean over members")
    positive = np.all(x > 0) and x.max() / max(x.min(), 1e-30) >= 10
    if positive:
      ax.set_xscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path


# Two-sided 95% quantiles of Student's t by degrees of freedom (1..30).
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
          2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
          2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
          2.048, 2.045, 2.042)


def t_975(dof: int) -> float:
  """The 97.5% quantile of Student's t with `dof` degrees of freedom."""
  if dof < 1:
    return float("nan")
  return _T_975[dof - 1] if dof <= len(_T_975) else 1.96


def _labels(dirs: Sequence[str]) -> list:
  """Shortest distinct trailing path parts of `dirs`."""
  parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in dirs]
  for n in range(1, max(len(p) for p in parts) + 1):
    labels = [os.sep.join(p[-n:]) for p in parts]
    if len(set(labels)) == len(labels):
      return labels
  return list(dirs)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """`haikurl-plot DIR [DIR ...] --out=FILE.png`: curves of several runs.

  Each DIR is a run directory (its metrics.jsonl); each run is drawn as the
  mean over its members with a 95% interval of that mean.
  """
  import argparse  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog="haikurl-plot",
      description="Training curves of haikurl runs (mean over seeds and a "
                  "95%% interval of the mean) in one PNG.")
  parser.add_argument("dirs", nargs="+", metavar="DIR",
                      help="run directories (holding metrics.jsonl)")
  parser.add_argument("--out", default="curves.png", help="the PNG to write")
  parser.add_argument("--metric", default="eval/episode_return",
                      help="the metric to plot (a metrics.jsonl key)")
  parser.add_argument("--labels", default=None,
                      help="comma-separated legend labels, one per DIR")
  parser.add_argument("--title", default=None)
  args = parser.parse_args(argv)
  labels = (args.labels.split(",") if args.labels else _labels(args.dirs))
  if len(labels) != len(args.dirs):
    parser.error(f"--labels has {len(labels)} labels for {len(args.dirs)} "
                 "directories")
  runs = {}
  for label, workdir in zip(labels, args.dirs):
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
    runs[label] = curve
  plot_curves(runs, args.out, metric=args.metric, title=args.title)
  print(f"wrote {args.out}", file=sys.stdout)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
