"""Multi-step targets over rlax that respect both kinds of episode end.

Termination stops bootstrapping (discount 0); truncation by a time limit
bootstraps from the value of the true last observation and then cuts the
trace, so nothing of the next episode leaks into a target.
"""
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import rlax

Array = jax.Array


def truncated_gae(r_t: Array, discount_t: Array, truncated_t: Array,
                  v_tm1: Array, v_t: Array, lambda_) -> Array:
  """Generalised advantage estimates for one trajectory of length T.

  With delta_t = r_t + discount_t * v_t - v_tm1, the advantages are
  A_t = delta_t + discount_t * lambda * (1 - truncated_t) * A_{t+1} with
  A_T = 0, computed by `rlax.discounted_returns`.

  Args:
    r_t: [T] rewards.
    discount_t: [T] gamma at a continuing step, 0 at a termination.
    truncated_t: [T] 1 (or True) where a time limit cut the episode.
    v_tm1: [T] values of the observations acted on.
    v_t: [T] values of the observations reached *before any auto-reset*:
      at a truncation this is the true last observation's value.
    lambda_: scalar or [T] GAE lambda.

  Returns:
    [T] advantages (targets for the value are advantages + v_tm1).
  """
  chex.assert_rank([r_t, discount_t, truncated_t, v_tm1, v_t], 1)
  chex.assert_equal_shape([r_t, discount_t, truncated_t, v_tm1, v_t])
  delta = r_t + discount_t * v_t - v_tm1
  trace = discount_t * lambda_ * (1.0 - truncated_t.astype(r_t.dtype))
  return rlax.discounted_returns(delta, trace, jnp.zeros((), r_t.dtype))


def batched_truncated_gae(r_t, discount_t, truncated_t, v_tm1, v_t, lambda_):
  """`truncated_gae` over a [T, B] batch; returns [T, B] advantages."""
  return jax.vmap(truncated_gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
      r_t, discount_t, truncated_t, v_tm1, v_t, lambda_)


def truncated_lambda_returns(r_t: Array, discount_t: Array,
                             truncated_t: Array, v_t: Array,
                             lambda_) -> Array:
  """Lambda-returns of one trajectory of length T that respect episode ends.

  G_t = r_t + discount_t * ((1 - l_t) * v_t + l_t * G_{t+1}), with
  l_t = lambda * (1 - truncated_t) and G_T's place taken by v_t at the last
  step (`rlax.lambda_returns`): a termination (discount 0) stops at r_t; a
  truncation bootstraps from v_t, the value of the true last observation,
  and cuts the trace, so the next episode's rewards never enter. With
  v_t = max_a Q(o_t, a) these are Peng's Q(lambda) targets of PQN (Gallici
  et al., 2024).

  Args:
    r_t: [T] rewards.
    discount_t: [T] gamma at a continuing step, 0 at a termination.
    truncated_t: [T] 1 (or True) where a time limit cut the episode.
    v_t: [T] values of the observations reached *before any auto-reset*.
    lambda_: scalar lambda.

  Returns:
    [T] returns.
  """
  chex.assert_rank([r_t, discount_t, truncated_t, v_t], 1)
  chex.assert_equal_shape([r_t, discount_t, truncated_t, v_t])
  lambdas = lambda_ * (1.0 - truncated_t.astype(r_t.dtype))
  return rlax.lambda_returns(r_t, discount_t, v_t, lambdas,
                             stop_target_gradients=True)


def batched_truncated_lambda_returns(r_t, discount_t, truncated_t, v_t,
                                     lambda_):
  """`truncated_lambda_returns` over a [T, B] batch; returns [T, B]."""
  return jax.vmap(truncated_lambda_returns, in_axes=(1, 1, 1, 1, None),
                  out_axes=1)(r_t, discount_t, truncated_t, v_t, lambda_)


class NStep(NamedTuple):
  """An n-step return cut at the first episode end, ready for a 1-step rule.

  The target of the window is `reward + discount * v(next_obs[index])`, so
  any one-step rlax rule (Q-learning, double Q, categorical, quantile) takes
  (`reward`, `discount`) as its (r_t, discount_t).
  """
  reward: Array    # [] sum_{k<=j} gamma^k r_k
  discount: Array  # [] gamma^(j+1) if step j did not terminate, else 0
  index: Array     # [] int32 j: the step whose next_obs bootstraps


