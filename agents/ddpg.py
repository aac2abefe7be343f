"""DDPG (Lillicrap et al., 2016) as TD3's module with TD3's three extras off.

One critic (no minimum of twins), no target policy smoothing and no delay:
the actor and the targets move on every critic step. This is Fujimoto's
"OurDDPG" (the DDPG baseline of the TD3 paper): Gaussian exploration noise,
Polyak targets, uniform random actions before `learning_starts`, no
batch norm and no weight decay. Metrics are TD3's (agents/td3.py).
"""
from typing import NamedTuple

import jax
from ml_collections import config_dict

from agents import td3
from haikurl.types import Agent, EnvSpec

State = td3.State

# The settings that turn TD3 into DDPG; a config may not set them otherwise.
DDPG_SETTINGS = dict(twin_critics=False, target_policy_smoothing=False,
                     policy_delay=1)


class HParams(NamedTuple):
  actor_learning_rate: jax.Array
  critic_learning_rate: jax.Array
  discount: jax.Array
  tau: jax.Array                # Polyak rate of the targets
  exploration_noise: jax.Array  # std of the Gaussian exploration noise


def _td3_settings(settings) -> config_dict.FrozenConfigDict:
  values = settings.to_dict() if hasattr(settings, "to_dict") else dict(settings)
  for name, value in DDPG_SETTINGS.items():
    if name in values and values[name] != value:
      raise ValueError(f"config.agent.{name}={values[name]!r} is not DDPG; "
                       f"use configs/td3.py for TD3's extras.")
  values.update(DDPG_SETTINGS)
  return config_dict.FrozenConfigDict(values)


def validate(settings, spec: EnvSpec) -> None:
  td3.check_continuous(spec)
  td3.validate(_td3_settings(settings), spec)


def make(settings, spec: EnvSpec) -> Agent:
  """DDPG's init, act and learn: td3.make with one critic, no smoothing, no
  delay (it never reads HParams' target-noise fields)."""
  return td3.make(_td3_settings(settings), spec)
