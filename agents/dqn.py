"""DQN (Mnih et al., 2015) and the Rainbow options, as one agent.

Options (static settings), each a Python `if` resolved while tracing:
  double_q        van Hasselt et al. (2016): the online net picks a_t.
  dueling         Wang et al. (2016): value + advantage streams.
  n_step          Sutton (1988) / Hessel et al. (2018): n-step targets that
                  stop at a termination and bootstrap through a truncation
                  from the pre-reset observation (`returns.n_step_bootstrap`).
  prioritised     Schaul et al. (2016): flashbax's prioritised buffer, priority
                  |TD error| (or the distributional loss) + 1e-6 raised to
                  `priority_exponent`, importance weights normalised by the
                  batch maximum, their exponent annealed linearly from
                  `importance_exponent` to 1 over the run.
  distributional  "c51" (Bellemare et al., 2017; rlax categorical (double)
                  Q-learning on `num_atoms` atoms in [v_min, v_max]) or "qr"
                  (Dabney et al., 2018; rlax quantile Q-learning on `num_atoms`
                  quantiles, Huber parameter 1 when loss="huber").
`CartPole-v1,rainbow` in configs/dqn.py turns on all but "qr" (Hessel et
al., 2018, without noisy nets: exploration stays epsilon-greedy).

Replay and learning: the off-policy engine (`haikurl.offpolicy`): single
transitions, or windows of `n_step` consecutive transitions of one env cut
at the first episode end; every transition keeps its own pre-reset next
observation, so no target pairs the last step of an episode with the first
of the next. `learn` adds the [T, B] trajectory, then, once the buffer can
sample and `learning_starts` env steps are stored, takes
`num_envs * rollout_length * replay_ratio` gradient steps (`update` below).

A variant changes the learning rule through the `loss` hook of `make`
(signature of `q_learning_loss`): it receives `hp` (extend `HParams` with
`haikurl.settings.extend_hparams` for traced coefficients of its own) and
the online and target networks' outputs at both ends of each transition.

Torso (`torso`: 'auto' keeps the MinAtar CNN for images, or 'mlp',
'impala', 'resnet'; `haikurl.networks.TorsoSettings`) and image
augmentation of sampled batches (`augmentation`: DrQ's random shift of obs
and next_obs, colour jitter; `haikurl.augment`, applied by the engine's
`make_learn`, never when acting).

Exploration: epsilon-greedy; uniform random actions before `learning_starts`,
then epsilon decays linearly from `epsilon_start` to `epsilon_end` over the
first `exploration_fraction` of `total_env_steps`. Target network: every
`target_period` gradient steps, target <- tau * online + (1 - tau) * target
(tau = 1: DQN's periodic copy; target_period = 1, tau = 0.005: Polyak).
Gradients are clipped by global norm; Adam; the rate optionally decays
linearly to 0 over the run (`haikurl.optim`).

Metrics (means over the learn call's gradient steps; 0 before learning):
  loss/td             mean (importance-weighted) loss of the sampled batch
  train/td_abs        mean |TD error| (the distributional loss for c51/qr)
  train/q_mean        mean Q(s, a) of the sampled transitions
  train/epsilon       the exploration epsilon after this rollout
  train/num_updates   gradient steps taken so far
  train/gradient_steps  gradient steps this learn call took (0 or the number per call)
  train/learning_rate the (annealed) learning rate
  train/importance_exponent  beta of the importance weights (prioritised)
"""
import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from haikurl import networks
from haikurl import offpolicy
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec, Transition

DISTRIBUTIONAL = ("none", "c51", "qr")
LOSSES = ("huber", "l2")


