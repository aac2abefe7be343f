"""What users test their agents with: probe environments with known answers,
`tiny(config)` to shrink any agent's config, and random-input builders.

Probe environments (bsuite's "basic" probes, Osband et al., 2020) are real
`haikurl.envs.Env`s: batched, auto-resetting, termination and truncation
kept apart, the pre-reset `next_observation` on every step. Each has fixed
episodes and a closed-form answer (its `value` and, where actions matter,
`best_action`), so a learner can be checked against the number it must
reach, in seconds on a CPU. Importing this module registers them:

  name                    episode  answer (gamma = discount)
  probe:one_step          1 step   reward 1, terminate: V = 1
  probe:two_step          2 steps  reward 0 then 1: V(s0) = gamma, V(s1) = 1
  probe:obs_reward        1 step   obs = +-1 at random, reward = obs: V(s) = s
  probe:action_reward     1 step   reward +1 for the best action, else less
  probe:time_limit        5 steps  constant obs, reward 1, truncated (never
                                   terminated): V = 1 / (1 - gamma)
  probe:memory            3 steps  a cue (+-1) in the first obs only; the last
                                   action must match it: V(s0) = gamma^2 with
                                   memory, 0 without

Each also exists as `probe:<name>_continuous` (a 1-D action in [-1, 1]);
the discrete ones have 2 actions. So `config.env = "probe:one_step"` works
through `make_train` and `haikurl-train`; `config.env_kwargs` may set a
probe's constructor arguments (e.g. `as_termination=True`).

    from haikurl import testing
    config = testing.tiny(ppo_config.get_config(), env="probe:two_step")
    train, state, metrics = testing.run(config)      # jitted, no evaluation
    # then read the agent's value of [1, 0, 0] from state.agent_state: 0.9 expected

`random_trajectory`, `random_q_values`, `random_categorical_q`,
`random_quantile_q` and `random_policy` build inputs for unit tests of a
`learn` or a loss; `greedy_actions` asks any agent for its evaluation
actions; `write_dataset` writes a Minari dataset of any policy in any env
(a probe's expert, say) for an offline agent to learn from;
`read_summary` and `read_rows` read a finished run's workdir.
"""
import json
import os
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_dict

from haikurl import envs as envs_lib
from haikurl import networks
from haikurl import types
from haikurl.envs.base import Env, first_timestep
from haikurl.types import EnvSpec, TimeStep, Transition

# The best continuous action of `probe:action_reward_continuous`.
BEST_CONTINUOUS_ACTION = 0.5


class ProbeState(NamedTuple):
  t: jax.Array               # [B] int32 steps taken in the current episode
  context: jax.Array         # [B] float32 the episode's random sign (or 0)
  episode_return: jax.Array  # [B] float32
  episode_length: jax.Array  # [B] int32


