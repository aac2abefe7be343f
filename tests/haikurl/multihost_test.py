"""Multi-process runs (`jax.distributed`, two local CPU processes, gloo):
one set of files written by process 0, and a run whose two processes are
SIGKILLed after a checkpoint resumes to the uninterrupted run's results.

Each process owns one CPU device and one of the two members. The CLI runs
in subprocesses sharing a persistent compilation cache, so only the first
launch pays for compiling.
"""
import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from haikurl import checkpoint
from haikurl import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
NUM_PROCESSES = 2
NUM_MEMBERS = 2
NUM_PERIODS = 4
TINY = [
    "--config=configs/ppo.py:CartPole-v1",
    "--config.agent.num_envs=4", "--config.agent.rollout_length=16",
    "--config.agent.num_minibatches=2", "--config.agent.num_epochs=1",
    f"--config.total_env_steps={NUM_PERIODS * 2048}",
    "--config.eval_every=2048", "--config.num_eval_episodes=4",
    f"--config.num_seeds={NUM_MEMBERS}", "--checkpoint_every=1",
]
TIMEOUT = 240  # seconds for any one launch of both processes


def _gloo_missing() -> str:
  """Why this jaxlib cannot run CPU collectives across processes, or ''."""
  try:
    from jax._src.lib import _jax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return ""  # a jaxlib that moved it: try, and fail with the logs
  if not hasattr(_jax, "make_gloo_tcp_collectives"):
    return ("this jaxlib has no gloo CPU collectives, so JAX cannot run a "
            "multi-process program on CPUs")
  return ""


def _free_port() -> int:
  with contextlib.closing(socket.socket(socket.AF_INET,
                                        socket.SOCK_STREAM)) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(root: str, port: int, process_id: int) -> dict:
  env = dict(os.environ)
  env.update({
      "HAIKURL_DISTRIBUTED": "1",
      "HAIKURL_NUM_PROCESSES": str(NUM_PROCESSES),
      "HAIKURL_PROCESS_ID": str(process_id),
      "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
      "JAX_PLATFORMS": "cpu",
      "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
      "JAX_COMPILATION_CACHE_DIR": os.path.join(root, "jax_cache"),
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
  })
  return env


