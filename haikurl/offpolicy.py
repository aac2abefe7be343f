"""The off-policy learning engine that DQN, SAC, TD3 and DDPG share.

An off-policy agent owns its replay (a flashbax buffer in its State, field
`buffer`) and counts the env steps it has stored (`env_steps`). Its `learn`
is built here around the agent's own gradient step:

    replay = offpolicy.make_replay(settings, spec)
    learn = offpolicy.make_learn(settings, replay, update)

`learn(state, trajectory, key, hp)`:
  1. adds the [rollout_length, num_envs] trajectory to the buffer;
  2. once the buffer can sample and `learning_starts` env steps are stored
     (`lax.cond`, a real branch under vmap because `init` creates the buffer,
     so its counters are unbatched), runs `gradient_steps_per_learn` steps
     in a `lax.scan`, each: sample a batch, `update(state, sample, key, hp)`,
     and for prioritised replay write the returned priorities back;
  3. returns metrics averaged over those steps plus `train/gradient_steps`
     (how many it took: 0.0 when it did not learn, when the other metrics
     are zeros and the loop leaves them out of its period means).

Every sampled batch is a `Transition` [N] ready for a one-step rule:
`reward` is the (n-step) return, `discount` the full bootstrap discount
(gamma^k for a window of k steps that did not terminate, 0 where it did:
already multiplied by `hp.discount`), and `next_obs` the pre-reset
observation to bootstrap from. With `n_step > 1` windows of consecutive
transitions of one env are sampled and cut at the first episode end
(`returns.n_step_bootstrap`): termination stops the return, truncation by a
time limit bootstraps from the true last observation, and nothing of the
next episode leaks in.

Before `learning_starts`, `explore` replaces the policy's actions with
uniform random ones.

The flashbax buffers themselves (`make_transition_buffer`,
`make_sequence_buffer`) store every transition with its own pre-reset next
observation, so a sampled transition never pairs the last step of one
episode with the first of the next; sampling before `can_sample` would
silently return stale data, hence the gate.
"""
import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import flashbax as fbx
import jax
import jax.numpy as jnp

from haikurl import augment as augment_lib
from haikurl import networks
from haikurl import returns
from haikurl import settings as settings_lib
from haikurl.types import EnvSpec, Transition, check_trajectory

PRIORITY_EPSILON = 1e-6  # keeps every stored transition sampleable


@dataclasses.dataclass(frozen=True)
class Settings(augment_lib.AugmentSettings):
  """Replay, learning-gate and augmentation settings of every off-policy
  agent (`make_learn` applies the augmentation to sampled batches)."""
  buffer_size: int = settings_lib.setting(
      1_000_000, "replay capacity in transitions (over all envs)",
      settings_lib.positive_int)
  batch_size: int = settings_lib.setting(
      256, "transitions (or n-step windows) per gradient step",
      settings_lib.positive_int)
  learning_starts: int = settings_lib.setting(
      10_000, "env steps of uniform random actions before learning",
      settings_lib.non_negative_int)
  replay_ratio: float = settings_lib.setting(
      1.0, "gradient steps per env step; num_envs * rollout_length * "
      "replay_ratio must be a whole number", settings_lib.number)

  def check(self):
    super().check()
    if self.batch_size > self.buffer_size:
      raise ValueError(f"config.agent.batch_size={self.batch_size} is larger "
                       f"than config.agent.buffer_size={self.buffer_size}.")
    per_learn = self.steps_per_learn * float(self.replay_ratio)
    if not self.replay_ratio > 0 or abs(per_learn - round(per_learn)) > 1e-6:
      raise ValueError(
          f"num_envs * rollout_length * replay_ratio = {self.num_envs} * "
          f"{self.rollout_length} * {self.replay_ratio:g} = {per_learn:g} "
          "must be a positive whole number of gradient steps per learn call "
          "(config.agent.replay_ratio).")
    if self.total_env_steps and self.learning_starts >= self.total_env_steps:
      raise ValueError(
          f"config.agent.learning_starts={self.learning_starts:,} is not "
          f"below the run's {self.total_env_steps:,} env steps: it would "
          "take no gradient step.")

  @property
  def gradient_steps_per_learn(self) -> int:
    return int(round(self.steps_per_learn * float(self.replay_ratio)))

  @property
  def total_gradient_steps(self) -> int:
    """Gradient steps over the run (after learning_starts), at least 1."""
    return max(1, int((self.total_env_steps - self.learning_starts) *
                      float(self.replay_ratio)))


