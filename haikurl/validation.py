"""Run-level checks made before anything is traced or compiled.

Every problem raises a ValueError with one line saying what to change; the
CLI prints it and exits with status 2. An agent's settings are checked by
the agent's own `Settings` and `HParams.CHECKS` (`haikurl.settings`), and
what depends on the environment by its `validate(settings, spec)`.
"""
import errno
import os
import shutil
from typing import Any

import numpy as np

from haikurl import envs as envs_lib

# Free space a workdir needs before a run starts (config, metrics, a few
# checkpoints of a small agent). Checked before compiling, so a full disk
# is reported at once rather than after the first period.
MIN_FREE_BYTES = 64 * 2**20


def _positive_int(path: str, value: Any):
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
    raise ValueError(f"config.{path} must be a positive integer, got {value!r}.")


def check_config(config) -> None:
  """Checks the run-level fields of a config (the agent checks its own
  settings when `haikurl.settings.split` builds them)."""
  if "env" not in config or not isinstance(config.env, str):
    raise ValueError("config.env must name an environment, e.g. "
                     "'gymnax:CartPole-v1'.")
  envs_lib.check_name(config.env)
  for path in ("total_env_steps", "eval_every", "num_eval_episodes",
               "num_seeds"):
    if path in config:
      _positive_int(path, config[path])
  if "agent" not in config or not isinstance(config.agent.get("name"), str):
    raise ValueError("config.agent.name must name an agent, e.g. 'ppo', or "
                     "the module path of your own ('my_agents.mdqn').")


def _nearest_multiples(value: int, unit: int) -> str:
  """"a or b": the positive multiples of `unit` nearest `value` (one if
  `value` is below `unit`)."""
  below = value // unit * unit
  above = below + unit
  return f"{below:,} or {above:,}" if below > 0 else f"{above:,}"


def check_run_length(total_env_steps: int, eval_every: int, num_envs: int,
                     rollout_length: int) -> None:
  """Refuses a run length the loop cannot run exactly.

  A run is whole evaluation periods of whole iterations of `num_envs x
  rollout_length` env steps: `eval_every` must be a multiple of the
  iteration and `total_env_steps` a multiple of `eval_every`. Raises a
  one-line ValueError naming the nearest valid values otherwise.
  """
  for path, value in (("total_env_steps", total_env_steps),
                      ("eval_every", eval_every),
                      ("agent.num_envs", num_envs),
                      ("agent.rollout_length", rollout_length)):
    _positive_int(path, value)
  iteration = num_envs * rollout_length
  if eval_every % iteration:
    raise ValueError(
        f"config.eval_every={eval_every:,} is not a whole number of "
        f"iterations of num_envs x rollout_length = {num_envs} x "
        f"{rollout_length} = {iteration:,} env steps; nearest valid values: "
        f"{_nearest_multiples(eval_every, iteration)}.")
  if total_env_steps % eval_every:
    raise ValueError(
        f"config.total_env_steps={total_env_steps:,} is not a whole number "
        f"of evaluation periods of eval_every={eval_every:,} env steps; "
        f"nearest valid values: "
        f"{_nearest_multiples(total_env_steps, eval_every)}.")




def check_workdir(workdir: str, min_free_bytes: int = MIN_FREE_BYTES) -> None:
  """Creates `workdir` and checks it can be written and has room.

  Raises a one-line ValueError (not an OSError deep in a checkpoint write
  after the first period) when the directory cannot be created, is not
  writable, or its file system has less than `min_free_bytes` free.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f"--workdir {workdir} exists and is not a directory.")
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ValueError(f"cannot create --workdir {workdir}: "
                     f"{e.strerror or e}.") from e
  probe = os.path.join(workdir, f".haikurl-write-test-{os.getpid()}")
  try:
    with open(probe, "wb") as f:
      f.write(b"0" * 4096)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    why = ("the disk is full" if e.errno == errno.ENOSPC
           else e.strerror or str(e))
    raise ValueError(f"cannot write to --workdir {workdir}: {why}.") from e
  finally:
    try:
      os.remove(probe)
    except OSError:
      pass
  free = shutil.disk_usage(workdir).free
  if free < min_free_bytes:
    raise ValueError(
        f"--workdir {workdir} has only {free / 2**20:.1f} MiB free (at least "
        f"{min_free_bytes / 2**20:.0f} MiB needed for metrics and "
        "checkpoints); free some space or choose another --workdir.")
