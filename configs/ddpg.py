"""DDPG presets: `get_config("<preset>")`, e.g. `--config=configs/ddpg.py:Pendulum-v1`.

DDPG as the baseline of Fujimoto et al. (2018) ("OurDDPG": one critic, no
target smoothing, no delay; agents/ddpg.py), with TD3's presets
(configs/td3.py): rl-zoo3's tuned settings for Pendulum-v1 and
MountainCarContinuous-v0, the brax presets with inverted_pendulum on brax's
generalized backend.
"""
from configs import td3

PRESETS = td3.PRESETS


def get_config(preset: str = "Pendulum-v1"):
  """Returns the locked config of `preset` (one of PRESETS)."""
  return td3.build("ddpg", "ddpg.py", PRESETS, preset)
