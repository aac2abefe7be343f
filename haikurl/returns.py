"""Multi-step targets over rlax that respect both kinds of episode end.

Termination stops bootstrapping (discount 0); truncation by a time limit
bootstraps from the value of the true last observation and then cuts the
trace, so nothing of the next episode leaks into a target.
"""
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