class Probe(Env):
  """A batch of fixed-length episodes with a known answer.

  Subclasses set `length` and `obs_dim` and define `observation_at(t, context)`
  and `reward(t, context, action)`; the episode ends after `length` steps,
  as a termination, or as a truncation when `truncate` is set (then
  `discount` stays 1 and a learner must bootstrap from `next_observation`).

  Args:
    num_envs: B.
    continuous: a 1-D (or `action_dim`) action in [-1, 1] instead of 2
      discrete actions.
    action_dim: size of a continuous action.
  """
  length: int = 1
  obs_dim: int = 1
  truncate: bool = False
  probe_name: str = "probe"

  def __init__(self, num_envs: int, continuous: bool = False,
               action_dim: int = 1):
    self.num_envs = int(num_envs)
    self.continuous = bool(continuous)
    suffix = "_continuous" if continuous else ""
    name = f"probe:{self.probe_name}{suffix}"
    if continuous:
      ones = np.ones((int(action_dim),), np.float32)
      self.spec = EnvSpec(name, (self.obs_dim,), jnp.float32, None,
                          (int(action_dim),), -ones, ones, self.length)
    else:
      self.spec = EnvSpec(name, (self.obs_dim,), jnp.float32, 2, (), None,
                          None, self.length)

  # What a probe defines.
  def observation_at(self, t: jax.Array, context: jax.Array) -> jax.Array:
    """[B, obs_dim] observation after `t` [B] steps of an episode."""
    raise NotImplementedError

  def reward(self, t: jax.Array, context: jax.Array,
             action: jax.Array) -> jax.Array:
    """[B] reward of acting `action` at step `t` [B]."""
    raise NotImplementedError

  def sample_context(self, key: jax.Array) -> jax.Array:
    """[B] the random part of a new episode; none by default."""
    del key
    return jnp.zeros((self.num_envs,), jnp.float32)

  # The Env contract.
  def reset(self, key):
    context = self.sample_context(key)
    zeros = jnp.zeros((self.num_envs,), jnp.int32)
    state = ProbeState(zeros, context, jnp.zeros((self.num_envs,), jnp.float32),
                       zeros)
    return state, first_timestep(self.observation_at(zeros, context))

  def step(self, state, action, key):
    reward = self.reward(state.t, state.context, action).astype(jnp.float32)
    t = state.t + 1
    done = t >= self.length
    next_observation = self.observation_at(t, state.context)       # pre-reset
    context = jnp.where(done, self.sample_context(key), state.context)
    t = jnp.where(done, 0, t)
    terminated = jnp.logical_and(done, not self.truncate)
    truncated = jnp.logical_and(done, self.truncate)
    episode_return = state.episode_return + reward
    episode_length = state.episode_length + 1
    timestep = TimeStep(
        observation=self.observation_at(t, context), reward=reward,
        discount=1.0 - terminated.astype(jnp.float32),
        terminated=terminated, truncated=truncated,
        next_observation=next_observation, episode_return=episode_return,
        episode_length=episode_length)
    state = ProbeState(t, context, jnp.where(done, 0.0, episode_return),
                       jnp.where(done, 0, episode_length))
    return state, timestep

  # Helpers for subclasses.
  def _sign(self, key):
    return 2.0 * jax.random.bernoulli(key, 0.5, (self.num_envs,)).astype(
        jnp.float32) - 1.0


def _first_action(action):
  """[B] the discrete action, or the first coordinate of a continuous one."""
  return action if action.ndim == 1 else action[:, 0]


class OneStep(Probe):
  """`probe:one_step`: one step, reward 1, terminate.

  Observation [1] (the terminal `next_observation` is [0]). Any action.
  Answer: V(s0) = 1, Q(s0, a) = 1 for every a.
  """
  probe_name = "one_step"

  def observation_at(self, t, context):
    del context
    return (1.0 - t.astype(jnp.float32))[:, None]

  def reward(self, t, context, action):
    del context, action
    return jnp.ones_like(t, jnp.float32)

  def value(self, observation, discount):
    """[B] V of the start observation: 1."""
    del discount
    return jnp.ones(observation.shape[:1], jnp.float32)


class TwoStep(Probe):
  """`probe:two_step`: two steps, rewards 0 then 1, terminate.

  Observation: one-hot of the step, [1, 0, 0] then [0, 1, 0] (the terminal
  `next_observation` is [0, 0, 1]). Any action.
  Answer: V(s1) = 1; V(s0) = 0 + gamma * V(s1) = gamma.
  """
  probe_name = "two_step"
  length = 2
  obs_dim = 3

  def observation_at(self, t, context):
    del context
    return jax.nn.one_hot(t, 3, dtype=jnp.float32)

  def reward(self, t, context, action):
    del context, action
    return (t == 1).astype(jnp.float32)

  def value(self, observation, discount):
    """[B] V(s0) = gamma, V(s1) = 1 (by the one-hot step)."""
    return jnp.where(observation[:, 1] > 0.5, 1.0,
                     jnp.asarray(discount, jnp.float32))


class ObsReward(Probe):
  """`probe:obs_reward`: one step; observation +1 or -1 (at random, per
  episode), reward equal to it, terminate.

  Answer: V(s) = s, whatever the action. (Terminal `next_observation`: [0].)
  """
  probe_name = "obs_reward"

  def sample_context(self, key):
    return self._sign(key)

  def observation_at(self, t, context):
    return jnp.where(t == 0, context, 0.0)[:, None]

  def reward(self, t, context, action):
    del t, action
    return context

  def value(self, observation, discount):
    """[B] V(s) = s."""
    del discount
    return observation[:, 0]


