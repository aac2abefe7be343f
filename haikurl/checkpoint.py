"""Checkpoints of a run, and trained policies loaded back for inference.

A checkpoint holds a pytree of arrays (the whole batched `TrainState`: agent
state with its optimiser and replay buffer, env state, timestep, PRNG keys,
counters; plus the members' hyperparameters) and a JSON-able record of where
the host loop stood (period index, metric rows so far, timings).

Layout in `<workdir>/checkpoints/`:

  ckpt_000004.msgpack   the arrays and the record, msgpack (never pickle)
  ckpt_000004.json      sidecar: period, size and sha256 of the .msgpack

Each file is written to a temporary name, fsync-ed and renamed into place
(`os.replace`), the data file first and the sidecar last: a checkpoint
exists once its sidecar does. A crash at any point leaves the previous
checkpoint whole (the last `keep` are kept). On load, a data file whose
size or checksum disagrees with its sidecar raises `CheckpointError` naming
the file and what to do; nothing is deleted.

PRNG key arrays are stored as their raw `jax.random.key_data` together with
the key implementation's name and rewrapped on load, so typed keys round
trip. Arrays are restored against a template (`jax.eval_shape` of the
state's constructor): a checkpoint whose structure, shapes or dtypes differ
from the template is refused with the first difference named.

Related modules: `haikurl.policy` (trained policies loaded for inference),
`haikurl.resume` (is a workdir's checkpoint of the same config?),
`haikurl.interrupts` (Ctrl-C saves a checkpoint at the end of the period).
"""
import glob
import hashlib
import json
import os
import re
from typing import Any, List, NamedTuple, Optional

import jax
import numpy as np
from flax import serialization

FORMAT_VERSION = 1
DIRNAME = "checkpoints"
_NAME = re.compile(r"^ckpt_(\d+)\.json$")


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be used: corrupt, incomplete or mismatched."""


class Info(NamedTuple):
  """A checkpoint found in a workdir (from its sidecar only)."""
  period: int
  path: str      # the .msgpack data file
  sidecar: str   # the .json sidecar
  meta: dict     # the sidecar's contents


def directory(workdir: str) -> str:
  return os.path.join(workdir, DIRNAME)


def _paths(workdir: str, period: int):
  base = os.path.join(directory(workdir), f"ckpt_{period:06d}")
  return base + ".msgpack", base + ".json"


def _fsync_dir(path: str) -> None:
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write(path: str, data: bytes) -> None:
  """Writes `data` to `path` so that a reader sees the old file or the new."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _fsync_dir(os.path.dirname(os.path.abspath(path)))


def _is_key(x) -> bool:
  return jax.dtypes.issubdtype(getattr(x, "dtype", np.float32),
                               jax.dtypes.prng_key)


def _encode(tree) -> dict:
  """A pytree of arrays -> {"leaves": {...}, "keys": {...}} of numpy arrays."""
  leaves = jax.tree.leaves(tree)
  out, impls = {}, {}
  for i, leaf in enumerate(leaves):
    if _is_key(leaf):
      impls[str(i)] = str(jax.random.key_impl(leaf))
      leaf = jax.random.key_data(leaf)
    out[str(i)] = np.asarray(jax.device_get(leaf))
  return {"leaves": out, "key_impls": impls, "num_leaves": len(leaves),
          "treedef": str(jax.tree.structure(tree))}


def _describe(x) -> str:
  return f"{tuple(x.shape)} {x.dtype}"


def _decode(encoded: dict, template, path: str):
  """The inverse of `_encode`, checked leaf by leaf against `template`."""
  leaves, treedef = jax.tree.flatten(template)
  if encoded["num_leaves"] != len(leaves):
    raise CheckpointError(
        f"{path} holds {encoded['num_leaves']} arrays but this run's state has "
        f"{len(leaves)}: it was written by a different agent, config or "
        "haikurl version.")
  restored = []
  for i, want in enumerate(leaves):
    data = encoded["leaves"][str(i)]
    impl = encoded["key_impls"].get(str(i))
    if _is_key(want):
      if impl is None:
        raise CheckpointError(f"{path}: array {i} should be PRNG keys "
                              f"{_describe(want)}, found {_describe(data)}.")
      leaf = jax.random.wrap_key_data(np.asarray(data), impl=impl)
      if leaf.shape != want.shape or leaf.dtype != want.dtype:
        raise CheckpointError(f"{path}: PRNG keys {i} are {_describe(leaf)}, "
                              f"expected {_describe(want)}.")
    else:
      leaf = np.asarray(data)
      if leaf.shape != tuple(want.shape) or leaf.dtype != want.dtype:
        raise CheckpointError(
            f"{path}: array {i} is {_describe(leaf)}, this run expects "
            f"{_describe(want)} (a different config or agent?). Tree: "
            f"{jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(template)[0][i][0])}")
    restored.append(leaf)
  return jax.tree.unflatten(treedef, restored)


