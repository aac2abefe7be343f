"""PPO with UPGO advantages on CartPole: a user config beside its agent.

    haikurl-train --config=config.py --workdir=runs/upgo
    haikurl-train --config=config.py --config.num_seeds=2 \
        --config.sweep.upgo_coef='(0.0, 0.5)' --workdir=runs/upgo-sweep

Every setting not listed takes PPO's default (agents/ppo.py), which is the
CartPole-v1 preset of configs/ppo.py.
"""
from ml_collections import config_dict


def get_config():
  c = config_dict.ConfigDict()
  c.env = "gymnax:CartPole-v1"
  c.agent = config_dict.ConfigDict(dict(name="upgo_ppo", upgo_coef=0.5))
  c.total_env_steps = 65_536
  c.eval_every = 8_192
  return c
