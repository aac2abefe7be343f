"""Records shared by every part of haikurl: the env spec, time steps,
transitions and the agent triple.

Shapes use `B` for the batch of environments and `T` for time.
"""
from typing import Any, Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PRNGKey = jax.Array
Params = Any
AgentState = Any
HParams = Any


class EnvSpec(NamedTuple):
  """What an agent needs to know of an environment to build its networks.

  Attributes:
    name: the environment's full name, e.g. "gymnax:CartPole-v1".
    obs_shape: shape of one observation (no batch axis).
    obs_dtype: dtype of observations (float32 after our adapters).
    num_actions: number of discrete actions, or None for a continuous space.
    action_shape: () for discrete actions, (action_dim,) for continuous.
    action_low, action_high: numpy bounds of a continuous space (None when
      discrete).
    max_episode_steps: the time limit after which an episode is truncated.
  """
  name: str
  obs_shape: Tuple[int, ...]
  obs_dtype: Any
  num_actions: Optional[int]
  action_shape: Tuple[int, ...]
  action_low: Optional[np.ndarray]
  action_high: Optional[np.ndarray]
  max_episode_steps: int

  @property
  def discrete(self) -> bool:
    return self.num_actions is not None

  @property
  def action_dim(self) -> int:
    """Number of discrete actions, or the size of a continuous action."""
    return self.num_actions if self.discrete else int(np.prod(self.action_shape))

  @property
  def dummy_obs(self) -> Array:
    """One observation of zeros (no batch axis), for network initialisation."""
    return jnp.zeros(self.obs_shape, self.obs_dtype)

  @property
  def dummy_action(self) -> Array:
    dtype = jnp.int32 if self.discrete else jnp.float32
    return jnp.zeros(self.action_shape, dtype)


class TimeStep(NamedTuple):
  """What a batched, auto-resetting env returns after each step.

  Attributes:
    observation: [B, ...] the observation to act on next (after an auto-reset
      this is the first observation of the new episode).
    reward: [B] float32 reward of the step just taken.
    discount: [B] float32, 0.0 only where the episode truly terminated, 1.0
      otherwise (truncation keeps 1.0: the value of `next_observation`
      bootstraps the target).
    terminated: [B] bool, the episode reached a terminal state.
    truncated: [B] bool, the episode was cut by a time limit (and did not
      terminate).
    next_observation: [B, ...] the observation the step led to, before any
      auto-reset. Equal to `observation` except where an episode ended.
    episode_return: [B] float32 undiscounted return of the current episode,
      including this step's reward (the final return where it ended).
    episode_length: [B] int32 length of the current episode including this step.
  """
  observation: Array
  reward: Array
  discount: Array
  terminated: Array
  truncated: Array
  next_observation: Array
  episode_return: Array
  episode_length: Array

  @property
  def done(self) -> Array:
    return jnp.logical_or(self.terminated, self.truncated)


class Transition(NamedTuple):
  """One step of experience, as the loop hands it to `Agent.learn`.

  Inside a trajectory every field has leading axes [T, B].

  Attributes:
    obs: observation acted on (o_tm1).
    action: action taken (a_tm1).
    reward: reward received (r_t).
    discount: 0.0 at a true termination, else 1.0 (d_t; multiply by gamma).
    terminated, truncated: bools, kept apart.
    next_obs: observation reached, before any auto-reset (o_t).
    extras: whatever `act` returned beside the action (log-probs, values).
  """
  obs: Array
  action: Array
  reward: Array
  discount: Array
  terminated: Array
  truncated: Array
  next_obs: Array
  extras: Any


