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
      # 95% interval of the mean over members (normal approximation).
      sem = np.nanstd(values, axis=1, ddof=1) / np.sqrt(values.shape[1])
      ax.fill_between(steps, mean - 1.96 * sem, mean + 1.96 * sem, alpha=0.25)
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