@dataclasses.dataclass(frozen=True)
class Settings(offpolicy.Settings, networks.TorsoSettings):
  """DQN's static settings (defaults: the base of configs/dqn.py)."""
  num_envs: int = s.setting(16, "environments stepped in parallel",
                            s.positive_int)
  rollout_length: int = s.setting(8, "env steps per env between learn calls",
                                  s.positive_int)
  hidden_sizes: tuple = s.setting((64, 64), "units of the MLP torso's layers",
                                  s.positive_ints)
  activation: str = s.setting("relu", "torso nonlinearity",
                              s.one_of(*networks.ACTIVATIONS))
  torso_init: str = s.setting("orthogonal", "torso weight initialisation",
                              s.one_of(*networks.TORSO_INITS))
  double_q: bool = s.setting(True, "the online net picks the bootstrap action",
                             s.boolean)
  dueling: bool = s.setting(False, "value + advantage streams", s.boolean)
  n_step: int = s.setting(1, "steps of the multi-step return", s.positive_int)
  prioritised: bool = s.setting(False, "prioritised replay", s.boolean)
  priority_exponent: float = s.setting(0.6, "alpha of prioritised replay",
                                       s.number)
  distributional: str = s.setting("none", "'none', 'c51' or 'qr'",
                                  s.one_of(*DISTRIBUTIONAL))
  num_atoms: int = s.setting(51, "C51 atoms or QR quantiles", s.positive_int)
  v_min: float = s.setting(0.0, "C51 support's lower end", s.number)
  v_max: float = s.setting(100.0, "C51 support's upper end", s.number)
  loss: str = s.setting("l2", "'huber' or 'l2' (qr: Huber parameter 1 or 0)",
                        s.one_of(*LOSSES))
  buffer_size: int = s.setting(50_000, "replay capacity in transitions",
                               s.positive_int)
  batch_size: int = s.setting(128, "transitions per gradient step",
                              s.positive_int)
  learning_starts: int = s.setting(
      1_000, "env steps of uniform random actions before learning",
      s.non_negative_int)
  replay_ratio: float = s.setting(0.5, "gradient steps per env step", s.number)
  target_period: int = s.setting(1, "gradient steps between target updates",
                                 s.positive_int)
  adam_eps: float = s.setting(1e-8, "Adam's epsilon", s.number)
  anneal_learning_rate: bool = s.setting(
      True, "decay the rate linearly to 0 over the run", s.boolean)

  def check(self):
    super().check()
    if self.distributional == "c51" and not self.v_min < self.v_max:
      raise ValueError(f"config.agent.v_min={self.v_min} must be below "
                       f"v_max={self.v_max}.")
    if self.buffer_size // self.num_envs < 2 * self.n_step:
      raise ValueError(f"config.agent.buffer_size={self.buffer_size} leaves "
                       f"fewer than 2 * n_step steps per env.")


class HParams(NamedTuple):
  learning_rate: float = 5e-4
  discount: float = 0.99
  epsilon_start: float = 1.0
  epsilon_end: float = 0.05
  exploration_fraction: float = 0.2  # of total_env_steps to reach epsilon_end
  tau: float = 0.01                  # target update step size; 1 is a copy
  max_grad_norm: float = 10.0
  importance_exponent: float = 0.4   # initial beta of prioritised replay
  CHECKS = {"learning_rate": s.positive, "discount": s.unit_interval,
            "epsilon_start": s.unit_interval, "epsilon_end": s.unit_interval,
            "exploration_fraction": s.positive, "tau": s.unit_interval,
            "max_grad_norm": s.positive,
            "importance_exponent": s.unit_interval}


class State(NamedTuple):
  params: hk.Params
  target_params: hk.Params
  opt_state: optax.OptState
  buffer: Any              # flashbax buffer state (counters unbatched)
  env_steps: jax.Array     # [] int32 env steps stored
  num_updates: jax.Array   # [] int32 gradient steps taken


class QOutputs(NamedTuple):
  """The network outputs a loss hook may use, for a batch of N transitions.

  Each is the head's output (`networks.QValues`, `CategoricalQ` or
  `QuantileQ`, all with `q_values` [N, A]). Only `online_tm1` carries
  gradients; outputs a loss does not read are removed by XLA.
  """
  online_tm1: Any  # online net at obs_tm1
  online_t: Any    # online net at the bootstrap observation
  target_tm1: Any  # target net at obs_tm1
  target_t: Any    # target net at the bootstrap observation