class ActorCarry(NamedTuple):
  """What a recurrent agent's `act` receives beside the observation: its own
  per-environment state and the previous step's action and reward.

  The loop builds it (`initial_carry`), threads it through the rollout and
  puts it back to its initial value where an episode ended (termination or
  truncation) before the next action, so at an episode's first step `core`
  is the agent's initial state and the previous action and reward are zeros
  (rlpyt's convention).

  Attributes:
    core: the agent's own state ([B, ...] leaves), e.g. an LSTM's (h, c).
    prev_action: [B, *action_shape] the action taken at the previous step.
    prev_reward: [B] float32 the reward received at the previous step.
  """
  core: Any
  prev_action: Array
  prev_reward: Array


class Agent(NamedTuple):
  """An agent as three pure, jittable functions (and, if it is recurrent, a
  fourth that makes its actor carry).

  init(key, hp) -> state
  learn(state, trajectory: Transition[T, B], key, hp) -> (state, metrics dict)

  A feed-forward agent (`initial_carry` None):
    act(state, obs[B, ...], key, hp, evaluation: static bool)
        -> (action[B, ...], extras)
  A recurrent agent:
    initial_carry(key, num_envs) -> core (its per-environment state)
    act(state, carry: ActorCarry, obs[B, ...], key, hp, evaluation)
        -> (action[B, ...], core, extras)
  The loop owns the ActorCarry: it stores the returned core with the action
  and the reward that followed, and resets it at episode ends
  (`next_carry`). An agent that needs the carry in `learn` (to replay its
  sequences from the state they started in) returns it in `extras`.
  """
  init: Callable[..., AgentState]
  act: Callable[..., Tuple[Array, Any]]
  learn: Callable[..., Tuple[AgentState, dict]]
  initial_carry: Optional[Callable[..., Any]] = None

  @property
  def recurrent(self) -> bool:
    return self.initial_carry is not None


def initial_carry(agent: Agent, key: PRNGKey, num_envs: int,
                  spec: "EnvSpec"):
  """The actor carry at the start of every episode: an `ActorCarry` for a
  recurrent agent, () (nothing, at no cost) for a feed-forward one."""
  if not agent.recurrent:
    return ()
  return ActorCarry(
      agent.initial_carry(key, num_envs),
      jnp.zeros((num_envs,) + tuple(spec.action_shape),
                spec.dummy_action.dtype),
      jnp.zeros((num_envs,), jnp.float32))


def act(agent: Agent, state, carry, obs: Array, key: PRNGKey, hp,
        evaluation: bool):
  """One action of either kind of agent: (action, core, extras); the core
  is () for a feed-forward agent."""
  if not agent.recurrent:
    action, extras = agent.act(state, obs, key, hp, evaluation)
    return action, (), extras
  return agent.act(state, carry, obs, key, hp, evaluation)


def reset_where(done: Array, fresh, carry):
  """`carry` with the rows where `done` replaced by `fresh`'s ([B] bool)."""
  def pick(f, c):
    mask = jnp.reshape(done, done.shape + (1,) * (c.ndim - done.ndim))
    return jnp.where(mask, f, c)
  return jax.tree.map(pick, fresh, carry)


def next_carry(carry, core, action: Array, reward: Array, done: Array,
               fresh):
  """The carry of the next step: `core` with this step's action and reward,
  reset to `fresh` (the initial carry) where the episode ended. () stays ()."""
  if isinstance(carry, tuple) and not carry:
    return ()
  return reset_where(done, fresh,
                     ActorCarry(core, action.astype(carry.prev_action.dtype),
                                reward.astype(jnp.float32)))


def check_trajectory(trajectory: Transition, settings) -> None:
  """Raises a one-line ValueError unless `trajectory` is [rollout_length,
  num_envs] (checked while tracing, so it costs nothing at run time)."""
  expected = (settings.rollout_length, settings.num_envs)
  got = tuple(trajectory.reward.shape)
  if got != expected:
    raise ValueError(
        f"learn expects a trajectory of [rollout_length, num_envs] = "
        f"{list(expected)} transitions (the settings' rollout_length and "
        f"num_envs), got rewards of shape {list(got)}.")
