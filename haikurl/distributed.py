"""Multi-process runs (`jax.distributed`): starting them, and who writes.

    HAIKURL_DISTRIBUTED=1 JAX_COORDINATOR_ADDRESS=10.0.0.1:12355 \
    HAIKURL_NUM_PROCESSES=2 HAIKURL_PROCESS_ID=0 haikurl-train ...

Every process runs the same program (`haikurl.batch.Runner` shards the
members over the devices of all processes) and sees the same metrics; only
process 0 (`is_writer()`) writes the workdir: config.json, metrics,
TensorBoard, W&B, checkpoints, summary and plots. Every process reads the
checkpoint when resuming, so the workdir must be on a file system that all
processes share (checked: processes that see different checkpoints refuse
to start).

This module imports JAX only when asked to initialise: `haikurl-train`
calls `initialize_distributed()` before loading the config (creating an
env starts JAX's backend, after which initialising is refused),
and a bad flag of a single-process run is still reported without JAX.
"""
import os

ENV_FLAG = "HAIKURL_DISTRIBUTED"


def requested() -> bool:
  """Whether HAIKURL_DISTRIBUTED asks for a multi-process run."""
  flag = os.environ.get(ENV_FLAG, "").strip().lower()
  return flag not in ("", "0", "false", "no")


def initialize_distributed() -> bool:
  """`jax.distributed.initialize()` when HAIKURL_DISTRIBUTED is set.

  Reads JAX_COORDINATOR_ADDRESS (host:port of process 0),
  HAIKURL_NUM_PROCESSES and HAIKURL_PROCESS_ID (managed clusters, SLURM or
  Cloud TPU, may leave them to JAX); on CPUs the cross-process collectives
  use gloo.

  Returns whether JAX runs multi-process (also when already initialised).
  Call it first thing, before anything touches a JAX device (creating an
  env does): initialising is refused once JAX's backend has started.
  """
  if not requested():
    return False
  import jax  # pylint: disable=g-import-not-at-top
  if not jax.distributed.is_initialized():
    num = os.environ.get("HAIKURL_NUM_PROCESSES")
    pid = os.environ.get("HAIKURL_PROCESS_ID")
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(
        jax.config.jax_platforms):
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
      jax.distributed.initialize(
          coordinator_address=os.environ.get("JAX_COORDINATOR_ADDRESS"),
          num_processes=int(num) if num else None,
          process_id=int(pid) if pid else None)
    except RuntimeError as e:
      if "must be called before" not in str(e):
        raise
      raise RuntimeError(
          "HAIKURL_DISTRIBUTED is set but JAX was already initialised: call "
          "haikurl.distributed.initialize_distributed() first thing, before "
          "anything touches a JAX device (creating an env or an array "
          "starts JAX's backend).") from e
  return jax.process_count() > 1


def is_multiprocess() -> bool:
  """Whether this run spans more than one JAX process."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.process_count() > 1


def is_writer() -> bool:
  """Whether this process writes the workdir (process 0; also single runs)."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.process_index() == 0