@dataclasses.dataclass(frozen=True)
class ActorCriticSettings(Settings, networks.TorsoSettings):
  """Settings shared by SAC, TD3 and DDPG (defaults: Haarnoja et al. 2018
  and Fujimoto et al. 2018: 256-256 ReLU MLPs, batch 256, a 1M buffer)."""
  num_envs: int = settings_lib.setting(1, "environments stepped in parallel",
                                       settings_lib.positive_int)
  rollout_length: int = settings_lib.setting(
      4, "env steps per env between calls of learn", settings_lib.positive_int)
  actor_hidden_sizes: tuple = settings_lib.setting(
      (256, 256), "units of the actor MLP's layers", settings_lib.positive_ints)
  critic_hidden_sizes: tuple = settings_lib.setting(
      (256, 256), "units of each critic MLP's layers",
      settings_lib.positive_ints)
  activation: str = settings_lib.setting(
      "relu", "nonlinearity of both MLPs",
      settings_lib.one_of(*networks.ACTIVATIONS))


# flashbax buffers. Initialise a buffer inside the agent's `init`, which the
# loop calls inside the vmapped `train`, so that its counters stay unbatched
# and `lax.cond(buffer.can_sample(...))` remains a real branch under vmap.

def dummy_transition(spec: EnvSpec, extras: Any = ()) -> Transition:
  """One zero transition (no batch axis) with the dtypes the loop produces;
  `extras` (per-transition leaves, no batch axis) for a buffer that keeps
  what `act` returned (`to_sequences(..., keep_extras=True)`)."""
  obs = spec.dummy_obs
  zero = jnp.zeros((), jnp.float32)
  false = jnp.zeros((), bool)
  return Transition(obs=obs, action=spec.dummy_action, reward=zero,
                    discount=zero, terminated=false, truncated=false,
                    next_obs=obs, extras=extras)


def flatten(trajectory: Transition) -> Transition:
  """[T, B] transitions -> [1, T * B] items for an item buffer's `add`.

  `extras` is dropped: replayed transitions hold what the env gave.
  """
  trajectory = trajectory._replace(extras=())
  return jax.tree.map(lambda x: x.reshape((1, -1) + x.shape[2:]), trajectory)


def make_transition_buffer(buffer_size: int, batch_size: int, min_size: int,
                           prioritised: bool = False,
                           priority_exponent: float = 0.6) -> Any:
  """A flashbax item buffer of single transitions.

  Args:
    buffer_size: capacity in transitions.
    batch_size: transitions per sample.
    min_size: transitions stored before `can_sample` is true.
    prioritised: use flashbax's prioritised buffer (`set_priorities`).
    priority_exponent: alpha of prioritised replay; must be a Python number.

  Returns:
    A flashbax buffer (init, add, sample, can_sample[, set_priorities]).
  """
  if batch_size > buffer_size:
    raise ValueError(f"batch_size={batch_size} is larger than the buffer "
                     f"({buffer_size} transitions).")
  min_size = max(int(min_size), int(batch_size), 1)
  if prioritised:
    return fbx.make_prioritised_item_buffer(
        max_length=int(buffer_size), min_length=min_size,
        sample_batch_size=int(batch_size), add_sequences=True,
        add_batches=True, priority_exponent=float(priority_exponent))
  return fbx.make_item_buffer(
      max_length=int(buffer_size), min_length=min_size,
      sample_batch_size=int(batch_size), add_sequences=True, add_batches=True)


def to_sequences(trajectory: Transition,
                 keep_extras: bool = False) -> Transition:
  """[T, B] transitions -> [B, T] rows for a trajectory buffer's `add`.

  `extras` is dropped (replayed transitions hold what the env gave) unless
  `keep_extras`: a recurrent agent stores the actor carry each step was
  taken with, to replay a sequence from the state it started in.
  """
  if not keep_extras:
    trajectory = trajectory._replace(extras=())
  return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), trajectory)


