"""haikurl/cpu.py's one-thread start-up for the peers' side scripts.

The side scripts run in bench_venv, which has no haikurl: this loads
haikurl/cpu.py from its file (it imports only os, sys and jax), so a peer
can run on the same CPU runtime as ours (`--peer_cpu_threads one` of the
side-by-side benchmarks).
"""
import importlib.util
import os


def single_thread_runtime() -> bool:
  """Starts JAX's backend with a one-thread CPU pool (before any array)."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), "haikurl", "cpu.py")
  spec = importlib.util.spec_from_file_location("haikurl_cpu", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.single_thread_runtime()


def add_flag(parser) -> None:
  parser.add_argument("--cpu_threads", choices=("all", "one"), default="all",
                      help="XLA's CPU pool: one thread per core as the peer "
                      "ships, or one thread (haikurl/cpu.py's start-up)")
