"""Traced hyperparameters: batches of HParams for vmapped members.

Settings that fix shapes or control flow stay Python values closed over by
`make` (the agent's `Settings`); numbers that only enter arithmetic form the
agent's `HParams` NamedTuple of float32 scalars, which `train` receives as
an argument and which can therefore be vmapped over (`haikurl.settings`
builds both from a config).
"""
from typing import Any, Tuple, Type

import jax.numpy as jnp
import numpy as np


def traced_keys(hparams_cls: Type) -> Tuple[str, ...]:
  return tuple(hparams_cls._fields)


def stack(hparams_list) -> Any:
  """Stacks a list of HParams into one HParams with a leading batch axis."""
  cls = type(hparams_list[0])
  return cls(*[jnp.asarray(np.stack([np.asarray(h[i]) for h in hparams_list]),
                           jnp.float32) for i in range(len(cls._fields))])


def broadcast(hparams, n: int) -> Any:
  """Repeats one HParams n times along a new leading axis."""
  return type(hparams)(*[jnp.full((n,), v, jnp.float32) for v in hparams])
