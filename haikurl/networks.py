"""Haiku networks: torsos and heads returning named outputs.

Every function here builds Haiku modules and must run inside
`hk.transform`; agents transform them once in `make`. Heads return
NamedTuples so losses pick fields by name. Haiku stays inside this module
and the agents' network functions.
"""
from typing import Callable, NamedTuple, Sequence

import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


def orthogonal(scale: float) -> hk.initializers.Initializer:
  return hk.initializers.Orthogonal(scale)


class CategoricalPolicy(NamedTuple):
  logits: jax.Array  # [B, A]


class GaussianPolicy(NamedTuple):
  mean: jax.Array     # [B, D]
  log_std: jax.Array  # [B, D]


class Value(NamedTuple):
  value: jax.Array  # [B]


class QValues(NamedTuple):
  q_values: jax.Array  # [B, A]


def mlp(hidden_sizes: Sequence[int], act: str = "tanh",
        activate_final: bool = True, name: str = "mlp") -> hk.Module:
  """An MLP with orthogonal(sqrt 2) weights, as in PPO implementations."""
  return hk.nets.MLP(list(hidden_sizes), w_init=orthogonal(np.sqrt(2.0)),
                     activation=activation(act), activate_final=activate_final,
                     name=name)


def minatar_cnn(x: jax.Array, act: str = "relu") -> jax.Array:
  """A 3x3 conv with 16 channels, flattened: the MinAtar paper's torso."""
  x = hk.Conv2D(16, kernel_shape=3, stride=1, padding="VALID",
                w_init=orthogonal(np.sqrt(2.0)))(x)
  return hk.Flatten()(activation(act)(x))


def torso(obs: jax.Array, hidden_sizes: Sequence[int], act: str,
          name: str) -> jax.Array:
  """Flat observations go to an MLP; images [B, H, W, C] first to a CNN."""
  with hk.experimental.name_scope(name):
    x = obs
    if x.ndim == 4:
      x = minatar_cnn(x, act)
    else:
      x = x.reshape(x.shape[0], -1)
    return mlp(hidden_sizes, act)(x)


def categorical_head(x: jax.Array, num_actions: int) -> CategoricalPolicy:
  logits = hk.Linear(num_actions, w_init=orthogonal(0.01), name="logits")(x)
  return CategoricalPolicy(logits)


def gaussian_head(x: jax.Array, action_dim: int,
                  state_dependent_std: bool = False,
                  init_log_std: float = 0.0) -> GaussianPolicy:
  """A diagonal Gaussian; by default its log-std is a learned constant."""
  mean = hk.Linear(action_dim, w_init=orthogonal(0.01), name="mean")(x)
  if state_dependent_std:
    log_std = hk.Linear(action_dim, w_init=orthogonal(0.01), name="log_std")(x)
    log_std = log_std + init_log_std
  else:
    log_std = hk.get_parameter("log_std", (action_dim,), jnp.float32,
                               hk.initializers.Constant(init_log_std))
    log_std = jnp.broadcast_to(log_std, mean.shape)
  return GaussianPolicy(mean, log_std)


def value_head(x: jax.Array) -> Value:
  return Value(hk.Linear(1, w_init=orthogonal(1.0), name="value")(x)[..., 0])


def distribution(policy) -> distrax.Distribution:
  """The distrax action distribution of a policy head's output."""
  if isinstance(policy, CategoricalPolicy):
    return distrax.Categorical(logits=policy.logits)
  return distrax.MultivariateNormalDiag(policy.mean, jnp.exp(policy.log_std))


def greedy_action(policy) -> jax.Array:
  """The mode: argmax of logits, or the Gaussian's mean."""
  if isinstance(policy, CategoricalPolicy):
    return jnp.argmax(policy.logits, axis=-1)
  return policy.mean
