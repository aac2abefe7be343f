"""Test set-up: the repository root is importable (configs/, agents/), and
XLA compiles at LLVM level 1 on CPU, as `haikurl-train` does.

Most of the suite's time is compiling training programs; level 1 is what
`haikurl.compiler_options()` gives every run of the CLI and the benchmarks
(about a fifth less compile, the same steps/s), and the level the tests'
own `jax.jit(train)` calls get through XLA_FLAGS: the determinism tests ran
114 s against 162 s at XLA's default level 2 (session 14, 2-core CPU). Set
before any test touches a JAX device (the flag is read when the CPU backend
starts); an XLA_FLAGS that names a level itself is left as it is.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# haikurl.compiler_options decides (and is {} when XLA_FLAGS names a level);
# importing it starts no backend.
from haikurl import loop  # pylint: disable=g-import-not-at-top,wrong-import-position
os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", "")] +
    [f"--{k}={v}" for k, v in loop.compiler_options("cpu").items()]).strip()

# Each xdist worker runs its programs on XLA's one-thread CPU pool, as
# `haikurl-train` does for up to 8 members (haikurl/cpu.py): two workers on
# two cores, each with a pool of one thread per core, hand operations
# between four threads. (The pytest process that only hands out tests starts
# no backend.) Results are bitwise those of any pool (cpu_test).
if os.environ.get("PYTEST_XDIST_WORKER"):
  from haikurl import cpu  # pylint: disable=g-import-not-at-top
  cpu.single_thread_runtime()
