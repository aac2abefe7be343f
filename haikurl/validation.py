"""Checks run before anything is traced or compiled.

Every problem raises a ValueError with one line saying what to change; the
CLI prints it and exits with status 2.
"""
import math
from typing import Any

import numpy as np

from haikurl import envs as envs_lib


def _positive_int(config, path: str, value: Any):
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
    raise ValueError(f"config.{path} must be a positive integer, got {value!r}.")


def check_config(config) -> None:
  """Checks the run-level fields of a config (not the agent's own)."""
  envs_lib.check_name(config.env)
  for path in ("total_env_steps", "eval_every", "num_eval_episodes",
               "num_seeds"):
    if path in config:
      _positive_int(config, path, config[path])
  for path in ("num_envs", "rollout_length"):
    _positive_int(config, f"agent.{path}", config.agent[path])


def check_hparams(agent_name: str, hparams) -> None:
  """Generic checks of traced hyperparameters, by naming convention."""
  for name, value in zip(type(hparams)._fields, hparams):
    v = np.asarray(value)
    if not np.all(np.isfinite(v)):
      raise ValueError(f"config.agent.{name} must be finite, got {v}.")
    if "learning_rate" in name and np.any(v <= 0):
      raise ValueError(f"config.agent.{name} must be positive, got {v} "
                       f"(agent {agent_name!r}).")
    if name in ("discount", "gae_lambda", "tau") and np.any((v < 0) | (v > 1)):
      raise ValueError(f"config.agent.{name} must lie in [0, 1], got {v}.")
    if (name.endswith("_coef") or name.endswith("epsilon")) and np.any(v < 0):
      raise ValueError(f"config.agent.{name} must be non-negative, got {v}.")