def validate(settings: Settings, spec: EnvSpec) -> None:
  """Raises ValueError with one line when the env does not fit DQN."""
  del settings
  if not spec.discrete:
    raise ValueError(f"DQN needs discrete actions, but {spec.name} has a "
                     "continuous action space; use SAC or TD3 instead.")


def make_network(settings: Settings, spec: EnvSpec):
  """The Q network: torso, then a Q, C51 or quantile head (dueling or not).

  `apply(params, obs, key=None)`: these heads are deterministic and ignore
  the key, which a sampling network (IQN's quantile fractions) draws from.
  """
  def forward(obs, key=None):
    del key
    x = networks.torso(obs, settings.hidden_sizes, settings.activation, "torso",
                       settings.torso_init, encoder=settings.encoder)
    if settings.distributional == "c51":
      atoms = jnp.linspace(settings.v_min, settings.v_max, settings.num_atoms)
      return networks.categorical_q_head(x, spec.num_actions, atoms,
                                         settings.dueling)
    if settings.distributional == "qr":
      return networks.quantile_q_head(x, spec.num_actions, settings.num_atoms,
                                      settings.dueling)
    return networks.q_head(x, spec.num_actions, settings.dueling)
  return hk.without_apply_rng(hk.transform(forward))


# Loss hooks: loss(q: QOutputs, batch: Transition [N], hp, settings) ->
# (loss [N], priority [N]). `batch.action` is a_tm1, `batch.reward` the
# (n-step) return r_t and `batch.discount` the full bootstrap discount
# (gamma^k for k steps that did not terminate, 0 after a termination), so a
# one-step rule's (r_t, discount_t) are (batch.reward, batch.discount). The
# priority is what prioritised replay stores (|TD error| or the loss).

def _scalar_loss(settings, td):
  return rlax.huber_loss(td, 1.0) if settings.loss == "huber" else \
      rlax.l2_loss(td)


def q_learning_loss(q: QOutputs, batch: Transition, hp, settings):
  """(Double) Q-learning; double Q picks a_t with the online net."""
  del hp
  if settings.double_q:
    td = jax.vmap(rlax.double_q_learning)(
        q.online_tm1.q_values, batch.action, batch.reward, batch.discount,
        q.target_t.q_values, q.online_t.q_values)
  else:
    td = jax.vmap(rlax.q_learning)(q.online_tm1.q_values, batch.action,
                                   batch.reward, batch.discount,
                                   q.target_t.q_values)
  return _scalar_loss(settings, td), jnp.abs(td)


def c51_loss(q: QOutputs, batch: Transition, hp, settings):
  """Categorical (double) Q-learning on the C51 support."""
  del hp
  selector = q.online_t if settings.double_q else q.target_t
  loss = jax.vmap(rlax.categorical_double_q_learning,
                  in_axes=(None, 0, 0, 0, 0, None, 0, 0))(
      q.online_tm1.atoms, q.online_tm1.q_logits, batch.action, batch.reward,
      batch.discount, q.target_t.atoms, q.target_t.q_logits,
      selector.q_values)
  return loss, loss


def quantile_loss(q: QOutputs, batch: Transition, hp, settings):
  """Quantile regression Q-learning (Huber parameter 1 with loss='huber').

  The fractions `tau` are QR-DQN's fixed midpoints [N] or, for IQN, the ones
  sampled per transition [B, N]; the target and the selector may hold any
  number of samples of their own (N', K).
  """
  del hp
  selector = q.online_t if settings.double_q else q.target_t
  tau_axis = 0 if q.online_tm1.tau.ndim == 2 else None
  loss = jax.vmap(rlax.quantile_q_learning,
                  in_axes=(0, tau_axis, 0, 0, 0, 0, 0, None))(
      q.online_tm1.q_dist, q.online_tm1.tau, batch.action, batch.reward,
      batch.discount, selector.q_dist, q.target_t.q_dist,
      1.0 if settings.loss == "huber" else 0.0)
  return loss, loss


def default_loss(settings: Settings) -> Callable:
  """The loss hook `settings.distributional` selects."""
  return {"none": q_learning_loss, "c51": c51_loss, "qr": quantile_loss}[
      settings.distributional]


