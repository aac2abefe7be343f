"""A2C (Mnih et al., 2016, synchronous): advantage actor-critic on PPO's core.

One gradient step per rollout of `num_envs` x `rollout_length` steps on
the plain policy gradient -mean(log pi(a|s) * A) + value_coef * 0.5 *
(V - R)^2 - entropy_coef * H, where the advantages come from PPO's
truncation-aware GAE (`ppo.gae`) with lambda 1 by default: plain n-step
returns R_t = r_t + gamma r_{t+1} + ... + gamma^k V(o_{t+k}) up to the end of
the rollout, stopped at a termination, bootstrapped from the true last
observation at a truncation. Discrete and continuous actions; RMSProp
(decay 0.99, eps 1e-5, as rlpyt and SB3) or Adam, global-norm clipping.

This module is PPO (agents/ppo.py) with one epoch of one minibatch,
no advantage normalisation and the `policy_loss` hook below; the networks
(separate actor and critic torsos, `torso` and image `augmentation` as
PPO's), the batch, the value loss, the entropy
bonus and the metrics are PPO's. The hook sees the ratio pi / pi_old, and
-mean(log(ratio) * A) has the gradient of -mean(log pi * A) for any
parameters (log pi_old is a constant): so `loss/policy` reads
-mean(log(pi / pi_old) * A), which is 0 at A2C's single step, while its
gradient is A2C's.

Metrics: PPO's (loss/total, loss/policy as above, loss/value,
loss/entropy, train/approx_kl and train/clip_fraction, both 0 at the single
step, train/learning_rate, train/gradient_steps).
"""
import dataclasses

import jax.numpy as jnp

from agents import ppo
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec

@dataclasses.dataclass(frozen=True)
class Settings(ppo.Settings):
  """A2C's static settings: PPO's, with A2C's defaults (configs/a2c.py)."""
  num_envs: int = s.setting(16, "environments stepped in parallel",
                            s.positive_int)
  rollout_length: int = s.setting(8, "env steps per env between updates "
                                  "(the n of the n-step returns)",
                                  s.positive_int)
  num_epochs: int = s.setting(
      1, "passes over each rollout (1: A2C; more reuse it off-policy)",
      s.positive_int)
  num_minibatches: int = s.setting(
      1, "minibatches per pass (1: A2C's one gradient step per rollout)",
      s.positive_int)
  normalize_advantages: bool = s.setting(
      False, "normalise advantages per batch (not in A2C)", s.boolean)
  optimizer: str = s.setting("rmsprop", "'rmsprop' or 'adam' (eps 1e-5)",
                             s.one_of(*optim.KINDS))


HParams = s.extend_hparams(
    ppo.HParams, defaults=dict(learning_rate=7e-4, gae_lambda=1.0,
                               entropy_coef=0.01, value_coef=0.5,
                               max_grad_norm=0.5))
State = ppo.State


def policy_gradient(ratio, advantage, hp):
  """A2C's policy loss -mean(log(pi / pi_old) * A): [N] -> [].

  Its gradient is that of -mean(log pi * A), the policy-gradient theorem's.
  """
  del hp
  return -jnp.mean(jnp.log(ratio) * advantage)


def make(settings: Settings, spec: EnvSpec, policy_loss=policy_gradient,
         advantage_fn=ppo.gae, value_loss=ppo.squared_value_loss) -> Agent:
  """PPO's agent with A2C's policy loss; hooks as `ppo.make`'s."""
  return ppo.make(settings, spec, policy_loss=policy_loss,
                  advantage_fn=advantage_fn, value_loss=value_loss)
