"""Checks run before anything is traced or compiled.

Every problem raises a ValueError with one line saying what to change; the
CLI prints it and exits with status 2. Agents add their own checks in
`validate(settings, spec)`; the checks here apply to every agent, by the
names of the config's keys (`batch_size` and `buffer_size`, `num_minibatches`,
`*hidden_sizes`, `*learning_rate`, `torso_init`, ...), so an agent that forgets one still
gets it.
"""
import errno
import os
import shutil
from typing import Any

import numpy as np

from haikurl import envs as envs_lib
from haikurl import networks

# Free space a workdir needs before a run starts (config, metrics, a few
# checkpoints of a small agent). Checked before compiling, so a full disk
# is reported at once rather than after the first period.
MIN_FREE_BYTES = 64 * 2**20


def _fmt(value) -> str:
  v = np.asarray(value)
  if v.ndim == 0 and np.issubdtype(v.dtype, np.floating):
    return f"{float(v):.6g}"
  return repr(value)


def _positive_int(config, path: str, value: Any):
  del config
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
    raise ValueError(f"config.{path} must be a positive integer, got {value!r}.")


def _is_number(value) -> bool:
  return (isinstance(value, (int, float, np.integer, np.floating)) and
          not isinstance(value, bool))


def check_agent_settings(agent) -> None:
  """Generic checks of `config.agent` by key name (before any agent code)."""
  for path in ("num_envs", "rollout_length"):
    _positive_int(None, f"agent.{path}", agent[path])
  for name in ("batch_size", "buffer_size", "num_minibatches", "num_epochs",
               "n_step", "policy_delay", "target_period"):
    if name in agent:
      _positive_int(None, f"agent.{name}", agent[name])
  for name in agent.keys():
    value = agent[name]
    if name.endswith("hidden_sizes"):
      sizes = tuple(value) if isinstance(value, (tuple, list)) else (value,)
      for size in sizes:
        if (not isinstance(size, (int, np.integer)) or isinstance(size, bool)
            or size < 1):
          raise ValueError(f"config.agent.{name} must be a tuple of positive "
                           f"integers, got {value!r}.")
    elif name == "torso_init" and value not in networks.TORSO_INITS:
      raise ValueError(f"config.agent.torso_init must be one of "
                       f"{networks.TORSO_INITS}, got {value!r}.")
    elif name.endswith("learning_rate") and _is_number(value) and value <= 0:
      raise ValueError(f"config.agent.{name} must be positive, got "
                       f"{_fmt(value)}.")
  if "batch_size" in agent and "buffer_size" in agent:
    if agent.batch_size > agent.buffer_size:
      raise ValueError(f"config.agent.batch_size={agent.batch_size} is larger "
                       f"than config.agent.buffer_size={agent.buffer_size}.")
  if "num_minibatches" in agent:
    samples = agent.num_envs * agent.rollout_length
    if samples % agent.num_minibatches:
      raise ValueError(
          f"config.agent.num_minibatches={agent.num_minibatches} must divide "
          f"num_envs * rollout_length = {agent.num_envs} * "
          f"{agent.rollout_length} = {samples}.")


def check_config(config) -> None:
  """Checks the run-level fields of a config and the agent's generic ones."""
  if "env" not in config or not isinstance(config.env, str):
    raise ValueError("config.env must name an environment, e.g. "
                     "'gymnax:CartPole-v1'.")
  envs_lib.check_name(config.env)
  for path in ("total_env_steps", "eval_every", "num_eval_episodes",
               "num_seeds"):
    if path in config:
      _positive_int(config, path, config[path])
  check_agent_settings(config.agent)


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
                      ("eval_every", eval_every)):
    _positive_int(None, path, value)
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


def check_hparams(agent_name: str, hparams) -> None:
  """Generic checks of traced hyperparameters, by naming convention."""
  for name, value in zip(type(hparams)._fields, hparams):
    v = np.asarray(value)
    if not np.all(np.isfinite(v)):
      raise ValueError(f"config.agent.{name} must be finite, got {_fmt(v)}.")
    if "learning_rate" in name and np.any(v <= 0):
      raise ValueError(f"config.agent.{name} must be positive, got {_fmt(v)} "
                       f"(agent {agent_name!r}).")
    if name in ("discount", "gae_lambda", "tau") and np.any((v < 0) | (v > 1)):
      raise ValueError(f"config.agent.{name} must lie in [0, 1], got "
                       f"{_fmt(v)}.")
    if (name.endswith("_coef") or name.endswith("epsilon")) and np.any(v < 0):
      raise ValueError(f"config.agent.{name} must be non-negative, got "
                       f"{_fmt(v)}.")


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
