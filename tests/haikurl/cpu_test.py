"""haikurl.cpu: the one-thread CPU runtime and the CLI's --cpu_threads.

Each case runs in a fresh process: the CPU pool's size is fixed when JAX's
backend starts, which pytest's process did long ago.
"""
import os
import subprocess
import sys

import pytest

from haikurl import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
TWO_CORES = (sys.platform.startswith("linux") and
             hasattr(os, "sched_getaffinity") and
             len(os.sched_getaffinity(0)) >= 2)
TINY = [
    "--config=configs/ppo.py:CartPole-v1",
    "--config.agent.num_envs=4", "--config.agent.rollout_length=16",
    "--config.agent.num_minibatches=2", "--config.agent.num_epochs=2",
    "--config.total_env_steps=2048", "--config.eval_every=1024",
    "--config.num_eval_episodes=2", "--config.num_seeds=2", "--quiet",
]


def _python(code: str) -> str:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout.strip().splitlines()[-1]


def test_loading_a_config_starts_no_backend():
  # What haikurl-train loads before it chooses the pool: the library, the
  # agents, a config file with every agent default filled in. (gymnax
  # starts the backend when imported; haikurl imports it on first use.)
  out = _python(
      "from haikurl import cli\n"
      "config = cli.load_config('configs/ppo.py:CartPole-v1')\n"
      "import agents\n"
      "from jax._src import xla_bridge\n"
      "print(bool(xla_bridge._backends))")
  assert out == "False"


@pytest.mark.skipif(not TWO_CORES, reason="needs two cores (Linux)")
def test_single_thread_runtime_starts_a_one_thread_pool_and_frees_the_cores():
  out = _python(
      "import os\n"
      "from haikurl import cpu\n"
      "before = os.sched_getaffinity(0)\n"
      "started = cpu.single_thread_runtime()\n"
      "again = cpu.single_thread_runtime()\n"  # too late: says so
      "print(started, again, cpu.pool_threads(),\n"
      "      all(os.sched_getaffinity(int(t)) == before\n"
      "          for t in os.listdir('/proc/self/task')))")
  assert out == "True False 1 True"
  default = _python("import jax; jax.devices()\n"
                    "from haikurl import cpu; print(cpu.pool_threads())")
  assert int(default) >= 2


@pytest.mark.skipif(not TWO_CORES, reason="needs two cores (Linux)")
def test_cli_one_thread_and_all_threads_give_the_same_bits(tmp_path):
  # --cpu_threads=auto picks one thread for 2 members and 'all' keeps the
  # pool: the metrics of every period are bitwise equal. (The second run
  # takes the first one's program from a compilation cache of its own: the
  # pool is the runtime's, not the program's.)
  pools = {}
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  for choice in ("auto", "all"):
    workdir = str(tmp_path / choice)
    result = subprocess.run(
        [sys.executable, "-m", "haikurl.cli", *TINY, f"--workdir={workdir}",
         f"--cpu_threads={choice}",
         f"--compilation_cache={tmp_path / 'cache'}"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    pools[choice] = testing.read_summary(workdir)["cpu_pool_threads"]
  assert pools["auto"] == 1 and pools["all"] >= 2, pools
  assert (testing.read_rows(str(tmp_path / "auto")) ==
          testing.read_rows(str(tmp_path / "all")))


def test_policy_keeps_the_pool_for_large_batches_devices_and_accelerators(
    monkeypatch):
  from haikurl import cpu  # pylint: disable=g-import-not-at-top
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  assert cpu.wants_single_thread(1) and cpu.wants_single_thread(8)
  assert not cpu.wants_single_thread(9)
  assert not cpu.wants_single_thread(1, data_parallel=2)
  assert not cpu.wants_single_thread(1, num_processes=2)
  for count, one in (("4", False), ("16", False), ("1", True)):
    monkeypatch.setenv("XLA_FLAGS",
                       f"--xla_force_host_platform_device_count={count}")
    assert cpu.wants_single_thread(1) == one, count
  monkeypatch.delenv("XLA_FLAGS")
  monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
  assert not cpu.wants_single_thread(1)