class ActionReward(Probe):
  """`probe:action_reward`: one step from observation [1]; the reward
  depends on the action only.

  Discrete (2 actions): reward +1 for action 1, -1 for action 0, so
  Q(s, 1) = 1, Q(s, 0) = -1. Continuous: reward 1 - mean((a - 0.5)^2), so
  the best action is 0.5 in every coordinate and Q(s, a) is the reward.
  Answer: V*(s) = 1 under the best action.
  """
  probe_name = "action_reward"

  def observation_at(self, t, context):
    del context
    return (1.0 - t.astype(jnp.float32))[:, None]

  def reward(self, t, context, action):
    del t, context
    if self.continuous:
      action = jnp.clip(action, -1.0, 1.0)
      return 1.0 - jnp.mean(jnp.square(action - BEST_CONTINUOUS_ACTION),
                            axis=-1)
    return jnp.where(action == 1, 1.0, -1.0)

  def q_value(self, action):
    """[B] the closed-form Q(s0, action) (= the reward)."""
    return self.reward(None, None, action)

  def best_action(self, observation):
    """[B] (discrete) or [B, D] (continuous) optimal actions."""
    batch = observation.shape[:1]
    if self.continuous:
      return jnp.full(batch + self.spec.action_shape, BEST_CONTINUOUS_ACTION,
                      jnp.float32)
    return jnp.ones(batch, jnp.int32)

  def value(self, observation, discount):
    """[B] V*(s0) = 1."""
    del discount
    return jnp.ones(observation.shape[:1], jnp.float32)


class TimeLimit(Probe):
  """`probe:time_limit`: a constant observation [1], reward 1 on every step,
  the episode cut by a time limit after `length` (5) steps: truncated,
  never terminated, so `discount` is always 1.

  The state never changes, so the true value bootstraps through the limit:
  V = 1 + gamma * V, V = 1 / (1 - gamma) (10 at gamma = 0.9). A learner that
  treats the truncation as a termination learns, in the steady state of
  its samples, V = 1 + gamma * V * (L - 1) / L:
  V = 1 / (1 - gamma * (L - 1) / L) (3.57 at gamma = 0.9, L = 5) by TD(0),
  2.63 by Monte Carlo (`terminating_value`).

  Args:
    as_termination: report the time limit as a termination instead (a
      copy of the probe on which the correct answer is the second value).
    length: steps per episode.
  """
  probe_name = "time_limit"
  length = 5
  truncate = True

  def __init__(self, num_envs, continuous=False, action_dim=1,
               as_termination: bool = False, length: int = 5):
    self.length = int(length)
    self.truncate = not as_termination
    super().__init__(num_envs, continuous, action_dim)

  def observation_at(self, t, context):
    del context
    return jnp.ones(t.shape + (1,), jnp.float32)

  def reward(self, t, context, action):
    del context, action
    return jnp.ones_like(t, jnp.float32)

  def value(self, observation, discount):
    """[B] 1 / (1 - gamma): the value that bootstraps through truncation."""
    return jnp.full(observation.shape[:1], 1.0 / (1.0 - discount), jnp.float32)

  def terminating_value(self, discount, lambda_: float = 0.0) -> float:
    """What a learner that treats the limit as a termination converges to.

    The constant observation gets one value V, fitted to the targets of all
    L positions of an episode: the fixed point V = mean_k G_k(V) of the
    lambda-return G_k from position k (L - k steps left, the last one
    terminal). lambda 0 (TD(0), e.g. DQN): 1 / (1 - gamma (L - 1) / L);
    lambda 1 (Monte Carlo): mean_k (1 - gamma^(L - k)) / (1 - gamma).
    GAE's lambda-returns lie between the two.
    """
    g, lam, a, b = float(discount), float(lambda_), 0.0, 0.0
    for m in range(1, self.length + 1):          # steps left at position k
      partial = lambda n: (1.0 - g**n) / (1.0 - g)  # sum_{i < n} gamma^i
      for n in range(1, m):        # n-step returns that bootstrap from V
        weight = (1.0 - lam) * lam**(n - 1)
        a += weight * partial(n)
        b += weight * g**n
      a += lam**(m - 1) * partial(m)               # the one that ends
    return (a / self.length) / (1.0 - b / self.length)


