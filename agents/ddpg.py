"""DDPG (Lillicrap et al., 2016) as TD3's module with TD3's three extras off.

One critic (no minimum of twins), no target policy smoothing and no delay:
the actor and the targets move on every critic step. This is Fujimoto's
"OurDDPG" (the DDPG baseline of the TD3 paper): Gaussian exploration noise,
Polyak targets, uniform random actions before `learning_starts`, no
batch norm and no weight decay. Metrics are TD3's (agents/td3.py).
"""
import dataclasses

from agents import td3
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec

State = td3.State
validate = td3.validate

# What turns TD3 into DDPG; DDPG's Settings have no such fields.
DDPG_SETTINGS = dict(twin_critics=False, target_policy_smoothing=False,
                     policy_delay=1)


# TD3's settings without its three extras, TD3's hyperparameters without
# the target-smoothing noise.
Settings = td3.DeterministicSettings
HParams = s.extend_hparams(td3.HParams, "HParams", keep=(
    "actor_learning_rate", "critic_learning_rate", "discount", "tau",
    "exploration_noise"))


def td3_settings(settings: Settings) -> td3.Settings:
  """The TD3 settings DDPG is: the same, with TD3's three extras off."""
  return td3.Settings(**dataclasses.asdict(settings), **DDPG_SETTINGS)


def make(settings: Settings, spec: EnvSpec) -> Agent:
  """DDPG's init, act and learn: td3.make with one critic, no smoothing, no
  delay (it never reads HParams' target-noise fields)."""
  return td3.make(td3_settings(settings), spec)