def epsilon(settings: Settings, hp, env_steps) -> jax.Array:
  """Linear decay from epsilon_start to epsilon_end over a fraction of the run."""
  frac = env_steps.astype(jnp.float32) / (hp.exploration_fraction *
                                          float(settings.total_env_steps))
  return hp.epsilon_start + (hp.epsilon_end - hp.epsilon_start) * jnp.minimum(
      frac, 1.0)


def epsilon_greedy(key, q_values: jax.Array, eps) -> jax.Array:
  """Epsilon-greedy actions [B] of q_values [B, A]; `eps` is a scalar or
  one probability per env ([B]: Ape-X's per-actor epsilons).

  Two draws per env rather than distrax.EpsilonGreedy's softmax and
  categorical sample: the same distribution (up to ties), cheaper.
  """
  explore_key, action_key = jax.random.split(key)
  batch, num_actions = q_values.shape
  greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
  explore = jax.random.uniform(explore_key, (batch,)) < eps
  random = jax.random.randint(action_key, (batch,), 0, num_actions)
  return jnp.where(explore, random, greedy)


def importance_exponent(settings: Settings, hp, env_steps) -> jax.Array:
  """beta, annealed linearly from hp.importance_exponent to 1 over the run."""
  frac = jnp.minimum(env_steps.astype(jnp.float32) /
                     float(settings.total_env_steps), 1.0)
  return hp.importance_exponent + (1.0 - hp.importance_exponent) * frac


def q_outputs(net, params, state: State, batch: Transition, key,
              num_samples=None) -> QOutputs:
  """The default `outputs` hook: the four network calls a loss may use.

  Each call gets a key of its own (a sampling network such as IQN's draws
  independent quantile fractions for each); a deterministic network ignores
  them, and XLA drops the unused draws and the outputs no loss reads.

  Args:
    net: the Q network (`apply(params, obs, key[, num_samples])`).
    params: the online parameters being differentiated.
    state: for `state.params` (online, no gradient) and `target_params`.
    batch: Transition [B].
    key: split into one key per call.
    num_samples: None, or for a sampling network the fractions each call
      draws: (online at obs_tm1, online at the bootstrap observation, target
      at obs_tm1, target at the bootstrap observation); IQN's (N, K, N', N').
  """
  stop = jax.lax.stop_gradient
  keys = jax.random.split(key, 4)
  def call(i, p, obs):
    if num_samples is None:
      return net.apply(p, obs, keys[i])
    return net.apply(p, obs, keys[i], num_samples[i])
  return QOutputs(
      online_tm1=call(0, params, batch.obs),
      online_t=stop(call(1, state.params, batch.next_obs)),
      target_tm1=stop(call(2, state.target_params, batch.obs)),
      target_t=stop(call(3, state.target_params, batch.next_obs)))


def loss_fn(params, state: State, batch: Transition, weights, key, hp, *,
            outputs, loss, settings):
  """The weighted loss of a batch and its metrics; gradients in `params`.

  `outputs(params, state, batch, key) -> QOutputs` makes the network calls
  (`q_outputs` by default); only `online_tm1` may carry gradients.
  """
  q = outputs(params, state, batch, key)
  per_example, priority = loss(q, batch, hp, settings)
  chex.assert_shape([per_example, priority], batch.action.shape)
  q_a = jnp.take_along_axis(q.online_tm1.q_values, batch.action[:, None],
                            axis=-1)
  metrics = {"loss/td": jnp.mean(weights * per_example),
             "train/td_abs": jnp.mean(priority),
             "train/q_mean": jnp.mean(q_a)}
  return metrics["loss/td"], (priority, metrics)


def target_update(params, target_params, num_updates, hp, settings):
  """The target network after gradient step `num_updates`: every
  `settings.target_period` steps, tau * online + (1 - tau) * target."""
  new_target = optax.incremental_update(params, target_params, hp.tau)
  if settings.target_period > 1:
    due = num_updates % settings.target_period == 0
    new_target = jax.tree.map(lambda new, old: jnp.where(due, new, old),
                              new_target, target_params)
  return new_target