class Memory(Probe):
  """`probe:memory`: the first observation shows a cue (+1 or -1, at random),
  later ones are blank; the reward of the last of `length` (3) steps is
  +1 if the action matches the cue (discrete: action 1 for +1, 0 for -1;
  continuous: reward = clip(a, -1, 1) * cue), -1 (discrete) otherwise;
  earlier rewards are 0.

  Observation: [cue at step 0 else 0, t / length]. Answer: an agent that
  remembers the cue gets 1 at the end, V(s_t) = gamma^(length - 1 - t); a
  feed-forward agent sees the same last observation for either cue and
  cannot beat an expected final reward of 0 (chance).
  """
  probe_name = "memory"
  length = 3
  obs_dim = 2

  def __init__(self, num_envs, continuous=False, action_dim=1,
               length: int = 3):
    self.length = int(length)
    super().__init__(num_envs, continuous, action_dim)

  def sample_context(self, key):
    return self._sign(key)

  def observation_at(self, t, context):
    cue = jnp.where(t == 0, context, 0.0)
    return jnp.stack([cue, t.astype(jnp.float32) / self.length], axis=-1)

  def reward(self, t, context, action):
    last = t == self.length - 1
    if self.continuous:
      match = jnp.clip(_first_action(action), -1.0, 1.0) * context
    else:
      match = jnp.where((action == 1) == (context > 0), 1.0, -1.0)
    return jnp.where(last, match, 0.0)

  def value(self, observation, discount):
    """[B] V(s_t) = gamma^(length - 1 - t) for an agent with memory."""
    t = jnp.round(observation[:, 1] * self.length)
    return jnp.asarray(discount, jnp.float32) ** (self.length - 1 - t)


PROBES = {cls.probe_name: cls for cls in
          (OneStep, TwoStep, ObsReward, ActionReward, TimeLimit, Memory)}


def _register():
  for name, cls in PROBES.items():
    envs_lib.register(f"probe:{name}",
                      lambda num_envs, cls=cls, **kw: cls(num_envs, **kw))
    envs_lib.register(
        f"probe:{name}_continuous",
        lambda num_envs, cls=cls, **kw: cls(num_envs, continuous=True, **kw))


_register()


def make_probe(name: str, num_envs: int = 1, **kwargs) -> Probe:
  """The probe `name` ("one_step" or "probe:one_step_continuous", ...),
  unwrapped (no action rescaling: probes act in [-1, 1] already)."""
  name = name.split(":", 1)[-1]
  if name.endswith("_continuous"):
    name, kwargs = name[:-len("_continuous")], dict(kwargs, continuous=True)
  if name not in PROBES:
    raise ValueError(f"unknown probe {name!r}; known: {', '.join(PROBES)}.")
  return PROBES[name](num_envs, **kwargs)


# Tiny configs.

