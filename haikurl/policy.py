"""Trained policies loaded back from a run's checkpoint, for inference.

    act = haikurl.load_policy(workdir)            # every member
    act = haikurl.load_policy(workdir, member=2)  # one member
    action = act(raw_observation, key)

A recurrent agent's policy has a memory, which the caller keeps (the policy
stays a pure function); `step` works for feed-forward agents too (their
carry is ()), so one loop serves both:

    policy = haikurl.load_policy(workdir, member=0)
    carry = policy.initial_carry(key)                     # a batch of 1
    action, carry = policy.step(carry, obs, key)          # first step
    ...
    action, carry = policy.step(carry, obs, key, reward=r, first=new_episode)

`reward` is the reward that followed the previous action (the agent's
previous-reward input) and `first` marks an episode's first observation,
where the carry is reset, as the training loop does.

The policy speaks the environment's own language: raw observations go in
(the run's observation normalisation, with the statistics saved in the
checkpoint, is applied first) and actions come out in the environment's own
units (e.g. torques in [-2, 2] on Pendulum-v1, not the agent's [-1, 1]).
Both conversions are the training env's own (`Env.observe` and
`Env.to_env_action`, which each wrapper extends), so a new wrapper needs no
change here.
"""
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import checkpoint
from haikurl import resume
from haikurl import types


def state_template(train, num_members: int,
                   state_members: Optional[int] = None):
  """Abstract {"state": TrainState, "hparams": HParams} of a run of
  `num_members` members whose saved state has `state_members` rows (padding
  included, see haikurl.batch; default the same)."""
  def batched(n):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)),
                        train.default_hparams)
  rows = state_members or num_members
  keys = jax.random.split(jax.random.key(0), rows)
  state = jax.eval_shape(jax.vmap(train.init), keys, batched(rows))
  return {"state": state,
          "hparams": jax.eval_shape(lambda h: h, batched(num_members))}


def _env_spec(env):
  """`env.spec` in the underlying environment's units (action bounds)."""
  spec = env.spec
  if spec.discrete:
    return spec
  ones = jnp.ones((1,) + tuple(spec.action_shape), jnp.float32)
  low = np.asarray(env.to_env_action(-ones))[0]
  high = np.asarray(env.to_env_action(ones))[0]
  return spec._replace(action_low=low, action_high=high)


def _checkpoint_info(workdir: str, period: Optional[int]):
  found = checkpoint.list_checkpoints(workdir)
  if not found:
    raise checkpoint.CheckpointError(
        f"no checkpoint in {checkpoint.directory(workdir)}.")
  if period is None:
    return found[-1]
  chosen = [c for c in found if c.period == period]
  if not chosen:
    raise checkpoint.CheckpointError(
        f"no checkpoint of period {period} in "
        f"{checkpoint.directory(workdir)}; there are "
        f"{[c.period for c in found]}.")
  return chosen[0]


