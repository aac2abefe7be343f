"""IQN (Dabney et al., 2018): implicit quantile networks on DQN's core.

The Q network maps a state and a quantile fraction tau to Z_tau(s, a): a
fresh tau ~ U(0, 1) is drawn per call, transition and sample (N of them
for Z(s_tm1), N' for the target at s_t, K for the action selector and for
acting), embedded as relu(Linear(cos(pi i tau))), i < `num_cosines`, and
multiplied into the torso's features (`networks.implicit_quantile_head`).
The loss is rlax's quantile Q-learning, a quantile Huber loss summed over
the N fractions and averaged over the N' target samples (`dqn.quantile_loss`:
the same loss as QR-DQN, with sampled rather than fixed fractions).
Acting is risk-neutral: argmax_a of the mean of K sampled quantiles.

Everything else is DQN's (agents/dqn.py): replay, n-step, prioritised
replay, double Q (the online net, with its own fractions, picks a_t),
dueling streams, target updates, epsilon-greedy exploration, the
optimiser; this module only adds the network and the settings. Its
metrics are DQN's (train/td_abs is the quantile loss).

Deviations: N = N' = K = `num_atoms` (DQN Zoo: 64, 64, 32; rejax 0.1.3:
64, 64 and 32 for acting), since the core calls one network; the
embedding's index runs from 0 (the paper, rejax) rather than 1 (DQN Zoo).
"""
import dataclasses

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
      64, "quantile fractions sampled per network call (N = N' = K)",
      s.positive_int)
  num_cosines: int = s.setting(64, "size of the cosine embedding of tau",
                               s.positive_int)
  loss: str = s.setting("huber", "'huber' (kappa = 1) or 'l2' (kappa = 0: "
                        "the plain quantile loss)", s.one_of(*dqn.LOSSES))


HParams = dqn.HParams
State = dqn.State
validate = dqn.validate


def make_network(settings: Settings, spec: EnvSpec):
  """The implicit quantile network: `apply(params, obs [B, ...], key)` ->
  QuantileQ with q_dist [B, N, A] at N fractions drawn from `key`."""
  def forward(obs, key=None):
    x = networks.torso(obs, settings.hidden_sizes, settings.activation,
                       "torso", settings.torso_init)
    # init traces the network once without a key: any fractions will do.
    key = hk.next_rng_key() if key is None else key
    tau = jax.random.uniform(key, (obs.shape[0], settings.num_atoms))
    return networks.implicit_quantile_head(
        x, spec.num_actions, tau, settings.num_cosines, settings.activation,
        settings.dueling)
  transformed = hk.transform(forward)
  # Haiku's rng is only for init; apply takes the fractions' key explicitly.
  return hk.Transformed(
      init=transformed.init,
      apply=lambda params, obs, key: transformed.apply(params, None, obs, key))


def make(settings: Settings, spec: EnvSpec, loss=None, network=None) -> Agent:
  """DQN's agent with the implicit quantile network and the quantile loss;
  `loss` and `network` hooks as `dqn.make`'s."""
  return dqn.make(settings, spec,
                  loss=dqn.quantile_loss if loss is None else loss,
                  network=make_network(settings, spec) if network is None
                  else network)