def tiny(config: config_dict.ConfigDict, *, num_envs: int = 2,
         rollout_length: int = 4, hidden: int = 8, iterations: int = 2,
         periods: int = 1, batch_size: int = 8, buffer_size: int = 64,
         learning_starts: int = 8, num_minibatches: int = 2,
         num_epochs: int = 1, num_atoms: int = 5, env: Optional[str] = None,
         **overrides) -> config_dict.ConfigDict:
  """A copy of `config` shrunk to compile and run in seconds on a CPU.

  Works for any agent: the config is first completed with the agent's
  defaults (`haikurl.complete_config`), then what is shrunk is decided by
  the keys its `agent` section has, never by its name (`*hidden_sizes` ->
  (hidden, hidden), a recurrent core's `core_size` and `head_sizes`,
  `buffer_size`, `batch_size`, `learning_starts`, `num_minibatches`,
  `num_epochs`, `num_atoms` (and IQN's sample counts), replayed sequences
  (R2D2's `sequence_length` 4, `sequence_period` 2, `burn_in` 1, `n_step`
  2); `replay_ratio` -> one gradient step per learn call). The run is
  `periods` evaluation periods of `iterations` learn calls of `num_envs *
  rollout_length` env steps (an offline agent's: `iterations` gradient
  steps, num_envs and rollout_length kept at 1; set its `dataset` in
  `overrides`), with 2 evaluation episodes. `config` is not modified.

  Args:
    config: a full config (e.g. a preset from configs/*.py).
    env: another environment (its `env_kwargs` are then cleared).
    **overrides: values for keys of `config.agent`, or else of `config`
      (e.g. `discount=0.9`, `total_env_steps=...`), applied last.

  Returns:
    The shrunk config (locked if `config` was).
  """
  from haikurl import loop  # pylint: disable=g-import-not-at-top
  from haikurl import offline  # pylint: disable=g-import-not-at-top
  from haikurl import registry  # pylint: disable=g-import-not-at-top
  c = loop.complete_config(config.copy_and_resolve_references())
  a = c.agent
  # An offline agent's iteration is one gradient step (haikurl/offline.py):
  # its num_envs and rollout_length stay 1.
  if offline.is_offline(registry.lookup(a.name)):
    num_envs = rollout_length = 1
  with c.unlocked():
    if env is not None:
      c.env = env
      if "env_kwargs" in c:
        c.env_kwargs = config_dict.ConfigDict()
    a.num_envs, a.rollout_length = num_envs, rollout_length
    steps = num_envs * rollout_length
    for key in list(a.keys()):
      if key.endswith("hidden_sizes"):
        a[key] = (hidden, hidden)
      elif key in ("head_sizes", "core_size"):  # recurrent agents
        a[key] = (hidden,) if key == "head_sizes" else hidden
    # Replayed sequences (R2D2) short enough for the tiny buffer.
    for key, value in dict(sequence_length=4, sequence_period=2,
                           burn_in=1, n_step=2).items():
      if key in a and "sequence_length" in a:
        a[key] = value
    sizes = dict(buffer_size=buffer_size, batch_size=min(batch_size,
                                                        buffer_size),
                 # below the run's length (a longer one is refused)
                 learning_starts=min(learning_starts,
                                     steps * iterations * periods - 1),
                 num_minibatches=num_minibatches, num_epochs=num_epochs,
                 num_atoms=num_atoms, replay_ratio=1.0 / steps)
    # IQN's sample counts (N, N', K) shrink with the atoms.
    sizes.update({k: num_atoms for k in ("num_tau_samples",
                                         "num_tau_prime_samples",
                                         "num_quantile_samples")})
    for key, value in sizes.items():
      if key in a:
        a[key] = value
    c.eval_every = steps * iterations
    c.total_env_steps = steps * iterations * periods
    c.num_eval_episodes = 2
    if "num_seeds" in c:
      c.num_seeds = 1
    for key, value in overrides.items():
      if key in a:
        a[key] = value
      elif key in c:
        c[key] = value
      else:
        raise ValueError(f"tiny: {key!r} is neither a key of config.agent "
                         "nor of config.")
  return c


# Random inputs.

def random_actions(key: jax.Array, spec: EnvSpec, shape=()) -> jax.Array:
  """Uniform valid actions of `spec`, with leading `shape`: int32 in
  [0, num_actions), or float32 in the spec's bounds."""
  shape = tuple(shape)
  if spec.discrete:
    return jax.random.randint(key, shape, 0, spec.num_actions, jnp.int32)
  low = jnp.broadcast_to(jnp.asarray(spec.action_low, jnp.float32),
                         shape + tuple(spec.action_shape))
  high = jnp.broadcast_to(jnp.asarray(spec.action_high, jnp.float32),
                          low.shape)
  return jax.random.uniform(key, low.shape, jnp.float32, low, high)