def update(state: State, sample: offpolicy.Sample, key, hp, *, outputs, loss,
           opt: optim.Optimizer, settings: Settings):
  """One gradient step on a sampled batch, then the target update.

  Returns:
    (state, metrics, priorities [N]) as `offpolicy.make_learn` expects.
  """
  metrics = {}
  weights = jnp.ones_like(sample.batch.reward)
  if settings.prioritised:
    beta = importance_exponent(settings, hp, state.env_steps)
    weights = offpolicy.importance_weights(sample.probabilities, beta)
    metrics["train/importance_exponent"] = beta
  grads, (priority, loss_metrics) = jax.grad(loss_fn, has_aux=True)(
      state.params, state, sample.batch, weights, key, hp, outputs=outputs,
      loss=loss, settings=settings)
  metrics.update(loss_metrics)
  params, opt_state, lr = opt.step(state.params, grads, state.opt_state,
                                   hp.learning_rate, hp.max_grad_norm)
  num_updates = state.num_updates + 1
  target_params = target_update(params, state.target_params, num_updates, hp,
                                settings)
  metrics["train/learning_rate"] = lr
  state = state._replace(params=params, target_params=target_params,
                         opt_state=opt_state, num_updates=num_updates)
  return state, metrics, priority


def make(settings: Settings, spec: EnvSpec, loss: Callable = None,
         network=None, outputs: Callable = None) -> Agent:
  """Builds DQN's init, act and learn for `spec` from static `settings`.

  Args:
    settings: DQN's Settings.
    spec: the env's spec; actions must be discrete.
    loss: the loss hook (see `q_learning_loss`): `loss(q: QOutputs, batch,
      hp, settings) -> (loss [N], priority [N])`. Default: the one
      `settings.distributional` selects.
    network: a Haiku-transformed Q network (`init(key, obs)`, `apply(params,
      obs, key)` -> a head output with `q_values`; the key is for a network
      that samples, such as IQN's); default `make_network`.
    outputs: the network-calls hook `outputs(params, state, batch, key) ->
      QOutputs` of the loss; default `q_outputs` with `network` (a sampling
      network passes its sample counts: `functools.partial(q_outputs, net,
      num_samples=...)`).

  Returns:
    Agent(init, act, learn).
  """
  net = make_network(settings, spec) if network is None else network
  loss = default_loss(settings) if loss is None else loss
  replay = offpolicy.make_replay(settings, spec, settings.n_step,
                                 settings.prioritised,
                                 settings.priority_exponent)
  opt = optim.make(eps=settings.adam_eps, clip=True,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None))

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    zero = jnp.zeros((), jnp.int32)
    return State(params, params, opt.init(params), replay.init(), zero, zero)

  def act(state, obs, key, hp, evaluation=False):
    # The network's key is folded off `key`, which exploration keeps as it
    # was before networks took keys (a deterministic net ignores it).
    q_values = net.apply(state.params, obs,
                         jax.random.fold_in(key, 1)).q_values      # [B, A]
    if evaluation:
      return jnp.argmax(q_values, axis=-1).astype(jnp.int32), ()
    eps = epsilon(settings, hp, state.env_steps)
    policy = lambda k: epsilon_greedy(k, q_values, eps)
    return offpolicy.explore(state, key, spec, settings, policy), ()

  if outputs is None:
    outputs = functools.partial(q_outputs, net)
  step = functools.partial(update, outputs=outputs, loss=loss, opt=opt,
                           settings=settings)
  engine_learn = offpolicy.make_learn(settings, replay, step)

  def learn(state, trajectory, key, hp):
    state, metrics = engine_learn(state, trajectory, key, hp)
    # What acting will use next: 1 (uniform actions) before learning_starts.
    metrics["train/epsilon"] = jnp.where(
        state.env_steps < settings.learning_starts, 1.0,
        epsilon(settings, hp, state.env_steps))
    metrics["train/num_updates"] = state.num_updates.astype(jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn)
