"""Munchausen DQN on CartPole: a user config that sets only what it changes.

    haikurl-train --config=config.py --workdir=runs/mdqn
    haikurl-train --config=config.py --config.num_seeds=2 \
        --config.sweep.alpha='(0.0, 0.9)' --workdir=runs/mdqn-sweep

`agent.name` is the module path of mdqn.py, found beside this file; every
setting not listed takes DQN's default (agents/dqn.py), and the run's
length takes haikurl's (haikurl.settings.RUN_DEFAULTS).
"""
from ml_collections import config_dict


def get_config():
  c = config_dict.ConfigDict()
  c.env = "gymnax:CartPole-v1"
  c.agent = config_dict.ConfigDict(dict(
      name="mdqn", learning_rate=1e-3, alpha=0.9))
  return c
