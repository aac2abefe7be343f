"""XLA's CPU runtime on one thread, for small training programs.

XLA's CPU client runs a compiled program on a pool of threads, one per core
the process may use. A training program is a long chain of small
operations (a gradient step of a 64-64 MLP is a few hundred microseconds),
and the pool hands consecutive ones from thread to thread: each hand-off
wakes a thread, often on another core, whose caches do not hold what the
previous operation wrote. With a pool of one thread every operation runs
where the last one ran, with no hand-offs.

Measured on the 2-core CPU (session 12, our side alone, evaluation off,
medians of 3 runs of one compiled program): PPO at rejax's CartPole settings
80-92k env steps/s with one thread against 68-83k with the default pool;
PQN at rejax's settings 169k against 128k (1 seed) and 169k against 112k
(8 seeds); SAC on Pendulum 1,778 against 1,545; PPO with 8 seeds even (83k
and 84k) and with 32 seeds slower (73k against 80k). Compile time is
unchanged: compiling does not run on this pool. So `haikurl-train` uses one
thread when a call trains at most `MAX_MEMBERS` members on one device
(`--cpu_threads`), and a sweep of many members keeps every core.

The pool's size is fixed when JAX starts its CPU backend (from the cores
the starting thread may run on), so `single_thread_runtime()` must run
before anything touches a JAX device: it lets the starting thread run on one
core while the backend starts, then gives every thread of the process its
cores back. Only the pool's size changes; results are bitwise those of the
default pool (tested).
"""
import os
import re
import sys
from typing import Optional

# Members per call up to which one thread is at least as fast (measured:
# PPO even at 8 members, one thread 9% slower at 32).
MAX_MEMBERS = 8
THREAD_NAME = "tf_XLAEigen"  # the pool's threads, as /proc names them


def _backend_started() -> bool:
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return bool(getattr(xla_bridge, "_backends", None))


def _current_core() -> Optional[int]:
  """The core the calling thread last ran on (Linux), else None."""
  try:
    with open("/proc/thread-self/stat") as f:
      # The command name (field 2) may hold spaces: count after its ')'.
      fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[36])        # field 39, `processor`
  except (OSError, IndexError, ValueError):
    return None


def _threads():
  return [int(t) for t in os.listdir("/proc/self/task")]


def pool_threads() -> int:
  """How many threads XLA's CPU pool has in this process (Linux; 0 before
  the backend starts)."""
  count = 0
  for tid in _threads():
    try:
      with open(f"/proc/self/task/{tid}/comm") as f:
        count += f.read().strip() == THREAD_NAME
    except OSError:
      pass
  return count


def single_thread_runtime() -> bool:
  """Starts JAX's backends with a one-thread CPU pool.

  Call it before anything touches a JAX device (creating an array, `jit`
  running, `jax.devices()`). On a GPU or TPU the CPU pool runs only host
  work, so this changes nothing there that matters.

  Returns:
    True if the pool was started with one thread; False if it could not be
    (the backend had started already, not Linux, or one core only, where
    the pool has one thread anyway).
  """
  if not (sys.platform.startswith("linux") and
          hasattr(os, "sched_setaffinity")):
    return False
  allowed = os.sched_getaffinity(0)
  if len(allowed) < 2 or _backend_started():
    return False
  import jax  # pylint: disable=g-import-not-at-top
  saved = {}
  for tid in _threads():
    try:
      saved[tid] = os.sched_getaffinity(tid)
    except OSError:  # the thread ended meanwhile
      pass
  core = _current_core()
  os.sched_setaffinity(0, {core if core in allowed else min(allowed)})
  try:
    jax.devices()
  finally:
    # Threads started meanwhile (the pool) inherited the one core: every
    # thread gets back the cores it had, new ones the caller's. A thread
    # may start another while this runs: repeat until no new one appears.
    restored = set()
    while True:
      todo = [tid for tid in _threads() if tid not in restored]
      if not todo:
        break
      for tid in todo:
        try:
          os.sched_setaffinity(tid, saved.get(tid, allowed))
        except OSError:
          pass
        restored.add(tid)
  return True


def _accelerator_installed() -> bool:
  """Whether a GPU or TPU backend may start (JAX_PLATFORMS, or a plugin
  package installed): then the one-core start-up could also shrink pools
  that those backends size from the cores, so `auto` leaves it alone."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    return platforms != "cpu"
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  prefixes = ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu")
  return any((dist.metadata["Name"] or "").lower().startswith(prefixes)
             for dist in metadata.distributions())


def _host_devices() -> int:
  """CPU devices asked for by XLA_FLAGS or jax_num_cpu_devices (1 if none)."""
  counts = re.findall(r"xla_force_host_platform_device_count=(\d+)",
                      os.environ.get("XLA_FLAGS", ""))
  count = int(counts[-1]) if counts else 1
  try:
    import jax  # pylint: disable=g-import-not-at-top
    count = max(count, int(jax.config.jax_num_cpu_devices or 1))
  except (AttributeError, TypeError, ValueError):
    pass
  return count


def wants_single_thread(members_per_call: int, data_parallel: int = 1,
                        num_processes: int = 1) -> bool:
  """The default policy: one thread for a small batch of members on one
  CPU device of one process, with no accelerator backend (a sweep of many
  members, several host devices, data parallelism, a multi-process run or
  a GPU / TPU keep the default pool)."""
  return (members_per_call <= MAX_MEMBERS and data_parallel == 1 and
          num_processes == 1 and _host_devices() == 1 and
          not _accelerator_installed())


def start_backend(choice: str, members_per_call: int, data_parallel: int = 1,
                  num_processes: int = 1) -> bool:
  """Starts JAX's backend with the pool `choice` asks: 'one', 'all', or
  'auto' (`wants_single_thread`); `members_per_call` 0 means unknown (the
  default pool). Returns whether a one-thread pool was started here."""
  if choice == "auto":
    one = members_per_call > 0 and wants_single_thread(
        members_per_call, data_parallel, num_processes)
  else:
    one = choice == "one"
  return one and single_thread_runtime()
