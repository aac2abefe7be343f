"""Behaviour cloning: supervised learning of the dataset's actions (offline).

The policy is fitted to the dataset's (observation, action) pairs by
maximum likelihood, -log pi(a|s), with the head `policy` names:
  categorical     discrete actions (the default there).
  gaussian        a diagonal Gaussian with mean tanh(linear(h)) and a
                  state-independent learned log-std, not squashed (the IQL
                  paper's policy, jaxrl's; the default for continuous
                  actions): greedy action = the mean.
  tanh_gaussian   SAC's squashed Gaussian (`networks.tanh_gaussian_head`),
                  log-density with the change of variables; dataset actions
                  at the bounds are pulled in by `action_margin` to keep it
                  finite; greedy action = tanh(mean). Fitted more slowly:
                  eval return -923 against -168 for `gaussian` after 4,000
                  steps on 20 expert Pendulum episodes.
  deterministic   TD3's tanh head, minimising the squared error to a.
`act` outside evaluation samples (clipped to [-1, 1] for `gaussian`).

Offline (`OFFLINE = True`): `learn(state, batch, key, hp)` takes one Adam
step on a minibatch the offline loop (haikurl/offline.py) samples from
`config.dataset`.

Metrics:
  loss/bc          the loss above (mean over the batch)
  train/log_prob   mean log pi(a|s) of the batch's actions (not for
                   deterministic policies)
  train/gradient_steps  1.0 per learn call
"""
import dataclasses
from typing import NamedTuple

import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import optax

from haikurl import networks
from haikurl import offline
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec, Transition

OFFLINE = True
POLICIES = ("auto", "categorical", "gaussian", "tanh_gaussian",
            "deterministic")


@dataclasses.dataclass(frozen=True)
class Settings(offline.Settings, networks.TorsoSettings):
  """BC's static settings (256-256 ReLU MLP, batch 256, as the IQL paper's
  BC baseline; `torso` as the online agents', `networks.TorsoSettings`)."""
  hidden_sizes: tuple = s.setting((256, 256), "units of the policy MLP",
                                  s.positive_ints)
  activation: str = s.setting("relu", "nonlinearity of the MLP",
                              s.one_of(*networks.ACTIVATIONS))
  policy: str = s.setting(
      "auto", "'categorical' (discrete), 'gaussian', 'tanh_gaussian' or "
      "'deterministic' (continuous); 'auto': categorical or gaussian",
      s.one_of(*POLICIES))
  action_margin: float = s.setting(
      1e-4, "continuous dataset actions are clipped to [-1 + m, 1 - m]",
      s.number)


class HParams(NamedTuple):
  learning_rate: float = 3e-4
  max_grad_norm: float = 10.0
  CHECKS = {"learning_rate": s.positive, "max_grad_norm": s.positive}


class State(NamedTuple):
  params: hk.Params
  opt_state: optax.OptState
  num_updates: jax.Array  # [] int32 gradient steps taken


def policy_kind(settings: Settings, spec: EnvSpec) -> str:
  if settings.policy != "auto":
    return settings.policy
  return "categorical" if spec.discrete else "gaussian"


def validate(settings: Settings, spec: EnvSpec) -> None:
  kind = policy_kind(settings, spec)
  if spec.discrete != (kind == "categorical"):
    raise ValueError(f"config.agent.policy={kind!r} does not fit "
                     f"{spec.name}'s {'discrete' if spec.discrete else 'continuous'}"
                     " actions.")


def make_policy_network(hidden_sizes, activation: str, kind: str,
                        spec: EnvSpec, name: str = "policy",
                        encoder: networks.Encoder = networks.Encoder()):
  """A transformed policy network, `networks.torso` (encoder, then an MLP
  of `hidden_sizes`) and the head `kind` names (BC's, IQL's and CQL's):
  PPO's categorical and Gaussian heads, SAC's tanh-Gaussian, TD3's
  deterministic one."""
  def forward(obs):
    h = networks.torso(obs, hidden_sizes, activation, name, encoder=encoder)
    if kind == "categorical":
      return networks.categorical_head(h, spec.num_actions)
    if kind == "deterministic":
      return networks.deterministic_head(h, spec.action_dim)
    if kind == "gaussian":
      out = networks.gaussian_head(h, spec.action_dim)
      return out._replace(mean=jnp.tanh(out.mean))
    return networks.tanh_gaussian_head(h, spec.action_dim)
  return hk.without_apply_rng(hk.transform(forward))


def log_prob(out, kind: str, action: jax.Array, margin: float) -> jax.Array:
  """[N] log pi(a|s) of dataset actions under a categorical, Gaussian or
  tanh-Gaussian head's output (actions clipped by `margin` for the last)."""
  if kind == "categorical":
    return distrax.Categorical(logits=out.logits).log_prob(action)
  if kind == "gaussian":
    return networks.distribution(out).log_prob(action)
  action = jnp.clip(action, -1.0 + margin, 1.0 - margin)
  return networks.tanh_gaussian(out).log_prob(action)


def greedy(out, kind: str) -> jax.Array:
  if kind == "categorical":
    return jnp.argmax(out.logits, axis=-1).astype(jnp.int32)
  if kind == "deterministic":
    return out.action
  if kind == "gaussian":
    return out.mean
  return jnp.tanh(out.mean)


def sample(out, kind: str, key) -> jax.Array:
  if kind == "categorical":
    return distrax.Categorical(logits=out.logits).sample(seed=key).astype(
        jnp.int32)
  if kind == "deterministic":
    return out.action
  if kind == "gaussian":
    return jnp.clip(networks.distribution(out).sample(seed=key), -1.0, 1.0)
  return networks.tanh_gaussian(out).sample(seed=key)


def bc_loss(params, net, kind: str, batch: Transition, margin: float):
  """(loss, metrics): -mean log pi(a|s), or the mean squared error of a
  deterministic policy."""
  out = net.apply(params, batch.obs)
  if kind == "deterministic":
    loss = jnp.mean(jnp.sum(jnp.square(out.action - batch.action), axis=-1))
    return loss, {"loss/bc": loss}
  lp = log_prob(out, kind, batch.action, margin)
  loss = -jnp.mean(lp)
  return loss, {"loss/bc": loss, "train/log_prob": jnp.mean(lp)}


def make(settings: Settings, spec: EnvSpec) -> Agent:
  """Builds BC's init, act and learn."""
  kind = policy_kind(settings, spec)
  net = make_policy_network(settings.hidden_sizes, settings.activation, kind,
                            spec, encoder=settings.encoder)
  opt = optim.make(clip=True)

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    return State(params, opt.init(params), jnp.zeros((), jnp.int32))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    out = net.apply(state.params, obs)
    return (greedy(out, kind) if evaluation else sample(out, kind, key)), ()

  def learn(state, batch, key, hp):
    del key
    grads, metrics = jax.grad(bc_loss, has_aux=True)(
        state.params, net, kind, batch, settings.action_margin)
    params, opt_state, _ = opt.step(state.params, grads, state.opt_state,
                                    hp.learning_rate, hp.max_grad_norm)
    metrics["train/gradient_steps"] = jnp.ones((), jnp.float32)
    return State(params, opt_state, state.num_updates + 1), metrics

  return Agent(init=init, act=act, learn=learn)
