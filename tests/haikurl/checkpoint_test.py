"""Checkpoints: round trip, atomic writes, corruption, resume after SIGKILL and
Ctrl-C equal to an uninterrupted run, the files a run leaves, load_policy.

The CLI runs in subprocesses sharing a persistent compilation cache, so only
the first one pays for compiling.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from haikurl import checkpoint
from haikurl import testing
from haikurl import policy as policy_lib
from haikurl import resume

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
NUM_PERIODS = 8
TINY = [
    "--config=configs/ppo.py:CartPole-v1",
    "--config.agent.num_envs=4", "--config.agent.rollout_length=16",
    "--config.agent.num_minibatches=2", "--config.agent.num_epochs=1",
    f"--config.total_env_steps={NUM_PERIODS * 2048}",
    "--config.eval_every=2048", "--config.num_eval_episodes=4",
    "--config.num_seeds=2", "--quiet",
]


class Inner(NamedTuple):
  w: jax.Array
  flag: jax.Array


def example_tree():
  return {
      "params": Inner(jnp.arange(6, dtype=jnp.float32).reshape(2, 3),
                      jnp.array([True, False])),
      "count": jnp.asarray(7, jnp.int32),
      "bytes": np.arange(4, dtype=np.uint8),
      "half": jnp.ones((2,), jnp.bfloat16),
      "empty": jnp.zeros((0, 3), jnp.float32),
      "key": jax.random.key(3),
      "keys": jax.random.split(jax.random.key(4), 5),
      "rbg": jax.random.key(5, impl="rbg"),
      "raw_key": jax.random.PRNGKey(6),
  }


def test_round_trip_keeps_values_dtypes_and_keys(tmp_path):
  tree = example_tree()
  checkpoint.save(str(tmp_path), 3, tree, {"rows": [{"a": 1}]},
                  meta={"num_members": 2})
  template = jax.eval_shape(lambda: tree)
  period, restored, record = checkpoint.restore(str(tmp_path), template)
  assert period == 3 and record == {"rows": [{"a": 1}]}
  assert jax.tree.structure(restored) == jax.tree.structure(tree)
  for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(restored)):
    assert a.dtype == b.dtype and a.shape == b.shape
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
      np.testing.assert_array_equal(jax.random.key_data(a),
                                    jax.random.key_data(b))
    else:
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Restored keys are usable keys that draw the same numbers.
  np.testing.assert_array_equal(jax.random.uniform(tree["keys"][2]),
                                jax.random.uniform(restored["keys"][2]))
  assert checkpoint.latest(str(tmp_path)).meta["num_members"] == 2


def test_restore_refuses_a_different_structure(tmp_path):
  checkpoint.save(str(tmp_path), 1, {"w": jnp.zeros((2, 3))})
  with pytest.raises(checkpoint.CheckpointError, match=r"\(2, 3\) float32"):
    checkpoint.restore(str(tmp_path), {"w": jax.ShapeDtypeStruct((3,), jnp.float32)})
  with pytest.raises(checkpoint.CheckpointError, match="holds 1 arrays"):
    checkpoint.restore(str(tmp_path), {"w": jnp.zeros((2, 3)), "b": jnp.zeros(())})


def test_a_crash_mid_write_leaves_the_previous_checkpoint(tmp_path):
  workdir = str(tmp_path)
  checkpoint.save(workdir, 1, {"w": jnp.ones(3)})
  checkpoint.save(workdir, 2, {"w": jnp.full(3, 2.0)})
  checkpoint.save(workdir, 3, {"w": jnp.full(3, 3.0)}, keep=2)
  assert [c.period for c in checkpoint.list_checkpoints(workdir)] == [2, 3]
  # A crash before the sidecar of period 4 was written: a stray temporary
  # file and a data file without sidecar are not a checkpoint.
  ckdir = checkpoint.directory(workdir)
  with open(os.path.join(ckdir, "ckpt_000004.msgpack"), "wb") as f:
    f.write(b"\x00half")
  with open(os.path.join(ckdir, "ckpt_000004.json.tmp123"), "w") as f:
    f.write("{")
  period, arrays, _ = checkpoint.restore(workdir, {"w": jnp.zeros(3)})
  assert period == 3
  np.testing.assert_array_equal(arrays["w"], np.full(3, 3.0))


def test_a_corrupt_checkpoint_is_named_with_what_to_do(tmp_path):
  workdir = str(tmp_path)
  checkpoint.save(workdir, 1, {"w": jnp.ones(1000)})
  path = checkpoint.save(workdir, 2, {"w": jnp.ones(1000)})
  with open(path, "r+b") as f:
    f.seek(200)
    f.write(b"\xff\xff\xff\xff")
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore(workdir, {"w": jnp.zeros(1000)})
  message = str(e.value)
  assert "corrupt" in message and "sha256" in message and path in message
  assert "previous checkpoint (period 1)" in message
  # Truncated (a half-written file put in place by something else).
  with open(path, "r+b") as f:
    f.truncate(100)
  with pytest.raises(checkpoint.CheckpointError, match="100 bytes"):
    checkpoint.restore(workdir, {"w": jnp.zeros(1000)})
  assert os.path.exists(path)  # nothing deleted


def test_config_differences_ignore_run_only_fields():
  saved = {"agent": {"learning_rate": 1e-3, "hidden_sizes": [64, 64]},
           "checkpoint_every": 0}
  new = {"agent": {"learning_rate": 3e-4, "hidden_sizes": (64, 64)},
         "checkpoint_every": 5, "wandb": True}
  assert resume.config_differences(saved, new) == [
      "agent.learning_rate: 0.001 -> 0.0003"]


# ---------------------------------------------------------------------------
# The CLI, end to end.


def _env(tmp_root):
  env = dict(os.environ)
  env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(tmp_root, "jax_cache")
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _cli(tmp_root, workdir, *extra):
  return [sys.executable, "-m", "haikurl.cli", *TINY, f"--workdir={workdir}",
          *extra]


def _run(tmp_root, workdir, *extra):
  return subprocess.run(_cli(tmp_root, workdir, *extra), cwd=ROOT,
                        env=_env(tmp_root), capture_output=True, text=True,
                        timeout=600)


_summary = testing.read_summary
_rows = testing.read_rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("ckpt_cli"))
  workdir = os.path.join(root, "whole")
  result = _run(root, workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  return root, workdir


def test_a_run_leaves_metrics_tensorboard_curve_and_checkpoint(runs):
  _, workdir = runs
  rows = _rows(workdir)
  assert [r["period"] for r in rows] == list(range(1, NUM_PERIODS + 1))
  assert [r["env_steps"] for r in rows] == [[2048.0 * (i + 1)] * 2
                                             for i in range(NUM_PERIODS)]
  for row in rows:
    assert len(row["eval/episode_return"]) == 2
  with open(os.path.join(workdir, "metrics.csv")) as f:
    lines = f.read().splitlines()
  assert len(lines) == 1 + NUM_PERIODS * 2
  assert "member" in lines[0].split(",") and "eval/episode_return" in lines[0]
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  assert os.path.getsize(os.path.join(workdir, "curve.png")) > 1000
  info = checkpoint.latest(workdir)
  assert info.period == NUM_PERIODS and info.meta["num_members"] == 2
  summary = _summary(workdir)
  assert summary["env_steps"] == NUM_PERIODS * 2048
  assert len(summary["final_eval_return_per_member"]) == 2


def _wait_for_checkpoint(proc, workdir, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      pytest.fail(f"the run ended (rc {proc.returncode}) before a checkpoint "
                  "could be interrupted")
    if os.path.isdir(checkpoint.directory(workdir)) and checkpoint.latest(
        workdir) is not None:
      return
    time.sleep(0.01)
  pytest.fail("no checkpoint appeared")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT],
                         ids=["sigkill", "sigint"])
def test_interrupted_and_resumed_equals_uninterrupted(runs, sig):
  root, whole = runs
  workdir = os.path.join(root, f"interrupted_{sig.name}")
  proc = subprocess.Popen(_cli(root, workdir, "--checkpoint_every=1"),
                          cwd=ROOT, env=_env(root), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  _wait_for_checkpoint(proc, workdir)
  proc.send_signal(sig)
  _, stderr = proc.communicate(timeout=300)
  stopped_at = checkpoint.latest(workdir).period
  assert stopped_at < NUM_PERIODS, "the run finished before the signal"
  assert not os.path.exists(os.path.join(workdir, "summary.json"))
  if sig == signal.SIGINT:
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "checkpoint saved" in stderr and "run the same command" in stderr.lower()
  else:
    assert proc.returncode == -signal.SIGKILL
  result = _run(root, workdir)  # the same command, without the flag
  assert result.returncode == 0, result.stderr[-3000:]
  a, b = _summary(whole), _summary(workdir)
  for key in ("final_eval_return_per_member", "best_eval_return_per_member",
              "final_eval_return_mean", "env_steps"):
    assert a[key] == b[key], key
  # metrics.jsonl: the periods before the checkpoint kept, the rest appended
  # once each; every row equal to the uninterrupted run's.
  assert _rows(workdir) == _rows(whole)


def test_a_corrupt_checkpoint_stops_the_cli_and_keeps_the_workdir(runs):
  root, whole = runs
  workdir = os.path.join(root, "corrupt")
  shutil.copytree(whole, workdir)
  info = checkpoint.latest(workdir)
  with open(info.path, "r+b") as f:
    f.seek(-10, os.SEEK_END)
    f.write(b"0123456789")
  before = {}
  for dirpath, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        before[path] = f.read()
  result = _run(root, workdir)
  assert result.returncode == 2
  assert "corrupt" in result.stderr and info.path in result.stderr
  after = {}
  for dirpath, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        after[path] = f.read()
  assert after == before


def test_a_different_config_is_refused(runs):
  root, whole = runs
  workdir = os.path.join(root, "other_config")
  shutil.copytree(whole, workdir)
  result = _run(root, workdir, "--config.agent.learning_rate=0.001")
  assert result.returncode == 2
  assert "different config" in result.stderr
  assert "agent.learning_rate: 0.0025 -> 0.001" in result.stderr


def test_load_policy_for_one_member_and_all(runs):
  _, workdir = runs
  every = haikurl.load_policy(workdir)
  one = haikurl.load_policy(workdir, member=1)
  assert every.num_members == 2 and one.member == 1
  obs = jax.random.normal(jax.random.key(0), (2, 5, 4))
  actions = jax.jit(every)(obs, jax.random.key(1))
  assert actions.shape == (2, 5)
  chex.assert_trees_all_equal(jax.jit(one)(obs[1], jax.random.key(1)),
                              actions[1])
  assert jax.jit(one)(obs[1, 0], jax.random.key(1)).shape == ()
  with pytest.raises(ValueError, match="has 2 member"):
    haikurl.load_policy(workdir, member=2)


def test_load_policy_applies_saved_normalisation_statistics(tmp_path):
  from configs import ppo as ppo_config  # pylint: disable=g-import-not-at-top
  from haikurl import experiment  # pylint: disable=g-import-not-at-top
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.normalize_observations = True
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 1, 1
  cfg.total_env_steps = cfg.eval_every = 64
  cfg.num_eval_episodes = 2
  workdir = str(tmp_path)
  experiment.run(cfg, workdir, quiet=True, tensorboard=False)
  policy = haikurl.load_policy(workdir, member=0)
  train = haikurl.make_train(resume.load_config(workdir), callbacks={})
  _, arrays, _ = checkpoint.restore(workdir,
                                    policy_lib.state_template(train, 1))
  stats = arrays["state"].env_state.stats
  assert float(stats.count[0]) > 64  # statistics were learnt and saved
  obs = jnp.array([[0.1, 0.5, -0.05, -0.3]])
  agent_state = jax.tree.map(lambda x: x[0], arrays["state"].agent_state)
  hp = jax.tree.map(lambda x: x[0], arrays["hparams"])
  normalized = haikurl.envs.wrappers.normalize(
      jax.tree.map(lambda x: x[0], stats), obs)
  expected, _ = train.agent.act(agent_state, normalized, jax.random.key(0),
                                hp, True)
  chex.assert_trees_all_equal(policy(obs, jax.random.key(0)), expected)


def test_render_policy_writes_a_gif(runs, tmp_path):
  from haikurl import render  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  _, workdir = runs
  out = render.render_policy(workdir, str(tmp_path / "episode.gif"), member=1,
                             max_steps=12)
  assert 1 <= out["frames"] <= 12
  with Image.open(out["path"]) as gif:
    assert gif.n_frames == out["frames"]