def random_trajectory(key: jax.Array, spec: EnvSpec, num_steps: int,
                      num_envs: int, extras: Any = (),
                      termination_prob: float = 0.1,
                      truncation_prob: float = 0.05) -> Transition:
  """A random [T, B] trajectory as the loop hands it to `learn`.

  Observations are standard normal, actions uniform, rewards standard
  normal; each step ends its episode by termination with probability
  `termination_prob`, else by truncation with `truncation_prob`. It obeys
  the loop's invariants: `discount` is 0 exactly at terminations,
  `next_obs[t] == obs[t + 1]` unless step t ended an episode (then
  `next_obs[t]` is a pre-reset observation of its own).

  Args:
    key: PRNG key.
    spec: the env spec (observation shape, actions).
    num_steps, num_envs: T and B.
    extras: a pytree of one step's extras for one env, as arrays or
      `jax.ShapeDtypeStruct`s (e.g. PPO's `Extras(log_prob, value)` of
      shape ()); each leaf is filled with standard normal values of shape
      [T, B, *leaf.shape] (float leaves) or zeros (others).

  Returns:
    Transition with [T, B, ...] fields.
  """
  keys = jax.random.split(key, 7)
  tb = (num_steps, num_envs)
  obs = jax.random.normal(keys[0], (num_steps + 1, num_envs) +
                          tuple(spec.obs_shape), jnp.float32)
  u = jax.random.uniform(keys[1], tb)
  terminated = u < termination_prob
  truncated = jnp.logical_and(~terminated,
                              u < termination_prob + truncation_prob)
  done = jnp.logical_or(terminated, truncated)
  final = jax.random.normal(keys[2], obs[1:].shape, jnp.float32)
  mask = done.reshape(tb + (1,) * len(spec.obs_shape))
  next_obs = jnp.where(mask, final, obs[1:])

  leaves, treedef = jax.tree.flatten(extras)
  leaf_keys = jax.random.split(keys[3], max(len(leaves), 1))
  filled = []
  for leaf, leaf_key in zip(leaves, leaf_keys):
    shape, dtype = tb + tuple(leaf.shape), leaf.dtype
    if jnp.issubdtype(dtype, jnp.floating):
      filled.append(jax.random.normal(leaf_key, shape, dtype))
    else:
      filled.append(jnp.zeros(shape, dtype))
  return Transition(
      obs=obs[:-1], action=random_actions(keys[4], spec, tb),
      reward=jax.random.normal(keys[5], tb, jnp.float32),
      discount=1.0 - terminated.astype(jnp.float32),
      terminated=terminated, truncated=truncated, next_obs=next_obs,
      extras=jax.tree.unflatten(treedef, filled))


def random_q_values(key: jax.Array, batch: int,
                    num_actions: int) -> networks.QValues:
  """QValues [batch, num_actions] of standard normal values."""
  return networks.QValues(jax.random.normal(key, (batch, num_actions)))


def random_categorical_q(key: jax.Array, batch: int, num_actions: int,
                         atoms: jax.Array) -> networks.CategoricalQ:
  """A C51 head's output: random logits [B, A, K] over `atoms` [K], with
  q_values their expectations (consistent, as the real head's)."""
  atoms = jnp.asarray(atoms, jnp.float32)
  logits = jax.random.normal(key, (batch, num_actions, atoms.shape[0]))
  q_values = jnp.einsum("bak,k->ba", jax.nn.softmax(logits, axis=-1), atoms)
  return networks.CategoricalQ(q_values, logits, atoms)


