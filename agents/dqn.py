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

Replay: the agent owns a flashbax trajectory buffer, one row per env, and
samples windows of `n_step` consecutive transitions (n = 1: single
transitions). Every transition keeps its own pre-reset next observation, so no
target pairs the last step of an episode with the first of the next.
`learn` adds the [T, B] trajectory, then, once the buffer can sample and
`learning_starts` env steps have been taken, runs
`num_envs * rollout_length * replay_ratio` gradient steps in a `lax.scan`
under a `lax.cond` (a real branch under `vmap`: the buffer's counters are not
batched because `init` creates the buffer).

Exploration: epsilon-greedy, uniform random actions before `learning_starts`,
then epsilon decays linearly from `epsilon_start` to `epsilon_end` over the
first `exploration_fraction` of `total_env_steps`. Target network: every
`target_period` gradient steps, target <- tau * online + (1 - tau) * target
(tau = 1: DQN's periodic copy; target_period = 1, tau = 0.005: Polyak).
Gradients are clipped by global norm; Adam; the rate optionally decays
linearly to 0 over the run.

Metrics (means over the learn call's gradient steps; 0 before learning):
  loss/td             mean (importance-weighted) loss of the sampled batch
  train/td_abs        mean |TD error| (the distributional loss for c51/qr)
  train/q_mean        mean Q(s, a) of the sampled transitions
  train/epsilon       the exploration epsilon after this rollout
  train/num_updates   gradient steps taken so far
  train/learning_rate the (annealed) learning rate
  train/importance_exponent  beta of the importance weights (prioritised)
"""
from typing import Any, NamedTuple

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from haikurl import networks
from haikurl import replay
from haikurl import returns
from haikurl.types import Agent, EnvSpec

DISTRIBUTIONAL = ("none", "c51", "qr")
LOSSES = ("huber", "l2")
PRIORITY_EPSILON = 1e-6  # keeps every stored transition sampleable


class HParams(NamedTuple):
  learning_rate: jax.Array
  discount: jax.Array
  epsilon_start: jax.Array
  epsilon_end: jax.Array
  exploration_fraction: jax.Array  # of total_env_steps to reach epsilon_end
  tau: jax.Array                   # target update step size
  max_grad_norm: jax.Array
  importance_exponent: jax.Array   # initial beta of prioritised replay


class State(NamedTuple):
  params: hk.Params
  target_params: hk.Params
  opt_state: optax.OptState
  buffer: Any              # flashbax buffer state (counters unbatched)
  env_steps: jax.Array     # [] int32 env steps seen by learn
  num_updates: jax.Array   # [] int32 gradient steps taken


def updates_per_learn(settings) -> int:
  """Gradient steps per learn call: num_envs * rollout_length * replay_ratio."""
  return int(round(settings.num_envs * settings.rollout_length *
                   settings.replay_ratio))


def validate(settings, spec: EnvSpec) -> None:
  """Raises ValueError with one line when the settings cannot work."""
  if not spec.discrete:
    raise ValueError(f"DQN needs discrete actions, but {spec.name} has a "
                     f"continuous action space; use SAC or TD3 instead.")
  if settings.batch_size > settings.buffer_size:
    raise ValueError(f"config.agent.batch_size={settings.batch_size} is larger "
                     f"than config.agent.buffer_size={settings.buffer_size}.")
  per_learn = (settings.num_envs * settings.rollout_length *
               settings.replay_ratio)
  if updates_per_learn(settings) < 1 or abs(per_learn - round(per_learn)) > 1e-6:
    raise ValueError(
        f"num_envs * rollout_length * replay_ratio = {per_learn:g} must be a "
        f"positive whole number of gradient steps per learn call.")
  if settings.distributional not in DISTRIBUTIONAL:
    raise ValueError(f"config.agent.distributional must be one of "
                     f"{DISTRIBUTIONAL}, got {settings.distributional!r}.")
  if settings.loss not in LOSSES:
    raise ValueError(f"config.agent.loss must be one of {LOSSES}, got "
                     f"{settings.loss!r}.")
  for name in ("n_step", "target_period", "batch_size", "num_atoms"):
    if int(settings[name]) < 1:
      raise ValueError(f"config.agent.{name} must be >= 1, got "
                       f"{settings[name]}.")
  if settings.distributional == "c51" and not settings.v_min < settings.v_max:
    raise ValueError(f"config.agent.v_min={settings.v_min} must be below "
                     f"v_max={settings.v_max}.")
  if settings.buffer_size // settings.num_envs < 2 * settings.n_step:
    raise ValueError(f"config.agent.buffer_size={settings.buffer_size} leaves "
                     f"fewer than 2 * n_step steps per env.")


def make_network(settings, spec: EnvSpec):
  """The Q network: torso, then a Q, C51 or quantile head (dueling or not)."""
  def forward(obs):
    x = networks.torso(obs, settings.hidden_sizes, settings.activation, "torso",
                       settings.get("torso_init", "orthogonal"))
    if settings.distributional == "c51":
      atoms = jnp.linspace(settings.v_min, settings.v_max, settings.num_atoms)
      return networks.categorical_q_head(x, spec.num_actions, atoms,
                                         settings.dueling)
    if settings.distributional == "qr":
      return networks.quantile_q_head(x, spec.num_actions, settings.num_atoms,
                                      settings.dueling)
    return networks.q_head(x, spec.num_actions, settings.dueling)
  return hk.without_apply_rng(hk.transform(forward))


def make_loss(settings):
  """Per-example loss of a batch and what sets its priority.

  Returns:
    loss(out_tm1, a_tm1, r_t, discount_t, out_t, selector_t) ->
    (loss [N], priority_error [N]) where `out_*` are head outputs for the
    batch, `out_t` from the target net and `selector_t` the net that picks
    the bootstrap action (online for double Q, else the target net).
  """
  huber = settings.loss == "huber"

  def scalar_loss(td):
    return rlax.huber_loss(td, 1.0) if huber else rlax.l2_loss(td)

  def q_loss(out_tm1, a_tm1, r_t, discount_t, out_t, selector_t):
    if settings.double_q:
      td = jax.vmap(rlax.double_q_learning)(
          out_tm1.q_values, a_tm1, r_t, discount_t, out_t.q_values,
          selector_t.q_values)
    else:
      td = jax.vmap(rlax.q_learning)(out_tm1.q_values, a_tm1, r_t, discount_t,
                                     out_t.q_values)
    return scalar_loss(td), jnp.abs(td)

  def c51_loss(out_tm1, a_tm1, r_t, discount_t, out_t, selector_t):
    # The selector is only argmax-ed; with double_q=False it is the target.
    loss = jax.vmap(rlax.categorical_double_q_learning,
                    in_axes=(None, 0, 0, 0, 0, None, 0, 0))(
        out_tm1.atoms, out_tm1.q_logits, a_tm1, r_t, discount_t, out_t.atoms,
        out_t.q_logits, selector_t.q_values)
    return loss, loss

  def qr_loss(out_tm1, a_tm1, r_t, discount_t, out_t, selector_t):
    loss = jax.vmap(rlax.quantile_q_learning,
                    in_axes=(0, None, 0, 0, 0, 0, 0, None))(
        out_tm1.q_dist, out_tm1.tau, a_tm1, r_t, discount_t, selector_t.q_dist,
        out_t.q_dist, 1.0 if huber else 0.0)
    return loss, loss

  return {"none": q_loss, "c51": c51_loss, "qr": qr_loss}[
      settings.distributional]


def make(settings, spec: EnvSpec, loss=None) -> Agent:
  """Builds DQN's init, act and learn for `spec` from static `settings`.

  Args:
    settings: the static agent settings (see configs/dqn.py).
    spec: the env's spec; actions must be discrete.
    loss: optionally, a per-example loss with `make_loss`'s signature, to
      change the learning rule without copying this module.

  Returns:
    Agent(init, act, learn).
  """
  net = make_network(settings, spec)
  loss = make_loss(settings) if loss is None else loss
  buffer = replay.make_sequence_buffer(
      settings.buffer_size, settings.num_envs, settings.batch_size,
      settings.n_step, max(settings.learning_starts, settings.batch_size),
      settings.prioritised, settings.get("priority_exponent", 0.6))
  num_updates_per_learn = updates_per_learn(settings)
  steps_per_learn = settings.num_envs * settings.rollout_length
  total_steps = float(settings.total_env_steps)
  total_updates = max(1.0, (total_steps - settings.learning_starts) *
                      settings.replay_ratio)
  # The optimiser's state does not depend on the rate's or the clipping
  # norm's value, so both are applied from the traced `hp`.
  adam = optax.scale_by_adam(eps=settings.adam_eps)

  def epsilon(hp, env_steps):
    frac = env_steps.astype(jnp.float32) / (hp.exploration_fraction *
                                            total_steps)
    eps = hp.epsilon_start + (hp.epsilon_end - hp.epsilon_start) * jnp.minimum(
        frac, 1.0)
    return jnp.where(env_steps < settings.learning_starts, 1.0, eps)

  def learning_rate(hp, num_updates):
    if settings.anneal_learning_rate:
      frac = 1.0 - num_updates.astype(jnp.float32) / total_updates
      return hp.learning_rate * jnp.maximum(frac, 0.0)
    return hp.learning_rate

  def importance_exponent(hp, env_steps):
    frac = jnp.minimum(env_steps.astype(jnp.float32) / total_steps, 1.0)
    return hp.importance_exponent + (1.0 - hp.importance_exponent) * frac

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    buffer_state = buffer.init(replay.dummy_transition(spec))
    zero = jnp.zeros((), jnp.int32)
    return State(params, params, adam.init(params), buffer_state, zero, zero)

  def act(state, obs, key, hp, evaluation=False):
    q_values = net.apply(state.params, obs).q_values               # [B, A]
    greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
    if evaluation:
      return greedy, ()
    # Two draws per env rather than distrax.EpsilonGreedy's softmax and
    # categorical sample: the same distribution (up to ties), cheaper.
    explore_key, action_key = jax.random.split(key)
    batch = q_values.shape[:1]
    explore = jax.random.uniform(explore_key, batch) < epsilon(
        hp, state.env_steps)
    random = jax.random.randint(action_key, batch, 0, spec.num_actions)
    return jnp.where(explore, random, greedy), ()

  def loss_fn(params, target_out, selector_out, obs_tm1, a_tm1, r_t,
              discount_t, weights):
    out_tm1 = net.apply(params, obs_tm1)
    per_example, priority_error = loss(out_tm1, a_tm1, r_t, discount_t,
                                       target_out, selector_out)
    chex.assert_shape(per_example, a_tm1.shape)
    q_a = jnp.take_along_axis(out_tm1.q_values, a_tm1[:, None], axis=-1)
    metrics = {"loss/td": jnp.mean(weights * per_example),
               "train/td_abs": jnp.mean(priority_error),
               "train/q_mean": jnp.mean(q_a)}
    return metrics["loss/td"], (priority_error, metrics)

  def update(state: State, key, hp):
    """One gradient step on a sampled batch; priorities updated if any."""
    sample = buffer.sample(state.buffer, key)
    window = sample.experience                          # Transition [N, n]
    nstep = jax.vmap(returns.n_step_bootstrap, in_axes=(0, 0, 0, None))(
        window.reward, window.terminated, window.truncated, hp.discount)
    obs_tm1 = window.obs[:, 0]
    a_tm1 = window.action[:, 0]
    obs_t = window.next_obs[jnp.arange(settings.batch_size), nstep.index]
    target_out = net.apply(state.target_params, obs_t)
    selector_out = (net.apply(state.params, obs_t) if settings.double_q
                    else target_out)
    weights = jnp.ones_like(nstep.reward)
    metrics = {}
    if settings.prioritised:
      beta = importance_exponent(hp, state.env_steps)
      weights = replay.importance_weights(sample.probabilities, beta)
      metrics["train/importance_exponent"] = beta
    grads, (priority_error, loss_metrics) = jax.grad(loss_fn, has_aux=True)(
        state.params, jax.lax.stop_gradient(target_out),
        jax.lax.stop_gradient(selector_out), obs_tm1, a_tm1, nstep.reward,
        nstep.discount, weights)
    metrics.update(loss_metrics)
    grads, _ = optax.clip_by_global_norm(hp.max_grad_norm).update(grads, None)
    updates, opt_state = adam.update(grads, state.opt_state)
    lr = learning_rate(hp, state.num_updates)
    params = optax.apply_updates(
        state.params, jax.tree.map(lambda u: -lr * u, updates))
    num_updates = state.num_updates + 1
    target_params = optax.incremental_update(params, state.target_params,
                                             hp.tau)
    if settings.target_period > 1:
      due = num_updates % settings.target_period == 0
      target_params = jax.tree.map(lambda new, old: jnp.where(due, new, old),
                                   target_params, state.target_params)
    buffer_state = state.buffer
    if settings.prioritised:
      buffer_state = buffer.set_priorities(
          buffer_state, sample.indices,
          jax.lax.stop_gradient(priority_error) + PRIORITY_EPSILON)
    metrics["train/learning_rate"] = lr
    return State(params, target_params, opt_state, buffer_state,
                 state.env_steps, num_updates), metrics

  def train_steps(state, key, hp):
    state, metrics = jax.lax.scan(
        lambda s, k: update(s, k, hp), state,
        jax.random.split(key, num_updates_per_learn))
    return state, jax.tree.map(jnp.mean, metrics)

  def learn(state, trajectory, key, hp):
    # trajectory: Transition with fields [T, B, ...].
    state = state._replace(
        buffer=buffer.add(state.buffer, replay.to_sequences(trajectory)),
        env_steps=state.env_steps + steps_per_learn)
    can_learn = jnp.logical_and(buffer.can_sample(state.buffer),
                                state.env_steps >= settings.learning_starts)
    metric_shapes = jax.eval_shape(train_steps, state, key, hp)[1]
    state, metrics = jax.lax.cond(
        can_learn, lambda s: train_steps(s, key, hp),
        lambda s: (s, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype),
                                   metric_shapes)), state)
    metrics["train/epsilon"] = epsilon(hp, state.env_steps)
    metrics["train/num_updates"] = state.num_updates.astype(jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn)
