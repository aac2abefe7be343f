"""Runs a batch of members as one program: vmap, a device mesh, chunks, hosts.

    runner = batch.Runner(train, members, chunk_size=config.chunk_size)
    state = runner.init()
    for _ in range(train.num_evals):
      state, metrics = runner.period(state)      # metrics: numpy [M]

* **Devices.** The member axis of `vmap(train.init)` and `vmap(train.period)`
  is sharded over a `jax.sharding.Mesh(np.array(jax.devices()), ("members",))`
  (Auto axes: `jax.make_mesh`'s default Explicit axes break `jit(vmap(scan))`)
  through `jit`'s in/out shardings. The batch is padded to a multiple of the
  device count (and to `min_batch`) by repeating the last member; padded
  members are dropped from every output but the state.
* **Data parallel.** With `config.data_parallel=N` (`Train.data_parallel`),
  the mesh is 2-D, `("members", "data")` of shape (devices // N, N): each
  member's environments and gradient batch are split over a row of N
  devices (`haikurl.loop`, `shard_map` over "data"), and members are
  sharded over the rows (padded to a multiple of the row count).
* **Chunks.** `chunk_size=0` trains all members at once and keeps their
  state on the devices. `chunk_size=N` trains N members (rounded up to a
  multiple of the device count) at a time, period by period: the states of
  all members wait in host memory between periods, so device memory holds
  one chunk. `chunk_size=-1` works the size out from the device's memory
  (`memory_stats()['bytes_limit']` against the compiled period's footprint);
  devices that report no memory (the CPU) take all members at once.
* **Layout does not change results.** Each member's computation is the same
  function of its own (key, hparams) whatever the batch, chunk or mesh;
  member i equals the solo run `train(keys[i], hparams[i])` to float
  tolerance (XLA vectorises a batch of 1 differently from a batch of 2+;
  batches of 2 or more agree bitwise on the CPU, hence `min_batch=2` for a
  rerun of one member).
* **Hosts.** With `HAIKURL_DISTRIBUTED=1` in the environment,
  `initialize_distributed()` (`haikurl.distributed`) calls
  `jax.distributed.initialize()` (`haikurl-train` calls it before loading
  the config; scripts call it before importing the rest of haikurl, whose
  envs start JAX's backend; `experiment.run` calls it too, a no-op once
  done); the mesh then spans the devices of every process, each process
  builds the same members deterministically, feeds the shards its devices
  own (`jax.make_array_from_callback`), and gathers the metrics of all
  members (`multihost_utils.process_allgather`). `gather` brings a state
  sharded over processes whole onto every process (to save it) and `place`
  lays a whole one out again (to resume). On managed clusters (SLURM,
  Cloud TPU, ...) JAX detects the rest; elsewhere set
  `JAX_COORDINATOR_ADDRESS` (host:port of process 0),
  `HAIKURL_NUM_PROCESSES` and `HAIKURL_PROCESS_ID`. On CPUs the
  cross-process collectives use gloo. E.g. two processes on one machine,
  one workdir (only process 0 writes it, every process reads its
  checkpoint: a multi-machine run needs it on a shared file system):

      export HAIKURL_DISTRIBUTED=1 JAX_COORDINATOR_ADDRESS=localhost:12355
      export HAIKURL_NUM_PROCESSES=2
      HAIKURL_PROCESS_ID=0 haikurl-train --config=... --workdir=runs/a &
      HAIKURL_PROCESS_ID=1 haikurl-train --config=... --workdir=runs/a
"""
import dataclasses
import functools
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from haikurl import loop
from haikurl.distributed import initialize_distributed  # pylint: disable=unused-import

AXIS = "members"


