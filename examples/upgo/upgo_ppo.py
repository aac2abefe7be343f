"""PPO with an upgoing advantage (UPGO, Vinyals et al. 2019) mixed into GAE,
as a user's own agent module: a new advantage through PPO's `advantage_fn`
hook, with its own traced coefficient.

The upgoing return follows the trajectory while it does better than the
value estimate and bootstraps from the value where it does not:

    G_t = r_t + discount_t * max(G_{t+1}, v_t)   (v_t: the value of s_{t+1})

cut at episode ends (termination: discount_t = 0; truncation: G_t = r_t +
discount_t * v_t, the true last observation's value). The advantage is

    A_t = (1 - upgo_coef) * GAE_t + upgo_coef * (G_t - v_tm1)

so upgo_coef = 0 is PPO. Sweep it from the CLI:
`--config.sweep.upgo_coef='(0.0, 0.5)'`.
"""
import jax
import jax.numpy as jnp

from agents import ppo
from haikurl import settings

Settings = ppo.Settings
HParams = settings.extend_hparams(
    ppo.HParams, "UpgoHParams", checks={"upgo_coef": settings.unit_interval},
    upgo_coef=0.5)


def upgo_returns(inputs: ppo.AdvantageInputs) -> jax.Array:
  """[T, B] upgoing returns (see the module docstring), a reverse scan."""
  def step(g_next, x):
    r_t, discount_t, truncated_t, v_t = x
    # At a truncation the episode's own continuation is v_t; the next
    # row's G belongs to the next episode.
    follow = jnp.where(truncated_t, v_t, jnp.maximum(g_next, v_t))
    g = r_t + discount_t * follow
    return g, g
  # Beyond the rollout, bootstrap from the value of the last observation.
  _, g = jax.lax.scan(step, inputs.v_t[-1],
                      (inputs.r_t, inputs.discount_t, inputs.truncated_t,
                       inputs.v_t), reverse=True)
  return g


def upgo_advantage(inputs: ppo.AdvantageInputs, hp) -> jax.Array:
  gae = ppo.gae(inputs, hp)
  upgo = upgo_returns(inputs) - inputs.v_tm1
  return (1.0 - hp.upgo_coef) * gae + hp.upgo_coef * upgo


def make(settings, spec):
  return ppo.make(settings, spec, advantage_fn=upgo_advantage)