class Launch:
  """Both processes of one run of the CLI, their output in log files."""

  def __init__(self, root: str, workdir: str, name: str):
    port = _free_port()
    self.logs = [os.path.join(root, f"{name}.{i}.log")
                 for i in range(NUM_PROCESSES)]
    self.procs = []
    for i, log in enumerate(self.logs):
      with open(log, "w") as out:
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "haikurl.cli", *TINY,
             f"--workdir={workdir}"], cwd=ROOT, env=_env(root, port, i),
            stdout=out, stderr=subprocess.STDOUT))

  def output(self, i: int) -> str:
    with open(self.logs[i]) as f:
      return f.read()

  def tails(self) -> str:
    return "\n".join(f"--- process {i} (rc {p.poll()}):\n"
                     f"{self.output(i)[-2500:]}"
                     for i, p in enumerate(self.procs))

  def running(self) -> bool:
    return all(p.poll() is None for p in self.procs)

  def wait(self, timeout: float = TIMEOUT):
    """Return codes of both processes; fails the test past `timeout`."""
    deadline = time.time() + timeout
    for p in self.procs:
      try:
        p.wait(timeout=max(1.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        self.kill()
        pytest.fail(f"a process did not finish in {timeout} s (a collective "
                    f"that hangs?)\n{self.tails()}")
    return [p.returncode for p in self.procs]

  def kill(self):
    for p in self.procs:
      if p.poll() is None:
        p.kill()
    for p in self.procs:
      try:
        p.wait(timeout=30)
      except subprocess.TimeoutExpired:
        pass

  def check_finished(self):
    codes = self.wait()
    if codes != [0] * NUM_PROCESSES:
      tails = self.tails()
      hint = (" (gloo, JAX's CPU collectives, failed: see the logs)"
              if "gloo" in tails.lower() and "error" in tails.lower() else "")
      pytest.fail(f"return codes {codes}{hint}\n{tails}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  missing = _gloo_missing()
  if missing:
    pytest.skip(missing)
  return str(tmp_path_factory.mktemp("multihost"))


@pytest.fixture(scope="module")
def whole(root):
  """Case A: an uninterrupted two-process run."""
  workdir = os.path.join(root, "whole")
  launch = Launch(root, workdir, "whole")
  try:
    launch.check_finished()
  finally:
    launch.kill()
  return workdir, launch


def _has_checkpoint(workdir) -> bool:
  return (os.path.isdir(checkpoint.directory(workdir)) and
          checkpoint.latest(workdir) is not None)


def _wait_for_checkpoint(launch: Launch, workdir: str):
  deadline = time.time() + TIMEOUT
  while not _has_checkpoint(workdir):
    if not launch.running():
      launch.kill()
      pytest.fail("a process ended before a checkpoint could be "
                  f"interrupted\n{launch.tails()}")
    if time.time() > deadline:
      pytest.fail(f"no checkpoint appeared in {TIMEOUT} s\n{launch.tails()}")
    time.sleep(0.01)


_summary = testing.read_summary
_rows = testing.read_rows


def _check_one_set_of_files(workdir, sessions: int = 1):
  rows = _rows(workdir)
  assert [r["period"] for r in rows] == list(range(1, NUM_PERIODS + 1))
  for row in rows:
    assert len(row["eval/episode_return"]) == NUM_MEMBERS
  with open(os.path.join(workdir, "metrics.csv")) as f:
    lines = f.read().splitlines()
  assert len(lines) == 1 + NUM_PERIODS * NUM_MEMBERS, lines
  # One event file per session (a resumed run starts a new one).
  assert len(os.listdir(os.path.join(workdir, "tensorboard"))) == sessions
  names = sorted(os.listdir(checkpoint.directory(workdir)))
  assert names == [f"ckpt_{p:06d}.{ext}" for p in (NUM_PERIODS - 1,
                                                    NUM_PERIODS)
                   for ext in ("json", "msgpack")], names
  assert not glob.glob(os.path.join(workdir, "**", "*.tmp*"), recursive=True)


def test_two_processes_write_one_set_of_files(whole):
  workdir, launch = whole
  _check_one_set_of_files(workdir)
  summary = _summary(workdir)
  assert summary["num_processes"] == NUM_PROCESSES
  assert summary["num_devices"] == NUM_PROCESSES
  assert summary["env_steps"] == NUM_PERIODS * 2048
  assert len(summary["final_eval_return_per_member"]) == NUM_MEMBERS
  # Every process saw every member's metrics: the same final returns.
  done = [[line.split("; ")[-1] for line in launch.output(i).splitlines()
           if line.startswith("done:")] for i in range(NUM_PROCESSES)]
  assert len(done[0]) == 1 and done[0] == done[1], done
  assert "final eval return" in done[0][0]
  # The checkpoint holds the state of both members, gathered from both
  # processes, and reads back as the single-process code reads it.
  info = checkpoint.latest(workdir)
  assert info.period == NUM_PERIODS and info.meta["num_members"] == NUM_MEMBERS
  _, payload = checkpoint.read(workdir, info)
  leaves = payload["arrays"]["leaves"]
  assert all(leaves[str(i)].shape[:1] == (NUM_MEMBERS,)
             for i in range(payload["arrays"]["num_leaves"])
             if leaves[str(i)].ndim)


def test_sigkill_of_both_processes_then_resume_equals_uninterrupted(
    root, whole):
  whole_dir, _ = whole
  workdir = os.path.join(root, "killed")
  first = Launch(root, workdir, "killed")
  try:
    _wait_for_checkpoint(first, workdir)
    for p in first.procs:
      p.send_signal(signal.SIGKILL)
    assert first.wait(60) == [-signal.SIGKILL] * NUM_PROCESSES
  finally:
    first.kill()
  stopped_at = checkpoint.latest(workdir).period
  assert stopped_at < NUM_PERIODS, "the run finished before the kill"
  assert not os.path.exists(os.path.join(workdir, "summary.json"))

  second = Launch(root, workdir, "resumed")  # the same command again
  try:
    second.check_finished()
  finally:
    second.kill()
  for i in range(NUM_PROCESSES):
    assert f"period {stopped_at}/{NUM_PERIODS}" in second.output(i)
  _check_one_set_of_files(workdir, sessions=2)
  # Bitwise: the restored state is the saved bits, each process places the
  # same shards on the same device and runs the same compiled program.
  a, b = _summary(whole_dir), _summary(workdir)
  for key in ("final_eval_return_per_member", "best_eval_return_per_member",
              "final_eval_return_mean", "env_steps", "num_processes"):
    assert a[key] == b[key], key
  assert _rows(workdir) == _rows(whole_dir)


@pytest.mark.slow
def test_the_gathered_checkpoint_is_the_single_process_one_bitwise(
    root, whole):
  """The same members on one process with two devices (one member each, as
  in the two-process run) save the same bits: the gather puts every member
  and every leaf where a single process has it."""
  whole_dir, _ = whole
  workdir = os.path.join(root, "single")
  env = _env(root, 0, 0)
  for name in ("HAIKURL_DISTRIBUTED", "HAIKURL_NUM_PROCESSES",
               "HAIKURL_PROCESS_ID", "JAX_COORDINATOR_ADDRESS"):
    env.pop(name)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={NUM_PROCESSES}"
  result = subprocess.run([sys.executable, "-m", "haikurl.cli", *TINY,
                           "--quiet", f"--workdir={workdir}"], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
  assert result.returncode == 0, result.stderr[-3000:]
  (_, multi), (_, single) = (checkpoint.read(w) for w in (whole_dir, workdir))
  assert multi["period"] == single["period"] == NUM_PERIODS
  a, b = multi["arrays"], single["arrays"]
  assert a["treedef"] == b["treedef"] and a["key_impls"] == b["key_impls"]
  for i in range(a["num_leaves"]):
    x, y = a["leaves"][str(i)], b["leaves"][str(i)]
    assert x.dtype == y.dtype and x.shape == y.shape, i
    assert x.tobytes() == y.tobytes(), f"leaf {i} differs"
  assert _rows(whole_dir) == _rows(workdir)


@pytest.mark.slow
def test_ctrl_c_on_one_process_stops_both_after_a_checkpoint(root):
  """SIGINT reaches process 1 alone: the processes agree at the end of the
  period, save one checkpoint together and both exit with 130."""
  workdir = os.path.join(root, "ctrl_c")
  launch = Launch(root, workdir, "ctrl_c")
  try:
    _wait_for_checkpoint(launch, workdir)
    launch.procs[1].send_signal(signal.SIGINT)
    codes = launch.wait()
  finally:
    launch.kill()
  assert codes == [130] * NUM_PROCESSES, launch.tails()
  stopped_at = checkpoint.latest(workdir).period
  assert stopped_at < NUM_PERIODS, "the run finished before the signal"
  assert not os.path.exists(os.path.join(workdir, "summary.json"))
  for i in range(NUM_PROCESSES):
    assert (f"interrupted after period {stopped_at}/{NUM_PERIODS}"
            in launch.output(i)), launch.tails()
  assert [r["period"] for r in _rows(workdir)] == list(
      range(1, stopped_at + 1))