def save(workdir: str, period: int, arrays: Any, record: Optional[dict] = None,
         meta: Optional[dict] = None, keep: int = 2) -> str:
  """Saves checkpoint `period` of `workdir`; keeps the newest `keep`.

  Args:
    workdir: the run's directory; files go to `<workdir>/checkpoints/`.
    period: the number of evaluation periods done (names the checkpoint).
    arrays: a pytree of arrays (jax or numpy, PRNG keys allowed).
    record: JSON-able data saved with it (metric rows, timings...).
    meta: small JSON-able facts also written to the sidecar (num_members).
    keep: how many checkpoints to keep (at least 1).

  Returns:
    The path of the data file.
  """
  os.makedirs(directory(workdir), exist_ok=True)
  payload = {"version": FORMAT_VERSION, "period": int(period),
             "arrays": _encode(arrays),
             "record": json.dumps(record or {})}
  data = serialization.msgpack_serialize(payload)
  path, sidecar = _paths(workdir, period)
  atomic_write(path, data)
  meta = dict(meta or {})
  meta.update({"version": FORMAT_VERSION, "period": int(period),
               "file": os.path.basename(path), "bytes": len(data),
               "sha256": hashlib.sha256(data).hexdigest()})
  atomic_write(sidecar, json.dumps(meta, indent=2).encode())
  for old in list_checkpoints(workdir)[:-max(1, keep)]:
    for p in (old.sidecar, old.path):  # sidecar first: never a half pair
      try:
        os.remove(p)
      except FileNotFoundError:
        pass
  return path


def list_checkpoints(workdir: str) -> List[Info]:
  """The complete (sidecar written) checkpoints of `workdir`, oldest first.

  A sidecar that does not parse is reported as corrupt (CheckpointError).
  """
  found = []
  for sidecar in glob.glob(os.path.join(directory(workdir), "ckpt_*.json")):
    match = _NAME.match(os.path.basename(sidecar))
    if not match:
      continue
    try:
      with open(sidecar) as f:
        meta = json.load(f)
      period = int(meta["period"])
      path = os.path.join(directory(workdir), meta["file"])
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise CheckpointError(
          f"checkpoint sidecar {sidecar} is corrupt ({e}). Delete it to use an "
          "older checkpoint, or use a fresh workdir.") from e
    found.append(Info(period, path, sidecar, meta))
  return sorted(found, key=lambda info: info.period)


def latest(workdir: str) -> Optional[Info]:
  """The newest checkpoint of `workdir`, or None."""
  found = list_checkpoints(workdir)
  return found[-1] if found else None


def _corrupt(info: Info, workdir: str, why: str) -> CheckpointError:
  older = [c for c in list_checkpoints(workdir) if c.period < info.period]
  if older:
    advice = (f"Delete {info.path} and {info.sidecar} to resume from the "
              f"previous checkpoint (period {older[-1].period}), or use a "
              "fresh workdir.")
  else:
    advice = (f"Delete {directory(workdir)} to start over, or use a fresh "
              "workdir.")
  return CheckpointError(f"checkpoint {info.path} is corrupt or incomplete "
                         f"({why}); nothing was changed. {advice}")


def read(workdir: str, info: Optional[Info] = None):
  """Reads and verifies a checkpoint (the latest by default).

  Returns:
    (info, payload): payload's "arrays" still encoded; see `restore`.
  """
  info = info or latest(workdir)
  if info is None:
    raise CheckpointError(f"no checkpoint in {directory(workdir)}.")
  try:
    with open(info.path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise _corrupt(info, workdir, f"cannot read it: {e}") from e
  if len(data) != info.meta.get("bytes"):
    raise _corrupt(info, workdir, f"{len(data)} bytes, the sidecar says "
                   f"{info.meta.get('bytes')}")
  if hashlib.sha256(data).hexdigest() != info.meta.get("sha256"):
    raise _corrupt(info, workdir, "sha256 differs from the sidecar's")
  try:
    payload = serialization.msgpack_restore(data)
  except Exception as e:  # pylint: disable=broad-except
    raise _corrupt(info, workdir, f"does not decode: {e}") from e
  if payload.get("version") != FORMAT_VERSION:
    raise CheckpointError(f"{info.path} has format version "
                          f"{payload.get('version')}; this haikurl reads "
                          f"version {FORMAT_VERSION}.")
  return info, payload


def restore(workdir: str, template: Any, info: Optional[Info] = None):
  """Restores the latest (or the given) checkpoint against `template`.

  Args:
    workdir: the run's directory.
    template: a pytree with the structure, shapes and dtypes expected
      (arrays or `jax.ShapeDtypeStruct`s, e.g. from `jax.eval_shape`).
    info: a particular checkpoint (from `list_checkpoints`).

  Returns:
    (period, arrays, record): arrays as numpy (PRNG keys as jax key arrays).
  """
  info, payload = read(workdir, info)
  arrays = _decode(payload["arrays"], template, info.path)
  return info.period, arrays, json.loads(payload["record"])
