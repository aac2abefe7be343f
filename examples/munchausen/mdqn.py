"""Munchausen DQN (Vieillard et al., 2020) as a user's own agent module.

Nothing of haikurl or its DQN is copied: this file reuses DQN's Settings,
network, replay and update, and passes a new loss to `dqn.make`. Its two
coefficients are traced hyperparameters (`HParams` extends DQN's), so
`--config.sweep.alpha='(0.0, 0.9)'` trains both settings in one program.

Use it by module path from a config file beside it (config.py here):

    haikurl-train --config=config.py --workdir=runs/mdqn

The target, with pi = softmax(q_target / temperature):

    y = r + alpha * clip(temperature * log pi(a_tm1 | s_tm1), -1, 0)
          + gamma^n * (1 - done) * sum_a pi(a | s_t) (q_target(s_t, a)
                                     - temperature * log pi(a | s_t))

alpha = 0 is soft (entropy-regularised) DQN; the paper uses alpha 0.9,
temperature 0.03 and clip -1.
"""
import jax
import jax.numpy as jnp
import rlax

from agents import dqn
from haikurl import settings

Settings = dqn.Settings
validate = dqn.validate
HParams = settings.extend_hparams(
    dqn.HParams, "MunchausenHParams",
    checks={"alpha": settings.unit_interval,
            "temperature": settings.positive},
    alpha=0.9,          # weight of the Munchausen term
    temperature=0.03)   # entropy temperature of the soft policy


def munchausen_loss(q: dqn.QOutputs, batch, hp, settings):
  """(loss [N], priority [N]) of the Munchausen target; see the docstring.

  `q.target_tm1` and `q.target_t` are the target network's outputs at both
  ends of each transition; `batch.discount` already holds gamma^n (0 after
  a termination).
  """
  log_pi_tm1 = jax.nn.log_softmax(q.target_tm1.q_values / hp.temperature)
  log_pi_t = jax.nn.log_softmax(q.target_t.q_values / hp.temperature)
  taken = jnp.take_along_axis(log_pi_tm1, batch.action[:, None], -1)[:, 0]
  bonus = hp.alpha * jnp.clip(hp.temperature * taken, -1.0, 0.0)
  soft_v_t = jnp.sum(jnp.exp(log_pi_t) * (q.target_t.q_values -
                                          hp.temperature * log_pi_t), -1)
  target = jax.lax.stop_gradient(batch.reward + bonus +
                                 batch.discount * soft_v_t)
  q_tm1 = jnp.take_along_axis(q.online_tm1.q_values, batch.action[:, None],
                              -1)[:, 0]
  td = target - q_tm1
  loss = (rlax.huber_loss(td, 1.0) if settings.loss == "huber"
          else rlax.l2_loss(td))
  return loss, jnp.abs(td)


def make(settings, spec):
  if settings.distributional != "none":
    raise ValueError("Munchausen DQN needs config.agent.distributional="
                     "'none' (its target is over Q-values).")
  return dqn.make(settings, spec, loss=munchausen_loss)
