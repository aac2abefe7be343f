"""Host-side metric writers and the console progress line.

Metrics arrive between jitted periods as a dict of arrays with a leading
member axis [M] (seeds x hyperparameter settings); writers keep every member.
"""
import csv
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def _to_list(value) -> List[float]:
  return [float(x) for x in np.asarray(value).reshape(-1)]


class MetricsWriter:
  """Appends one row per evaluation period to metrics.jsonl and metrics.csv,
  and scalars (mean over members plus each member) to TensorBoard."""

  def __init__(self, workdir: str, tensorboard: bool = True,
               rows: Optional[List[dict]] = None, wandb: Optional["Wandb"] = None,
               files: bool = True):
    """Opens the writers of `workdir`.

    Args:
      workdir: the run's directory.
      tensorboard: also write TensorBoard event files.
      rows: when resuming, the rows logged up to the checkpoint: the JSONL and
        CSV files are rewritten to hold exactly these (rows of periods after
        the checkpoint, which will be run again, are dropped) and TensorBoard
        discards its events after the last of them.
      wandb: a `Wandb` logger to send each row to as well.
      files: False to write nothing (`write` still builds and returns each
        row): the processes of a multi-process run other than process 0.
    """
    self.workdir = workdir
    self._files = files
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.csv_path = os.path.join(workdir, "metrics.csv")
    self._wandb = wandb
    purge_step = None
    self._tb = None
    if not files:
      return
    if rows is not None:
      self._rewrite(rows)
      if rows:
        purge_step = int(max(rows[-1]["env_steps"])) + 1
    if tensorboard:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                               purge_step=purge_step)

  def _rewrite(self, rows: List[dict]):
    """metrics.jsonl and metrics.csv holding exactly `rows`, atomically."""
    for path in (self.jsonl_path, self.csv_path):
      if os.path.exists(path + ".new"):
        os.remove(path + ".new")
    final = (self.jsonl_path, self.csv_path)
    self.jsonl_path, self.csv_path = (p + ".new" for p in final)
    try:
      with open(self.jsonl_path, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
      for row in rows:
        self._write_csv(row)
      for new, path in zip((self.jsonl_path, self.csv_path), final):
        if os.path.exists(new):
          os.replace(new, path)
        elif os.path.exists(path):
          os.remove(path)
    finally:
      self.jsonl_path, self.csv_path = final

  def write(self, period: int, metrics: Dict[str, np.ndarray],
            extra: Optional[Dict[str, float]] = None) -> dict:
    row = {"period": period}
    row.update(extra or {})
    row.update({k: _to_list(v) for k, v in sorted(metrics.items())})
    if not self._files:
      return row
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self._write_csv(row)
    if self._tb is not None:
      step = int(np.max(np.asarray(metrics["env_steps"])))
      for name, values in row.items():
        if isinstance(values, list):
          finite = [v for v in values if math.isfinite(v)]
          if finite:
            self._tb.add_scalar(f"{name}/mean", float(np.mean(finite)), step)
          for i, v in enumerate(values):
            if math.isfinite(v):
              self._tb.add_scalar(f"{name}/member_{i}", v, step)
      self._tb.flush()
    if self._wandb is not None:
      self._wandb.log(row)
    return row

  def _write_csv(self, row: dict):
    """Long format: one line per (period, member)."""
    keys = sorted(k for k, v in row.items() if isinstance(v, list))
    scalars = [k for k, v in row.items() if not isinstance(v, list)]
    new = not os.path.exists(self.csv_path)
    with open(self.csv_path, "a", newline="") as f:
      writer = csv.writer(f)
      if new:
        writer.writerow(scalars + ["member"] + keys)
      num_members = len(row[keys[0]]) if keys else 0
      for m in range(num_members):
        writer.writerow([row[k] for k in scalars] + [m] +
                        [row[k][m] for k in keys])

  def close(self):
    if self._tb is not None:
      self._tb.close()
    if self._wandb is not None:
      self._wandb.close()


class Wandb:
  """Sends metric rows to Weights & Biases: the mean over members and each
  member's value, against env steps. The run id is kept in
  `<workdir>/wandb_id` so a resumed run continues the same W&B run."""

  def __init__(self, workdir: str, config: dict, project: Optional[str] = None,
               name: Optional[str] = None):
    try:
      import wandb  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ValueError(
          "Weights & Biases logging was asked for (--wandb or config.wandb) "
          "but the `wandb` package is not installed: `pip install wandb` "
          "and `wandb login`, or run without --wandb.") from None
    self._wandb = wandb
    id_path = os.path.join(workdir, "wandb_id")
    if os.path.exists(id_path):
      with open(id_path) as f:
        run_id = f.read().strip()
    else:
      run_id = wandb.util.generate_id() if hasattr(wandb, "util") else None
      if run_id:
        with open(id_path, "w") as f:
          f.write(run_id)
    self.run = wandb.init(project=project or "haikurl", name=name,
                          config=config, dir=workdir, id=run_id,
                          resume="allow")

  def log(self, row: dict):
    data = {}
    for name, values in row.items():
      if isinstance(values, list):
        finite = [v for v in values if math.isfinite(v)]
        if finite:
          data[f"{name}/mean"] = float(np.mean(finite))
        if len(values) > 1:
          for i, v in enumerate(values):
            data[f"{name}/member_{i}"] = v
      else:
        data[name] = values
    step = int(max(row["env_steps"])) if "env_steps" in row else None
    self.run.log(data, step=step)

  def close(self):
    self.run.finish()


def read_jsonl(path: str) -> List[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def format_duration(seconds: float) -> str:
  seconds = max(0, int(round(seconds)))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(period: int, num_periods: int, env_steps: int,
                  total_steps: int, metrics: Dict[str, np.ndarray],
                  steps_per_second: float, eta_seconds: float,
                  settings: Optional[Sequence[Tuple[str, Sequence[int]]]] = None
                  ) -> str:
  """One console line: period, env steps, returns, speed, ETA.

  Args:
    period, num_periods: evaluation periods done and in all.
    env_steps, total_steps: env steps per member done and in all.
    metrics: the period's metrics, [M] per key.
    steps_per_second: env steps of all members per second.
    eta_seconds: estimated time left.
    settings: with a sweep, (label, member indices) per setting: returns are
      then given for the best and the worst setting (each the mean over its
      seeds) instead of over all members, which would mix settings.
  """
  parts = [f"[{period:>{len(str(num_periods))}}/{num_periods}]",
           f"steps {env_steps:,}/{total_steps:,}"]
  for key, name in (("eval/episode_return", "eval"),
                    ("train/episode_return", "train")):
    if key not in metrics:
      continue
    values = np.asarray(metrics[key], np.float64).reshape(-1)
    if settings is not None and len(settings) > 1:
      means = []
      for tag, members in settings:
        own = values[np.asarray(members)]
        own = own[np.isfinite(own)]
        if own.size:
          means.append((own.mean(), tag))
      if means:
        best, worst = max(means), min(means)
        parts.append(f"{name} best {best[0]:.1f} ({best[1]}) worst "
                     f"{worst[0]:.1f} ({worst[1]}) of {len(settings)} "
                     "settings")
      continue
    values = values[np.isfinite(values)]
    if values.size:
      spread = (f" ± {values.std():.1f} [{values.min():.1f}, "
                f"{values.max():.1f}]") if values.size > 1 else ""
      parts.append(f"{name} {values.mean():.1f}{spread}")
  parts.append(f"{steps_per_second:,.0f} steps/s")
  parts.append(f"ETA {format_duration(eta_seconds)}")
  return "  ".join(parts)


def print_line(line: str):
  print(line, file=sys.stdout, flush=True)


class Timer:
  def __init__(self):
    self.start = time.perf_counter()

  def __call__(self) -> float:
    return time.perf_counter() - self.start
