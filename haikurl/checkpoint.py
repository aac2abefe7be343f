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

    haikurl.load_policy(workdir)            # act(obs, key) of every member
    haikurl.load_policy(workdir, member=2)  # one member's act(obs, key)
"""
import glob
import hashlib
import json
import os
import re
import signal
import sys
import threading
from typing import Any, Callable, List, NamedTuple, Optional

import jax
import jax.numpy as jnp
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


# ---------------------------------------------------------------------------
# Trained policies.


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


def observation_normalizer(env, env_state) -> Callable:
  """obs -> obs as the env's wrappers transform it, with frozen statistics.

  Walks the wrapper chain: each `NormalizeObservation` applies its running
  statistics read from `env_state` (unbatched over members); other wrappers
  are assumed to keep their inner env's state unchanged.
  """
  from haikurl.envs import base  # pylint: disable=g-import-not-at-top
  from haikurl.envs import wrappers  # pylint: disable=g-import-not-at-top
  if isinstance(env, wrappers.NormalizeObservation):
    inner = observation_normalizer(env.env, env_state.inner)
    stats, clip = env_state.stats, env.clip
    return lambda obs: wrappers.normalize(stats, inner(obs), clip)
  if isinstance(env, base.Wrapper):
    return observation_normalizer(env.env, env_state)
  return lambda obs: obs


def state_template(train, num_members: int):
  """Abstract (TrainState, HParams) of a run of `num_members` members."""
  keys = jax.random.split(jax.random.key(0), num_members)
  hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_members,) + jnp.shape(x)),
                    train.default_hparams)
  state = jax.eval_shape(jax.vmap(train.init), keys, hp)
  return {"state": state, "hparams": jax.eval_shape(lambda h: h, hp)}


def load_policy(workdir: str, member: Optional[int] = None, agent: Any = None,
                period: Optional[int] = None) -> Callable:
  """A trained policy of a run, ready for inference.

  Args:
    workdir: a run directory written by `haikurl-train` / `experiment.run`.
    member: one member (seed x hyperparameters) of the run; None for all.
    agent: the agent module, if not registered under `config.agent.name`.
    period: a particular checkpoint (default: the latest).

  Returns:
    A jittable `act(obs, key) -> action` taking greedy actions (evaluation
    mode). For one member, `obs` is one observation `[*obs_shape]` or a batch
    `[B, *obs_shape]`; for all members it carries a leading member axis
    `[M, ...]`. Raw environment observations go in: observation
    normalisation statistics saved with the run are applied first. The
    function has attributes `num_members`, `member`, `spec`, `config` and
    `agent_state` (the restored parameters).
  """
  from haikurl.loop import make_train  # pylint: disable=g-import-not-at-top
  config = load_config(workdir)
  train = make_train(config, agent=agent, callbacks={})
  found = list_checkpoints(workdir)
  if not found:
    raise CheckpointError(f"no checkpoint in {directory(workdir)}.")
  info = found[-1]
  if period is not None:
    chosen = [c for c in found if c.period == period]
    if not chosen:
      raise CheckpointError(f"no checkpoint of period {period} in "
                            f"{directory(workdir)}; there are "
                            f"{[c.period for c in found]}.")
    info = chosen[0]
  num_members = int(info.meta.get("num_members", 0)) or None
  if num_members is None:
    raise CheckpointError(f"{info.sidecar} does not say how many members the "
                          "run has.")
  _, arrays, _ = restore(workdir, state_template(train, num_members), info)
  state, hparams = arrays["state"], arrays["hparams"]
  spec, agent_triple, env = train.env.spec, train.agent, train.env
  obs_rank = len(spec.obs_shape)

  def member_act(agent_state, env_state, hp, obs, key):
    obs = jnp.asarray(obs, jnp.float32)
    single = obs.ndim == obs_rank
    if single:
      obs = obs[None]
    obs = observation_normalizer(env, env_state)(obs)
    action, _ = agent_triple.act(agent_state, obs, key, hp, True)
    return action[0] if single else action

  state = jax.device_put(state)
  hparams = jax.device_put(hparams)
  if member is not None:
    if not 0 <= member < num_members:
      raise ValueError(f"member={member} out of range: the run in {workdir} "
                       f"has {num_members} member(s).")
    pick = lambda x: x[member]
    agent_state = jax.tree.map(pick, state.agent_state)
    env_state = jax.tree.map(pick, state.env_state)
    hp = jax.tree.map(pick, hparams)

    def act(obs, key):
      return member_act(agent_state, env_state, hp, obs, key)
  else:
    agent_state, env_state, hp = state.agent_state, state.env_state, hparams

    def act(obs, key):
      keys = jax.random.split(key, num_members)
      return jax.vmap(member_act)(agent_state, env_state, hp, obs, keys)

  act.num_members = num_members
  act.member = member
  act.spec = spec
  act.config = config
  act.agent_state = agent_state
  return act


# ---------------------------------------------------------------------------
# Resuming a run: same config, Ctrl-C.

# Fields that may change between a run and its resumption.
RUN_ONLY_FIELDS = ("checkpoint_every", "wandb", "wandb_project",
                   "check_numerics", "debug_nans")


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


class InterruptGuard:
  """While active, SIGINT (Ctrl-C) only sets `.requested`; a second SIGINT
  raises KeyboardInterrupt at once. Only in the main thread; a no-op
  elsewhere."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def _handler(self, signum, frame):
    del frame
    if self.requested:
      signal.signal(signum, self._previous or signal.default_int_handler)
      raise KeyboardInterrupt
    self.requested = True
    print("haikurl: interrupted; saving a checkpoint after this period "
          "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGINT, self._handler)
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGINT, self._previous)
      self._previous = None
    return False


class Interrupted(KeyboardInterrupt):
  """Raised by `experiment.run` after Ctrl-C, once a checkpoint is saved."""

  def __init__(self, workdir: str, period: int, num_periods: int):
    super().__init__(f"interrupted after period {period}/{num_periods}; "
                     f"checkpoint saved in {directory(workdir)}. Run the same "
                     "command again to resume.")
    self.workdir = workdir
    self.period = period
    self.num_periods = num_periods