def n_step_bootstrap(r_t: Array, terminated_t: Array, truncated_t: Array,
                     discount) -> NStep:
  """The truncation-aware n-step return of one window of n transitions.

  The window starts at the first transition and stops at the first step j
  that ends an episode (j = n - 1 if none does): a termination there stops
  bootstrapping, a truncation bootstraps from that step's pre-reset next
  observation. Nothing after j, which belongs to the next episode, enters.
  (`rlax.n_step_bootstrapped_returns` has no notion of an episode end inside
  the window and leaks the next episode's rewards.)

  Args:
    r_t: [n] rewards of the window's transitions.
    terminated_t: [n] bools (or 0/1), the transition ended in a terminal state.
    truncated_t: [n] bools (or 0/1), a time limit cut the episode there.
    discount: scalar gamma.

  Returns:
    NStep(reward, discount, index) of scalars.
  """
  chex.assert_rank([r_t, terminated_t, truncated_t], 1)
  chex.assert_equal_shape([r_t, terminated_t, truncated_t])
  n = r_t.shape[0]
  done = jnp.logical_or(terminated_t.astype(bool), truncated_t.astype(bool))
  # alive[k] = 1 while no episode end happened strictly before step k.
  ended_before = jnp.cumsum(done.astype(jnp.int32)) - done.astype(jnp.int32)
  alive = (ended_before == 0).astype(r_t.dtype)
  powers = discount ** jnp.arange(n, dtype=r_t.dtype)           # gamma^k
  reward = jnp.sum(alive * powers * r_t)
  # The first end, or the last step if the window holds no end.
  index = jnp.where(jnp.any(done), jnp.argmax(done), n - 1).astype(jnp.int32)
  continues = 1.0 - terminated_t[index].astype(r_t.dtype)
  return NStep(reward, continues * discount ** (index + 1.0).astype(r_t.dtype),
               index)


def n_step_target(r_t: Array, terminated_t: Array, truncated_t: Array,
                  discount, v_t: Array) -> Array:
  """The n-step target of one window given the values of every next_obs.

  Args:
    r_t, terminated_t, truncated_t: [n] as in `n_step_bootstrap`.
    discount: scalar gamma.
    v_t: [n] values of each transition's (pre-reset) next observation.

  Returns:
    [] reward + discount * v_t[index].
  """
  chex.assert_equal_shape([r_t, v_t])
  nstep = n_step_bootstrap(r_t, terminated_t, truncated_t, discount)
  return nstep.reward + nstep.discount * v_t[nstep.index]


def sequence_n_step_targets(r_t: Array, terminated_t: Array,
                            truncated_t: Array, discount, v_t: Array,
                            n: int) -> Array:
  """The n-step target of every step of one sequence (R2D2's targets).

  The target of step t is `n_step_target` over the steps t .. t + n - 1,
  cut at the first episode end (a termination stops the return, a
  truncation bootstraps from that step's pre-reset next observation) and at
  the sequence's last step, which bootstraps from its own next observation.

  Args:
    r_t, terminated_t, truncated_t: [L] of one sequence of transitions.
    discount: scalar gamma.
    v_t: [L] values of each transition's (pre-reset) next observation.
    n: steps of the return (a Python int).

  Returns:
    [L] targets.
  """
  chex.assert_rank([r_t, terminated_t, truncated_t, v_t], 1)
  length = r_t.shape[0]
  # The sequence ends at L - 1 (bootstrapped, unless it terminated there);
  # what lies past it is padding that no window reaches.
  last = jnp.arange(length) == length - 1
  cut = jnp.logical_or(truncated_t.astype(bool), last)
  pad = lambda x: jnp.concatenate([x, jnp.zeros((n - 1,), x.dtype)])
  windows = jnp.arange(length)[:, None] + jnp.arange(n)[None, :]  # [L, n]
  take = lambda x: pad(x)[windows]
  return jax.vmap(n_step_target, in_axes=(0, 0, 0, None, 0))(
      take(r_t), take(terminated_t.astype(bool)), take(cut), discount,
      take(v_t))
