"""IQN (Dabney et al., 2018): implicit quantile networks on DQN's core.

The Q network maps a state and a quantile fraction tau to Z_tau(s, a): fresh
fractions tau ~ U(0, 1) are drawn per call and per transition, N of them for
Z(s_tm1, a_tm1) (`num_tau_samples`), N' for the target Z(s_t, a_t)
(`num_tau_prime_samples`) and K for a mean over quantiles that picks an
action (`num_quantile_samples`: acting, evaluation, and double Q's selector,
the online net at s_t). Each fraction is embedded as relu(Linear(cos(pi i
tau))), i < `num_cosines`, and multiplied into the torso's features
(`networks.implicit_quantile_head`). The loss is rlax's quantile
Q-learning, a quantile Huber loss summed over the N fractions and averaged
over the N' target samples (`dqn.quantile_loss`: QR-DQN's loss, with sampled
rather than fixed fractions). Acting is risk-neutral: argmax_a of the mean
of K sampled quantiles.

Everything else is DQN's (agents/dqn.py): replay, n-step, prioritised
replay (priority: the quantile loss), double Q (the online net, with K
fractions of its own, picks a_t; without it the target net's N' quantiles
pick it), dueling streams, target updates, epsilon-greedy exploration, the
optimiser; this module adds the network, its sample counts (DQN's `outputs`
hook) and the settings. Its metrics are DQN's (train/td_abs is the quantile
loss).

Cost: the head runs on B x N rows per network call (the torso on B), so a
gradient step costs about B (N + K + N') head rows where DQN's costs 3B;
with DQN Zoo's N = N' = 64, K = 32 that is 53x DQN's head work at one batch
size. Presets trade samples, batch and replay ratio for it (configs/iqn.py).

Deviation: the embedding's index runs from 0 (the paper, rejax) rather than 1
(DQN Zoo).
"""
import dataclasses
import functools
from typing import Callable

import haiku as hk
import jax

from agents import dqn
from haikurl import networks
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec


@dataclasses.dataclass(frozen=True)
class Settings(dqn.Settings):
  """IQN's static settings: DQN's, with IQN's defaults (configs/iqn.py)."""
  distributional: str = s.setting(
      "iqn", "IQN samples its quantile fractions (only 'iqn'; the fixed "
      "supports are agent dqn's c51 and qr)", s.one_of("iqn"))
  num_atoms: int = s.setting(
      51, "unused by IQN (its counts: num_tau_samples, num_tau_prime_samples, "
      "num_quantile_samples)", s.positive_int)
  num_tau_samples: int = s.setting(
      64, "N: fractions sampled for Z(s_tm1, a_tm1), per transition",
      s.positive_int)
  num_tau_prime_samples: int = s.setting(
      64, "N': fractions sampled for the target Z(s_t, a_t), per transition",
      s.positive_int)
  num_quantile_samples: int = s.setting(
      32, "K: fractions whose mean picks an action (acting, evaluation, the "
      "double-Q selector)", s.positive_int)
  num_cosines: int = s.setting(64, "size of the cosine embedding of tau",
                               s.positive_int)
  loss: str = s.setting("huber", "'huber' (kappa = 1) or 'l2' (kappa = 0: "
                        "the plain quantile loss)", s.one_of(*dqn.LOSSES))


HParams = dqn.HParams
State = dqn.State
validate = dqn.validate


def make_network(settings: Settings, spec: EnvSpec):
  """The implicit quantile network: `apply(params, obs [B, ...], key,
  num_samples=K)` -> QuantileQ with q_dist [B, num_samples, A] at fractions
  drawn from `key` (their own for each row)."""
  def forward(obs, key=None, num_samples=None):
    x = networks.torso(obs, settings.hidden_sizes, settings.activation,
                       "torso", settings.torso_init,
                       encoder=settings.encoder)
    # init traces the network once without a key: any fractions will do.
    key = hk.next_rng_key() if key is None else key
    num_samples = (settings.num_quantile_samples if num_samples is None
                   else num_samples)
    tau = jax.random.uniform(key, (obs.shape[0], num_samples))
    return networks.implicit_quantile_head(
        x, spec.num_actions, tau, settings.num_cosines, settings.activation,
        settings.dueling)
  transformed = hk.transform(forward)
  # Haiku's rng is only for init; apply takes the fractions' key explicitly.
  return hk.Transformed(
      init=transformed.init,
      apply=lambda params, obs, key, num_samples=None: transformed.apply(
          params, None, obs, key, num_samples))


def outputs(settings: Settings, net) -> Callable:
  """DQN's `outputs` hook with IQN's counts: N fractions for the online net
  at s_tm1, K for double Q's selector (the online net at s_t), N' for the
  target net (at s_t; at s_tm1 for a loss hook that reads it)."""
  return functools.partial(
      dqn.q_outputs, net,
      num_samples=(settings.num_tau_samples, settings.num_quantile_samples,
                   settings.num_tau_prime_samples,
                   settings.num_tau_prime_samples))


def make(settings: Settings, spec: EnvSpec, loss=None, network=None) -> Agent:
  """DQN's agent with the implicit quantile network and the quantile loss;
  `loss` and `network` hooks as `dqn.make`'s (a `network` takes
  `apply(params, obs, key, num_samples)`)."""
  net = make_network(settings, spec) if network is None else network
  return dqn.make(settings, spec,
                  loss=dqn.quantile_loss if loss is None else loss,
                  network=net, outputs=outputs(settings, net))