def random_quantile_q(key: jax.Array, batch: int, num_actions: int,
                      num_quantiles: int) -> networks.QuantileQ:
  """A QR head's output: sorted random quantiles [B, N, A], tau [N] the
  midpoints (2i + 1) / 2N, q_values [B, A] their means."""
  dist = jnp.sort(jax.random.normal(key, (batch, num_quantiles, num_actions)),
                  axis=1)
  tau = (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles
  return networks.QuantileQ(jnp.mean(dist, axis=1), dist, tau)


def random_policy(key: jax.Array, batch: int, spec: EnvSpec):
  """A policy head's output for `spec`: CategoricalPolicy logits [B, A] or
  GaussianPolicy mean and log_std [B, D]."""
  if spec.discrete:
    return networks.CategoricalPolicy(
        jax.random.normal(key, (batch, spec.num_actions)))
  mean_key, std_key = jax.random.split(key)
  shape = (batch, spec.action_dim)
  return networks.GaussianPolicy(
      jax.random.normal(mean_key, shape),
      jax.random.uniform(std_key, shape, minval=-1.0, maxval=0.0))


__all__ = ["Probe", "ProbeState", "OneStep", "TwoStep", "ObsReward",
           "ActionReward", "TimeLimit", "Memory", "PROBES", "make_probe",
           "tiny", "random_actions", "random_trajectory", "random_q_values",
           "random_categorical_q", "random_quantile_q", "random_policy",
           "BEST_CONTINUOUS_ACTION", "run", "greedy_actions",
           "write_dataset"]


def run(config: config_dict.ConfigDict, seed: int = 0, agent: Any = None,
        callbacks: Optional[dict] = None):
  """Trains `config` once (jitted, on the default device), for tests.

  Args:
    config: a haikurl config (e.g. `tiny(preset, env="probe:two_step")`).
    seed: the PRNG seed of the run.
    agent: an agent module (default: `config.agent.name`'s).
    callbacks: as `make_train`'s; default none (no evaluation episodes,
      which compile a loop of their own).

  Returns:
    (train, state, metrics): the `Train`, the final `TrainState` and the
    metrics (numpy, leading [num_evals] axis).
  """
  from haikurl import loop  # pylint: disable=g-import-not-at-top
  train = loop.make_train(config, agent=agent,
                          callbacks={} if callbacks is None else callbacks)
  # Train holds a ConfigDict (unhashable): jit a closure rather than it.
  state, metrics = jax.jit(lambda key: train(key))(jax.random.key(seed))
  return train, state, jax.device_get(metrics)


def greedy_actions(train, state, observations) -> jax.Array:
  """The agent's evaluation actions on `observations` [N, ...], through
  `Agent.act` (any agent; a recurrent one acts from its initial carry, as at
  an episode's first step)."""
  obs = jnp.asarray(observations, jnp.float32)
  carry = types.initial_carry(train.agent, jax.random.key(1), obs.shape[0],
                              train.env.spec)
  action, _, _ = types.act(train.agent, state.agent_state, carry, obs,
                           jax.random.key(0), train.default_hparams, True)
  return action


def write_dataset(path: str, env: str, policy, episodes: int,
                  seed: int = 0, num_envs: int = 0, **env_kwargs) -> str:
  """Plays `policy` in `env` and writes `episodes` complete episodes as a
  Minari dataset (`haikurl.datasets`, needs minari) for offline tests.

      path = testing.write_dataset(str(tmp_path / "expert-v0"),
                                   "probe:action_reward",
                                   lambda obs, key: jnp.ones(obs.shape[:1],
                                                             jnp.int32), 64)

  Args:
    path: the new dataset folder, named `<name>-v<version>`.
    env: an environment name (`haikurl.envs.make`).
    policy: `policy(obs [B, ...], key) -> actions` in the env's own units
      (its bounds, not [-1, 1], for a continuous env other than a probe).
    episodes: how many episodes to write.
    seed: PRNG seed of the rollout.
    num_envs: envs stepped in parallel (default min(episodes, 64)).
    **env_kwargs: the env's parameters (recorded in the dataset).

  Returns:
    `path`.
  """
  from haikurl import collect  # pylint: disable=g-import-not-at-top
  from haikurl import datasets  # pylint: disable=g-import-not-at-top
  num_envs = num_envs or min(episodes, 64)
  batch = envs_lib.make(env, num_envs, rescale_actions=False, **env_kwargs)
  spec = batch.spec
  per_env = -(-episodes // num_envs)
  steps = per_env * int(spec.max_episode_steps or 1000)
  rollout = jax.jit(collect.make_rollout(policy, batch, spec, steps))
  zeros = jnp.zeros((num_envs,), jnp.float32)
  out = jax.device_get(rollout(jax.random.key(seed), zeros, zeros))
  by_env = datasets.episodes_from_rollout(**out)
  chosen = [e for i in range(per_env) for env_episodes in by_env
            for e in env_episodes[i:i + 1]][:episodes]
  if len(chosen) < episodes:
    raise ValueError(f"only {len(chosen)} of {episodes} episodes ended in "
                     f"{steps} steps of {env}.")
  return datasets.write(path, chosen, env, spec, env_kwargs=env_kwargs)


def read_summary(workdir: str) -> dict:
  """A finished run's summary.json."""
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)


def read_rows(workdir: str, drop=("wall_seconds",)) -> list:
  """A run's metrics.jsonl rows without the `drop` keys (the wall clock,
  which differs between otherwise equal runs)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [{k: v for k, v in row.items() if k not in drop} for row in rows]