def make_mesh(devices: Optional[Sequence[Any]] = None,
              data_parallel: int = 1) -> Mesh:
  """A mesh over `devices` (default: all devices of all processes).

  With `data_parallel=1` a 1-D mesh over the members axis; with N > 1 the
  2-D mesh ("members", loop.DATA_AXIS) of shape (len(devices) // N, N)
  (devices beyond a multiple of N are left out; a row is N consecutive
  devices, within one process where N divides its device count).
  """
  devices = jax.devices() if devices is None else list(devices)
  if data_parallel == 1:
    return Mesh(np.array(devices), (AXIS,))
  if len(devices) < data_parallel:
    raise ValueError(f"config.data_parallel={data_parallel} needs "
                     f"{data_parallel} devices, found {len(devices)}.")
  rows = len(devices) // data_parallel
  grid = np.array(devices[:rows * data_parallel]).reshape(rows, data_parallel)
  return Mesh(grid, (AXIS, loop.DATA_AXIS))


def _is_key(x) -> bool:
  return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_host(tree) -> Any:
  """A (possibly sharded, multi-process) pytree -> numpy; keys -> key data."""
  def one(x):
    if _is_key(x):
      x = jax.random.key_data(x)
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))
  return jax.tree.map(one, tree)


def _per_leaf(sharding, tree):
  """`sharding` (one Sharding, or a tree prefix of `tree` with Sharding
  leaves) as a full tree over `tree`'s structure."""
  is_sharding = lambda x: isinstance(x, jax.sharding.Sharding)
  if is_sharding(sharding):
    return jax.tree.map(lambda _: sharding, tree)
  return jax.tree.map(lambda s, sub: jax.tree.map(lambda _: s, sub),
                      sharding, tree, is_leaf=is_sharding)


def from_host(tree, sharding, like) -> Any:
  """numpy pytree -> global arrays with `sharding` (one, or a tree prefix of
  shardings); key data -> keys as in `like` (a pytree of arrays or
  ShapeDtypeStructs of the same structure)."""
  def one(x, sharding, ref):
    x = np.asarray(x)
    out = jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])
    if _is_key(ref):
      out = jax.random.wrap_key_data(out, impl=ref.dtype._impl)  # pylint: disable=protected-access
    return out
  return jax.tree.map(one, tree, _per_leaf(sharding, like), like)


def _sharded_over_processes(x) -> bool:
  return isinstance(x, jax.Array) and not x.is_fully_addressable


def gather(tree) -> Any:
  """`tree` with every leaf whole on this process.

  Arrays sharded over several processes are all-gathered in one collective
  (every process must call this, at the same point of the program), PRNG
  keys staying keys; other leaves (numpy, arrays on this process's devices)
  are returned as they are, so a single-process tree comes back untouched.
  """
  leaves, treedef = jax.tree.flatten(tree)
  index = [i for i, x in enumerate(leaves) if _sharded_over_processes(x)]
  if not index:
    return tree
  data = [jax.random.key_data(leaves[i]) if _is_key(leaves[i]) else leaves[i]
          for i in index]
  whole = multihost_utils.process_allgather(data, tiled=True)
  leaves = list(leaves)
  for i, x in zip(index, whole):
    x = np.asarray(x)
    if _is_key(leaves[i]):
      x = jax.random.wrap_key_data(x, impl=jax.random.key_impl(leaves[i]))
    leaves[i] = x
  return jax.tree.unflatten(treedef, leaves)


def place(tree, like) -> Any:
  """Whole values (numpy, or PRNG keys on this process) laid out as `like`.

  A leaf of `like` sharded over several processes gets the same sharding,
  each process building the shards its devices own from its whole copy (so
  every process must hold the same values: e.g. each read the same
  checkpoint); other leaves are `jax.device_put` on `like`'s sharding (none
  for host leaves: the default device), as a single-process run does.
  """
  def one(x, ref):
    if not _sharded_over_processes(ref):
      return jax.device_put(x, getattr(ref, "sharding", None))
    key = _is_key(ref)
    data = np.asarray(jax.random.key_data(x) if key else x)
    out = jax.make_array_from_callback(data.shape, ref.sharding,
                                       lambda i: data[i])
    if key:
      out = jax.random.wrap_key_data(out, impl=jax.random.key_impl(ref))
    return out
  return jax.tree.map(one, tree, like)


def all_processes(value) -> np.ndarray:
  """`value` (a small array) of every process, stacked: [processes, ...].

  A collective: every process of a multi-process run must call it at the
  same point of the program.
  """
  return np.asarray(multihost_utils.process_allgather(np.asarray(value)))


