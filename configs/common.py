"""Run-level settings every config file shares. Imports ml_collections only."""
from ml_collections import config_dict


def add_run_settings(c: config_dict.ConfigDict) -> config_dict.ConfigDict:
  """Adds seeds, checkpointing, logging and sweep fields to a config whose
  `agent` section is complete (the sweep declares every agent key)."""
  c.num_seeds = 1
  c.seed = 0
  # >= 0: rerun only member i of this config's batch (its seed and sweep
  # setting), bitwise as in the whole batch; -1: every member.
  c.member = -1
  # Run-only settings (may change when a run is resumed).
  c.checkpoint_every = 0        # periods between checkpoints; 0: only at the end
  c.wandb = False               # also log to Weights & Biases (needs wandb)
  # Sweep (haikurl/sweep.py): every agent key declared, () = not swept; only
  # traced ones may be given, e.g. --config.sweep.learning_rate='(1e-3, 3e-4)'.
  c.sweep = config_dict.ConfigDict(dict(
      method="grid", num_samples=0,
      **{k: () for k in c.agent.keys() if k != "name"}))
  c.chunk_size = 0              # members per jitted call; 0: all, -1: auto
  return c