def load_policy(workdir: str, member: Optional[int] = None, agent: Any = None,
                period: Optional[int] = None) -> Callable:
  """A trained policy of a run, ready for inference.

  Args:
    workdir: a run directory written by `haikurl-train` / `experiment.run`.
    member: one member (seed x hyperparameters) of the run; None for all.
    agent: the agent module, if not registered under `config.agent.name`.
    period: a particular checkpoint (default: the latest).

  Returns:
    A jittable `act(obs, key) -> action` taking greedy actions (evaluation
    mode), with `act.initial_carry(key, batch_size=1)` and
    `act.step(carry, obs, key, reward=0., first=False) -> (action, carry)`
    (the only way to act for a recurrent agent, whose `act` refuses; see
    the module docstring; `act.recurrent` says which). For one member, `obs` is one raw observation `[*obs_shape]` or a
    batch `[B, *obs_shape]`; for all members it carries a leading member
    axis `[M, ...]`. Observation normalisation saved with the run is applied
    first; actions are in the environment's own units (continuous actions
    within its bounds). The function has attributes `num_members`,
    `member`, `spec` (the environment's, with its own action bounds),
    `agent_spec` (what the agent sees), `config`, `agent_state` (the
    restored parameters) and `hparams`.
  """
  from haikurl.loop import make_train  # pylint: disable=g-import-not-at-top
  config = resume.load_config(workdir)
  train = make_train(config, agent=agent, callbacks={})
  info = _checkpoint_info(workdir, period)
  num_members = int(info.meta.get("num_members", 0)) or None
  if num_members is None:
    raise checkpoint.CheckpointError(
        f"{info.sidecar} does not say how many members the run has.")
  _, arrays, _ = checkpoint.restore(workdir, state_template(
      train, num_members, info.meta.get("state_members")), info)
  # Rows past num_members are padding (haikurl.batch), not members.
  state = jax.tree.map(lambda x: x[:num_members], arrays["state"])
  hparams = arrays["hparams"]
  env, agent_triple = train.env, train.agent
  obs_rank = len(env.spec.obs_shape)

  def as_batch(obs):
    obs = jnp.asarray(obs, jnp.float32)
    single = obs.ndim == obs_rank
    return (obs[None] if single else obs), single

  def member_act(agent_state, env_state, hp, obs, key):
    obs, single = as_batch(obs)
    action, _ = agent_triple.act(agent_state, env.observe(env_state, obs),
                                 key, hp, True)
    action = env.to_env_action(action)
    return action[0] if single else action

  def member_initial_carry(key, batch_size):
    return types.initial_carry(agent_triple, key, batch_size, env.spec)

  def member_step(agent_state, env_state, hp, carry, obs, key, reward,
                  first):
    obs, single = as_batch(obs)
    n = obs.shape[0]
    fresh_key, act_key = jax.random.split(key)
    if carry:
      first = jnp.broadcast_to(jnp.asarray(first, bool), (n,))
      reward = jnp.broadcast_to(jnp.asarray(reward, jnp.float32), (n,))
      carry = carry._replace(prev_reward=reward)
      carry = types.reset_where(first, member_initial_carry(fresh_key, n),
                                carry)
    action, core, _ = types.act(agent_triple, agent_state, carry,
                                env.observe(env_state, obs), act_key, hp,
                                True)
    if carry:
      carry = carry._replace(core=core, prev_action=action.astype(
          carry.prev_action.dtype))
    action = env.to_env_action(action)
    return (action[0] if single else action), carry

  def refuse_act(*_):
    raise ValueError(
        f"the agent of {workdir} ({config.agent.name}) is recurrent: act "
        f"with `carry = policy.initial_carry(key)` and `action, carry = "
        f"policy.step(carry, obs, key, reward, first)`.")

  state = jax.device_put(state)
  hparams = jax.device_put(hparams)
  if member is not None:
    if not 0 <= member < num_members:
      raise ValueError(f"member={member} out of range: the run in {workdir} "
                       f"has {num_members} member(s).")
    pick = lambda x: x[member]
    agent_state = jax.tree.map(pick, state.agent_state)
    env_state = jax.tree.map(pick, state.env_state)
    hp = jax.tree.map(pick, hparams)

    def act(obs, key):
      return member_act(agent_state, env_state, hp, obs, key)

    def initial_carry(key, batch_size=1):
      return member_initial_carry(key, batch_size)

    def step(carry, obs, key, reward=0.0, first=False):
      return member_step(agent_state, env_state, hp, carry, obs, key, reward,
                         first)
  else:
    agent_state, env_state, hp = state.agent_state, state.env_state, hparams

    def act(obs, key):
      keys = jax.random.split(key, num_members)
      return jax.vmap(member_act)(agent_state, env_state, hp, obs, keys)

    def initial_carry(key, batch_size=1):
      keys = jax.random.split(key, num_members)
      return jax.vmap(lambda k: member_initial_carry(k, batch_size))(keys)

    def step(carry, obs, key, reward=0.0, first=False):
      keys = jax.random.split(key, num_members)
      reward = jnp.broadcast_to(jnp.asarray(reward, jnp.float32),
                                (num_members,) + jnp.shape(reward)[1:])
      first = jnp.broadcast_to(jnp.asarray(first, bool),
                               (num_members,) + jnp.shape(first)[1:])
      return jax.vmap(member_step)(agent_state, env_state, hp, carry, obs,
                                   keys, reward, first)

  if agent_triple.recurrent:
    act = refuse_act
  act.initial_carry = initial_carry
  act.step = step
  act.recurrent = agent_triple.recurrent
  act.num_members = num_members
  act.member = member
  act.spec = _env_spec(env)
  act.agent_spec = env.spec
  act.config = config
  act.agent_state = agent_state
  act.hparams = hp
  return act