def _members_init(init):
  """`init` over the members one at a time (`lax.map`), not vmapped: the
  members' parameters are the same bits, and a batched QR (orthogonal
  initialisers) never reaches jaxlib's LAPACK batch loop, which was seen to
  deadlock on XLA:CPU's thread pool (IQL on Pendulum, 2 members, 256-unit
  layers: the run hung with every worker idle)."""
  return lambda keys, hp: jax.lax.map(lambda a: init(*a), (keys, hp))


def _host_slice(tree, start: int, stop: int):
  return jax.tree.map(lambda x: x[start:stop], tree)


class Runner:
  """Trains `members` period by period (see the module docstring)."""

  def __init__(self, train, members, chunk_size: int = 0,
               mesh: Optional[Mesh] = None, min_batch: int = 1):
    """Builds the jitted programs of `train` over `members`.

    Args:
      train: a `haikurl.loop.Train`.
      members: the `haikurl.sweep.Members` to train.
      chunk_size: members per jitted call (see the module docstring).
      mesh: the device mesh (default: every device).
      min_batch: pad every call to at least this many members (repeating
        the last). XLA compiles a batch of 1 differently from a batch of 2 or
        more, whose members are bitwise the same whatever the batch size;
        `min_batch=2` makes a rerun of one member bitwise its original.
    """
    self.data_parallel = int(getattr(train, "data_parallel", 1))
    self.mesh = (make_mesh(data_parallel=self.data_parallel) if mesh is None
                 else mesh)
    if self.data_parallel > 1:
      # The members' programs split each member over the mesh's data axis.
      if self.mesh.shape.get(loop.DATA_AXIS) != self.data_parallel:
        raise ValueError(
            f"config.data_parallel={self.data_parallel} needs a mesh with a "
            f"{loop.DATA_AXIS!r} axis of that size, got {dict(self.mesh.shape)}.")
      train = dataclasses.replace(train, mesh=self.mesh)
    self.train = train
    self.members = members
    self.num_devices = int(self.mesh.devices.size)
    # Devices the member axis is sharded over (a row of the mesh holds one
    # data-parallel member).
    self.member_shards = int(self.mesh.shape[AXIS])
    self.sharding = NamedSharding(self.mesh, PartitionSpec(AXIS))
    # The members' TrainState: data parallel, the environments' rows stay
    # split over the data axis between periods (a prefix tree of shardings).
    self.state_sharding = self.sharding
    if self.data_parallel > 1:
      specs = train.state_specs()
      self.state_sharding = type(specs)(*[
          NamedSharding(self.mesh, PartitionSpec(AXIS, *spec))
          for spec in specs])
    self.num_members = members.size
    # The member inputs, on the host: keys as key data.
    self._key_like = members.keys
    options = loop.compiler_options(self.mesh.devices.flat[0].platform)
    # Data parallel: the vmapped member axis lies over the mesh's member
    # axis inside each member's shard_map over the data axis.
    vmap = functools.partial(
        jax.vmap, spmd_axis_name=AXIS if self.data_parallel > 1 else None)
    init = (vmap(train.init) if self.data_parallel > 1
            else _members_init(train.init))
    self._init = jax.jit(init, in_shardings=self.sharding,
                         out_shardings=self.state_sharding,
                         compiler_options=options)
    self._period = jax.jit(vmap(train.period),
                           in_shardings=(self.state_sharding, self.sharding),
                           out_shardings=(self.state_sharding, self.sharding),
                           donate_argnums=0,
                           compiler_options=options)
    if chunk_size is None:
      chunk_size = 0
    chunk_size = int(chunk_size)
    if chunk_size < 0:
      chunk_size = self.auto_chunk_size()
    self.chunk_size = self._round(max(int(min_batch), (
        chunk_size if 0 < chunk_size < self.num_members else
        self.num_members)))
    self.num_chunks = math.ceil(self.num_members / self.chunk_size)
    self.padded_size = self.num_chunks * self.chunk_size
    index = np.minimum(np.arange(self.padded_size), self.num_members - 1)
    padded = members.select(index)
    self._keys = to_host(padded.keys)
    self._hparams = to_host(padded.hparams)
    self._state_like = None
    self._compiled = None
    self._hp_device = None

  @property
  def chunked(self) -> bool:
    return self.num_chunks > 1

  def _round(self, n: int) -> int:
    """`n` rounded up to a multiple of the member axis's device count."""
    return max(1, math.ceil(n / self.member_shards)) * self.member_shards

  def _inputs(self, start: int, stop: int):
    keys = from_host(self._keys[start:stop], self.sharding, self._key_like)
    hp = from_host(_host_slice(self._hparams, start, stop), self.sharding,
                   self.members.hparams)
    return keys, hp

  def _chunks(self):
    for c in range(self.num_chunks):
      yield c * self.chunk_size, (c + 1) * self.chunk_size

  def auto_chunk_size(self) -> int:
    """Members per chunk that fit in 80% of a device's memory (0: all)."""
    stats = [d.memory_stats() for d in self.mesh.devices.flat
             if d.process_index == jax.process_index()]
    limits = [s.get("bytes_limit") for s in stats if s]
    if not limits or not all(limits):
      return 0
    probe = self._round(1)
    index = np.minimum(np.arange(probe), self.num_members - 1)
    small = self.members.select(index)
    keys = from_host(to_host(small.keys), self.sharding, self._key_like)
    hp = from_host(to_host(small.hparams), self.sharding,
                   self.members.hparams)
    state = jax.eval_shape(self._init, keys, hp)
    analysis = self._period.lower(state, hp).compile().memory_analysis()
    used = sum(getattr(analysis, f, 0) or 0 for f in (
        "argument_size_in_bytes", "output_size_in_bytes",
        "temp_size_in_bytes"))
    per_member_per_device = max(used, 1) / (probe / self.member_shards)
    fit = int(0.8 * min(limits) / per_member_per_device) * self.member_shards
    return 0 if fit >= self.num_members else max(fit, self.member_shards)

  def init(self):
    """The members' initial state: on the devices, or on the host if chunked."""
    if not self.chunked:
      return self._init(*self._inputs(0, self.padded_size))
    parts = []
    for start, stop in self._chunks():
      state = self._init(*self._inputs(start, stop))
      if self._state_like is None:
        self._state_like = jax.eval_shape(lambda s: s, state)
      parts.append(to_host(state))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)

  def compile(self, state) -> None:
    """Compiles the period ahead of time (so its time can be measured)."""
    start, stop = 0, self.chunk_size
    hp = from_host(_host_slice(self._hparams, start, stop), self.sharding,
                   self.members.hparams)
    if self.chunked:
      like = self._state_like
    else:
      like = state
    self._compiled = self._period.lower(like, hp).compile()

  def period(self, state):
    """One evaluation period of every member.

    Returns:
      (state, metrics): metrics as numpy arrays [num_members] (padding
      dropped), gathered from every device and process.
    """
    period = self._compiled or self._period
    if not self.chunked:
      if self._hp_device is None:
        self._hp_device = from_host(self._hparams, self.sharding,
                                    self.members.hparams)
      state, metrics = period(state, self._hp_device)
      return state, self._trim(to_host(metrics))
    # Host buffers, updated in place chunk by chunk (a restored checkpoint
    # may hand device arrays).
    state = jax.tree.map(
        lambda x: x if isinstance(x, np.ndarray) and x.flags.writeable
        else np.array(x), state)
    parts = []
    for start, stop in self._chunks():
      hp = from_host(_host_slice(self._hparams, start, stop), self.sharding,
                     self.members.hparams)
      chunk = from_host(_host_slice(state, start, stop), self.state_sharding,
                        self._state_like)
      chunk, metrics = period(chunk, hp)
      chunk = to_host(chunk)
      for buffer, value in zip(jax.tree.leaves(state), jax.tree.leaves(chunk)):
        buffer[start:stop] = value
      parts.append(to_host(metrics))
    metrics = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    return state, self._trim(metrics)

  def _trim(self, tree):
    return jax.tree.map(lambda x: x[:self.num_members], tree)

  def host_state(self, state):
    """The members' state as numpy [num_members] (keys as key data)."""
    return self._trim(state if self.chunked else to_host(state))
