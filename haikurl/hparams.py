"""A config's agent section -> (static settings, traced HParams).

Settings that fix shapes or control flow stay Python values closed over by
`make`; numbers that only enter arithmetic form the agent's `HParams`
NamedTuple of float32 scalars, which `train` receives as an argument and
which can therefore be vmapped over.
"""
from typing import Any, Tuple, Type

import jax.numpy as jnp
import numpy as np
from ml_collections import config_dict

# Keys of the agent section that are neither settings nor hyperparameters.
META_KEYS = ("name",)


def traced_keys(hparams_cls: Type) -> Tuple[str, ...]:
  return tuple(hparams_cls._fields)


def split(agent_config: config_dict.ConfigDict, hparams_cls: Type,
          **extra_settings) -> Tuple[config_dict.FrozenConfigDict, Any]:
  """Splits an agent config into static settings and default HParams.

  Args:
    agent_config: the `config.agent` section.
    hparams_cls: the agent's HParams NamedTuple class.
    **extra_settings: settings the loop adds (e.g. total_env_steps).

  Returns:
    (settings, hparams): a FrozenConfigDict of the static settings, and an
    HParams of float32 scalars with the config's values.
  """
  fields = traced_keys(hparams_cls)
  missing = [f for f in fields if f not in agent_config]
  if missing:
    raise ValueError(f"agent {agent_config.get('name')!r} needs the "
                     f"hyperparameters {missing} in config.agent.")
  values = agent_config.to_dict()
  settings = {k: v for k, v in values.items()
              if k not in fields and k not in META_KEYS}
  settings.update(extra_settings)
  hparams = hparams_cls(**{f: jnp.asarray(values[f], jnp.float32)
                           for f in fields})
  return config_dict.FrozenConfigDict(settings), hparams


def stack(hparams_list) -> Any:
  """Stacks a list of HParams into one HParams with a leading batch axis."""
  cls = type(hparams_list[0])
  return cls(*[jnp.asarray(np.stack([np.asarray(h[i]) for h in hparams_list]),
                           jnp.float32) for i in range(len(cls._fields))])


def broadcast(hparams, n: int) -> Any:
  """Repeats one HParams n times along a new leading axis."""
  return type(hparams)(*[jnp.full((n,), v, jnp.float32) for v in hparams])
