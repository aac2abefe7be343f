"""Resuming a run: is the checkpoint in a workdir one of the same config?

`experiment.run` resumes from a workdir's checkpoint only when the config it
is given equals the one saved in `<workdir>/config.json`, up to the run-only
fields (checkpointing, logging, numerics checks), and otherwise refuses with
the differing fields named.
"""
import json
import os
from typing import List

from haikurl.checkpoint import CheckpointError

# Fields that may change between a run and its resumption.
RUN_ONLY_FIELDS = ("checkpoint_every", "wandb", "wandb_project",
                   "check_numerics", "debug_nans")


def _listify_to_tuples(value):
  if isinstance(value, list):
    return tuple(_listify_to_tuples(v) for v in value)
  if isinstance(value, dict):
    return {k: _listify_to_tuples(v) for k, v in value.items()}
  return value


def load_config(workdir: str):
  """The ConfigDict saved in `<workdir>/config.json` (lists back to tuples)."""
  from ml_collections import config_dict  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, "config.json")
  try:
    with open(path) as f:
      raw = json.load(f)
  except FileNotFoundError:
    raise CheckpointError(f"{path} not found: {workdir} is not a haikurl "
                          "run directory.") from None
  return config_dict.ConfigDict(_listify_to_tuples(raw))


def _normalized(tree):
  """JSON round trip: tuples become lists, as in config.json."""
  return json.loads(json.dumps(tree, sort_keys=True, default=str))


def _flatten(tree, prefix=""):
  out = {}
  for k, v in tree.items():
    name = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, name + "."))
    else:
      out[name] = v
  return out


def config_differences(saved: dict, config: dict) -> List[str]:
  """`field: saved -> new` for every field the two configs disagree on."""
  a = _flatten(_normalized(saved))
  b = _flatten(_normalized(config))
  diffs = []
  for name in sorted(set(a) | set(b)):
    if name.split(".")[0] in RUN_ONLY_FIELDS:
      continue
    if a.get(name, "<absent>") != b.get(name, "<absent>"):
      diffs.append(f"{name}: {a.get(name, '<absent>')!r} -> "
                   f"{b.get(name, '<absent>')!r}")
  return diffs


def check_same_config(workdir: str, config) -> None:
  """Raises CheckpointError unless `config` is the one `workdir` was run with."""
  path = os.path.join(workdir, "config.json")
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise CheckpointError(
        f"{workdir} holds a checkpoint but its config.json cannot be read "
        f"({e}); cannot tell whether it is the same run. Use a fresh "
        "workdir.") from e
  diffs = config_differences(saved, config.to_dict())
  if diffs:
    shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more"
                                    if len(diffs) > 8 else "")
    raise CheckpointError(
        f"{workdir} holds a checkpoint of a different config ({shown}). "
        "Resume with the same config, or use another --workdir.")
