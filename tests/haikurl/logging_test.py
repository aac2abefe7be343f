"""Host-side logging: rows rewritten on resume, Weights & Biases (faked)."""
import json
import os
import sys
import types

import numpy as np
import pytest

from haikurl import logging as hlog


def _metrics(period, members=2):
  return {"env_steps": np.full((members,), 100.0 * period),
          "eval/episode_return": np.arange(members, dtype=np.float32) + period}


def test_resume_rewrites_metrics_to_the_checkpoint_rows(tmp_path):
  workdir = str(tmp_path)
  writer = hlog.MetricsWriter(workdir, tensorboard=False)
  rows = [writer.write(p, _metrics(p)) for p in (1, 2, 3)]
  writer.close()
  # Resumed from a checkpoint taken after period 2: period 3 runs again.
  writer = hlog.MetricsWriter(workdir, tensorboard=False, rows=rows[:2])
  writer.write(3, _metrics(3))
  writer.write(4, _metrics(4))
  writer.close()
  got = hlog.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [r["period"] for r in got] == [1, 2, 3, 4]
  assert got[:3] == rows
  with open(os.path.join(workdir, "metrics.csv")) as f:
    lines = f.read().splitlines()
  assert lines[0] == "period,member,env_steps,eval/episode_return"
  assert len(lines) == 1 + 4 * 2
  assert not [n for n in os.listdir(workdir) if n.endswith(".new")]


def test_a_writer_without_files_returns_rows_and_writes_nothing(tmp_path):
  # A multi-process run's processes other than process 0, also on resume.
  workdir = str(tmp_path)
  files = hlog.MetricsWriter(workdir, tensorboard=True)
  rows = [files.write(p, _metrics(p), {"wall_seconds": 1.0}) for p in (1, 2)]
  files.close()
  before = {n: os.path.getsize(os.path.join(workdir, n))
            for n in ("metrics.jsonl", "metrics.csv")}
  events = os.listdir(os.path.join(workdir, "tensorboard"))
  silent = hlog.MetricsWriter(workdir, tensorboard=True, rows=rows[:1],
                              files=False)
  assert silent.write(2, _metrics(2), {"wall_seconds": 1.0}) == rows[1]
  silent.close()
  assert {n: os.path.getsize(os.path.join(workdir, n)) for n in before} == before
  assert os.listdir(os.path.join(workdir, "tensorboard")) == events


def test_wandb_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "wandb", None)  # import fails
  with pytest.raises(ValueError, match="pip install wandb"):
    hlog.Wandb(str(tmp_path), {"env": "x"})


def test_wandb_gets_mean_and_member_values_and_resumes_its_run(
    tmp_path, monkeypatch):
  logged, inits = [], []

  class Run:
    def log(self, data, step=None):
      logged.append((step, data))

    def finish(self):
      logged.append("finished")

  fake = types.SimpleNamespace(
      init=lambda **kw: inits.append(kw) or Run(),
      util=types.SimpleNamespace(generate_id=lambda: "abc123"))
  monkeypatch.setitem(sys.modules, "wandb", fake)
  workdir = str(tmp_path)
  writer = hlog.MetricsWriter(workdir, tensorboard=False,
                              wandb=hlog.Wandb(workdir, {"env": "x"}))
  writer.write(1, _metrics(1))
  writer.close()
  step, data = logged[0]
  assert step == 100
  assert data["eval/episode_return/mean"] == pytest.approx(1.5)
  assert data["eval/episode_return/member_1"] == pytest.approx(2.0)
  assert logged[-1] == "finished"
  assert inits[0]["id"] == "abc123" and inits[0]["resume"] == "allow"
  hlog.Wandb(workdir, {"env": "x"})  # a resumed run: the same W&B run id
  assert inits[1]["id"] == "abc123"