def make_sequence_buffer(buffer_size: int, num_envs: int, batch_size: int,
                         sequence_length: int, min_size: int,
                         prioritised: bool = False,
                         priority_exponent: float = 0.6,
                         period: int = 1) -> Any:
  """A flashbax trajectory buffer of windows of consecutive transitions.

  Each env writes its own row (add `to_sequences(trajectory)`), so a sampled
  window holds `sequence_length` consecutive steps of one env; windows that
  would straddle the write head are never sampled. Episode ends inside a
  window are the sampler's business (see `returns.n_step_bootstrap`); every
  transition keeps its own pre-reset next observation.

  Args:
    buffer_size: capacity in transitions over all envs (rounded down to a
      multiple of num_envs).
    num_envs: rows, one per env of the training batch.
    batch_size: windows per sample.
    sequence_length: transitions per window (n of n-step returns; 1 gives
      single transitions).
    min_size: transitions stored (over all envs) before `can_sample`.
    prioritised: use flashbax's prioritised trajectory buffer; a window's
      priority is set through `set_priorities(state, indices, priorities)`.
    priority_exponent: alpha of prioritised replay; a Python number.
    period: steps between the starts of sampleable windows (1: every step
      starts one; R2D2 stores overlapping sequences with a period of about
      half their length). The rows are cut to a multiple of it (flashbax's
      prioritised buffer needs that).

  Returns:
    A flashbax trajectory buffer; `sample(...).experience` is a Transition
    of [batch_size, sequence_length] fields.
  """
  if batch_size > buffer_size:
    raise ValueError(f"batch_size={batch_size} is larger than the buffer "
                     f"({buffer_size} transitions).")
  if not 1 <= period <= sequence_length:
    raise ValueError(f"period={period} must be in [1, sequence_length="
                     f"{sequence_length}].")
  max_length = int(buffer_size) // int(num_envs)
  max_length -= max_length % int(period)
  if max_length < 2 * sequence_length:
    raise ValueError(f"buffer_size={buffer_size} over num_envs={num_envs} "
                     f"leaves {max_length} steps per env, fewer than twice "
                     f"the window of {sequence_length}.")
  min_length = max(-(-int(min_size) // int(num_envs)), int(sequence_length), 1)
  min_length = min(min_length, max_length)
  kwargs = dict(add_batch_size=int(num_envs), sample_batch_size=int(batch_size),
                sample_sequence_length=int(sequence_length),
                period=int(period),
                min_length_time_axis=min_length,
                max_length_time_axis=max_length)
  if prioritised:
    return fbx.make_prioritised_trajectory_buffer(
        priority_exponent=float(priority_exponent), **kwargs)
  return fbx.make_trajectory_buffer(**kwargs)


def importance_weights(probabilities: jax.Array, exponent) -> jax.Array:
  """Prioritised replay's importance weights, normalised by the batch maximum.

  w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (P(i) / min_j P(j))^-beta,
  so the buffer's size N cancels (Schaul et al., 2016, section 3.4).

  Args:
    probabilities: [N] sampling probabilities of the batch's items.
    exponent: beta, scalar.

  Returns:
    [N] weights in (0, 1], 1 for the least likely item of the batch.
  """
  probabilities = jnp.maximum(probabilities, 1e-12)
  return (probabilities / jnp.min(probabilities)) ** -exponent


class Sample(NamedTuple):
  """A sampled batch and where it came from.

  Attributes:
    batch: Transition [N], ready for a one-step rule (module docstring);
      from `make_sequence_replay`, raw sequences [N, sequence_length].
    indices: flashbax indices of the items (prioritised replay), else None.
    probabilities: [N] their sampling probabilities (prioritised), else None.
  """
  batch: Transition
  indices: Any
  probabilities: Optional[jax.Array]


class Replay(NamedTuple):
  """A flashbax buffer with the agent's view of it.

  init() -> buffer state (call inside the agent's `init`);
  add(state, trajectory [T, B]) -> state;
  can_sample(state) -> [] bool;
  sample(state, key, discount) -> Sample;
  set_priorities(state, indices, priorities) -> state, or None (uniform).
  """
  init: Callable[[], Any]
  add: Callable[[Any, Transition], Any]
  can_sample: Callable[[Any], jax.Array]
  sample: Callable[[Any, jax.Array, jax.Array], Sample]
  set_priorities: Optional[Callable[[Any, Any, jax.Array], Any]]


def n_step_batch(window: Transition, discount) -> Transition:
  """[N, n] windows of consecutive transitions -> [N] n-step transitions.

  Each window's return is cut at its first episode end
  (`returns.n_step_bootstrap`); `next_obs` is the observation after the
  last step kept, and `discount` is gamma^k (0 after a termination).
  """
  nstep = jax.vmap(returns.n_step_bootstrap, in_axes=(0, 0, 0, None))(
      window.reward, window.terminated, window.truncated, discount)
  rows = jnp.arange(window.reward.shape[0])
  at_end = lambda x: x[rows, nstep.index]
  return Transition(
      obs=window.obs[:, 0], action=window.action[:, 0], reward=nstep.reward,
      discount=nstep.discount, terminated=at_end(window.terminated),
      truncated=at_end(window.truncated), next_obs=at_end(window.next_obs),
      extras=())


def make_replay(settings: Settings, spec: EnvSpec, n_step: int = 1,
                prioritised: bool = False,
                priority_exponent: float = 0.6) -> Replay:
  """The agent's replay: single transitions (n_step = 1) or n-step windows.

  Args:
    settings: buffer_size, batch_size, learning_starts, num_envs.
    spec: the env's spec (shapes of the stored transitions).
    n_step: transitions per sampled window; 1 stores single transitions in
      an item buffer, n > 1 keeps one row per env in a trajectory buffer.
    prioritised: flashbax's prioritised buffer; `update` must then return
      a priority per sampled item.
    priority_exponent: alpha of prioritised replay (a Python number).
  """
  # `learning_starts` is the learn gate's; the buffer needs a batch.
  min_size = settings.batch_size
  if n_step == 1:
    buffer = make_transition_buffer(
        settings.buffer_size, settings.batch_size, min_size, prioritised,
        priority_exponent)
    to_items = flatten

    def batch_of(experience, discount):
      return experience._replace(discount=discount * experience.discount)
  else:
    buffer = make_sequence_buffer(
        settings.buffer_size, settings.num_envs, settings.batch_size, n_step,
        min_size, prioritised, priority_exponent)
    to_items = to_sequences
    batch_of = n_step_batch

  def init():
    return buffer.init(dummy_transition(spec))

  def add(state, trajectory):
    return buffer.add(state, to_items(trajectory))

  def sample(state, key, discount):
    drawn = buffer.sample(state, key)
    batch = batch_of(drawn.experience, discount)
    if prioritised:
      return Sample(batch, drawn.indices, drawn.probabilities)
    return Sample(batch, None, None)

  def set_priorities(state, indices, priorities):
    return buffer.set_priorities(state, indices,
                                 priorities + PRIORITY_EPSILON)

  return Replay(init, add, buffer.can_sample, sample,
                set_priorities if prioritised else None)


def make_sequence_replay(settings: Settings, spec: EnvSpec,
                         sequence_length: int, period: int, extras: Any,
                         prioritised: bool = False,
                         priority_exponent: float = 0.6) -> Replay:
  """Replay of whole sequences for a recurrent learner (R2D2).

  Like `make_replay` with windows, but the sample is the raw window: its
  `batch` is a Transition of [batch_size, sequence_length] fields whose
  `extras` are what `act` returned at each step (e.g. the actor carry the
  step was taken with; `extras` here is one zero example of it, no batch
  axis), and `discount` is the env's 0/1 (the learner applies gamma).

  Args:
    settings: buffer_size, batch_size, num_envs.
    spec: the env's spec.
    sequence_length: transitions per sampled sequence.
    period: steps between the starts of stored sequences.
    extras: a zero example of the per-step extras to store.
    prioritised: flashbax's prioritised trajectory buffer (a priority per
      sequence).
    priority_exponent: alpha of prioritised replay (a Python number).
  """
  buffer = make_sequence_buffer(
      settings.buffer_size, settings.num_envs, settings.batch_size,
      sequence_length, settings.batch_size, prioritised, priority_exponent,
      period)

  def sample(state, key, discount):
    del discount
    drawn = buffer.sample(state, key)
    if prioritised:
      return Sample(drawn.experience, drawn.indices, drawn.probabilities)
    return Sample(drawn.experience, None, None)

  def set_priorities(state, indices, priorities):
    return buffer.set_priorities(state, indices,
                                 priorities + PRIORITY_EPSILON)

  return Replay(
      init=lambda: buffer.init(dummy_transition(spec, extras)),
      add=lambda state, trajectory: buffer.add(
          state, to_sequences(trajectory, keep_extras=True)),
      can_sample=buffer.can_sample, sample=sample,
      set_priorities=set_priorities if prioritised else None)


def uniform_action(key, spec: EnvSpec, batch: int) -> jax.Array:
  """Uniform random actions: in [-1, 1]^D (the RescaleAction range) or
  uniform over the discrete actions."""
  if spec.discrete:
    return jax.random.randint(key, (batch,), 0, spec.num_actions)
  return jax.random.uniform(key, (batch,) + tuple(spec.action_shape),
                            minval=-1.0, maxval=1.0)


def explore(state, key, spec: EnvSpec, settings: Settings,
            policy_action: Callable[[jax.Array], jax.Array]) -> jax.Array:
  """`policy_action(key)` once `learning_starts` steps are stored, else
  uniform random actions. `state.env_steps` counts the stored env steps."""
  policy_key, random_key = jax.random.split(key)
  action = policy_action(policy_key)
  if settings.learning_starts <= 0:
    return action
  random = uniform_action(random_key, spec, action.shape[0]).astype(
      action.dtype)
  warming_up = (state.env_steps < settings.learning_starts).reshape(
      (1,) * action.ndim)
  return jnp.where(warming_up, random, action)


def make_learn(settings: Settings, replay: Replay,
               update: Callable) -> Callable:
  """Builds `learn(state, trajectory, key, hp)` around one gradient step.

  Args:
    settings: the agent's off-policy Settings.
    replay: from `make_replay`; its state is `state.buffer`.
    update: `update(state, sample: Sample, key, hp) -> (state, metrics,
      priorities)`, one gradient step. It sees `state.buffer` as () and must
      not change `env_steps`; `priorities` is [N] (|TD error| or the loss
      per item) for prioritised replay, else None.

  Returns:
    learn(state, trajectory, key, hp) -> (state, metrics). With
    `settings.augmentation` on, each sampled batch's `obs` and `next_obs`
    are augmented (`haikurl.augment`) before `update` sees them.
  """
  num_steps = settings.gradient_steps_per_learn
  prioritised = replay.set_priorities is not None
  augment = augment_lib.make_for_transitions(settings)

  def gradient_step(carry, key, hp):
    learner, buffer_state = carry
    sample_key, update_key = jax.random.split(key)
    sample = replay.sample(buffer_state, sample_key, hp.discount)
    if augment is not None:
      update_key, augment_key = jax.random.split(update_key)
      sample = sample._replace(batch=augment(augment_key, sample.batch))
    learner, metrics, priorities = update(learner, sample, update_key, hp)
    if prioritised:
      buffer_state = replay.set_priorities(
          buffer_state, sample.indices, jax.lax.stop_gradient(priorities))
    return (learner, buffer_state), metrics

  def train(learner, buffer_state, key, hp):
    (learner, buffer_state), metrics = jax.lax.scan(
        lambda c, k: gradient_step(c, k, hp), (learner, buffer_state),
        jax.random.split(key, num_steps))
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["train/gradient_steps"] = jnp.asarray(num_steps, jnp.float32)
    return learner, buffer_state, metrics

  def learn(state, trajectory, key, hp):
    check_trajectory(trajectory, settings)
    buffer_state = replay.add(state.buffer, trajectory)
    env_steps = state.env_steps + trajectory.reward.size
    learner = state._replace(buffer=(), env_steps=env_steps)
    ready = jnp.logical_and(replay.can_sample(buffer_state),
                            env_steps >= settings.learning_starts)
    shapes = jax.eval_shape(train, learner, buffer_state, key, hp)[2]
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    if prioritised:
      # The buffer's priorities change inside the branch: it goes through.
      learner, buffer_state, metrics = jax.lax.cond(
          ready, lambda l, b: train(l, b, key, hp),
          lambda l, b: (l, b, zeros), learner, buffer_state)
    else:
      # Read-only in the branch: kept out of its outputs (no copy).
      learner, metrics = jax.lax.cond(
          ready, lambda l, b: train(l, b, key, hp)[::2],
          lambda l, b: (l, zeros), learner, buffer_state)
    return learner._replace(buffer=buffer_state), metrics

  return learn
