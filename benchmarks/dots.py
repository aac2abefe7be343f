"""The matrix products of a compiled step, and what they alone cost.

A floor under a loop ceiling: `learn_floor(fn, args, env_steps)` reads the
dot products (`dot_general`) off the jaxpr of `fn(*args)`, with how many
times each runs (a scan's body `length` times; a `cond`'s costliest branch,
flagged, since which branch runs is not known before running; a while
loop's body once, flagged), times each distinct product alone (the same
shapes, dtype and dimension numbers, in a scan of its own, compiled as the
benchmarks compile) and adds them up. The result says how fast `fn` could
run if it did nothing but its matrix products, each as fast as XLA runs it
alone on this machine; and, from their FLOPs (2 per multiply-add), the rate
its products run at inside `fn` against the best rate its main products
reached alone.

    python benchmarks/offpolicy_pendulum.py   # its rows' ceilings["dots"]

Convolutions are not counted (flagged "conv"): on a vision agent the floor
is not one.
"""
import collections
import math
import statistics
import time

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core

import haikurl

# Products timed alone: each in a scan of this many calls.
CALLS = 400


def _sub_jaxprs(params):
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(item, jax_core.ClosedJaxpr):
        yield item.jaxpr
      elif isinstance(item, jax_core.Jaxpr):
        yield item


def flops(key) -> float:
  """2 x the multiply-adds of one product `key` (as `table` keys them)."""
  lhs, rhs, _, ((_, rhs_contract), (_, rhs_batch)) = key
  free = math.prod(d for i, d in enumerate(rhs)
                   if i not in rhs_contract and i not in rhs_batch)
  return 2.0 * math.prod(lhs) * free


def _walk(jaxpr, times, counts, flags):
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      lhs, rhs = (v.aval for v in eqn.invars[:2])
      (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
      key = (tuple(lhs.shape), tuple(rhs.shape), str(lhs.dtype),
             ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb))))
      counts[key] += times
    elif name == "scan":
      _walk(eqn.params["jaxpr"].jaxpr, times * eqn.params["length"], counts,
            flags)
    elif name == "cond":
      branches = []
      for branch in eqn.params["branches"]:
        inner = collections.Counter()
        _walk(branch.jaxpr, times, inner, flags)
        branches.append(inner)
      work = [sum(n * flops(k) for k, n in b.items()) for b in branches]
      if len(set(work)) > 1:
        flags.add("cond: its costliest branch counted every time")
      counts.update(branches[work.index(max(work))])
    elif name == "while":
      flags.add("while: its body counted once")
      _walk(eqn.params["body_jaxpr"].jaxpr, times, counts, flags)
    else:
      if name == "conv_general_dilated":
        flags.add("conv: convolutions not counted")
      for sub in _sub_jaxprs(eqn.params):
        _walk(sub, times, counts, flags)


def table(fn, *args):
  """({product key: calls per call of fn}, flags) of `fn(*args)`."""
  counts, flags = collections.Counter(), set()
  _walk(jax.make_jaxpr(fn)(*args).jaxpr, 1, counts, flags)
  return counts, sorted(flags)


def time_alone(key, repeats: int = 3) -> float:
  """Seconds of one product `key`, the median over `repeats` runs of a scan
  of CALLS of them (each depends on the one before, so none is hoisted)."""
  lhs, rhs, dtype, dimension_numbers = key

  def body(carry, _):
    x, w = carry
    y = jax.lax.dot_general(x, w, dimension_numbers)
    return (x + (1e-9 * y.ravel()[0]).astype(x.dtype), w), None

  x, w = jnp.ones(lhs, dtype), jnp.ones(rhs, dtype)
  run = jax.jit(lambda x, w: jax.lax.scan(body, (x, w), None,
                                          length=CALLS)[0]).lower(x, w).compile(
      compiler_options=haikurl.compiler_options())
  jax.block_until_ready(run(x, w))
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run(x, w))
    seconds.append(time.perf_counter() - start)
  return statistics.median(seconds) / CALLS


def learn_floor(fn, args, env_steps: int, seconds: float) -> dict:
  """The products of `fn(*args)` (a call that learns from `env_steps` env
  steps and took `seconds`): their MFLOP per env step, the env steps/s if
  `fn` were its products alone (`dots_alone_steps_per_second`), the GFLOP/s
  they ran at inside `fn`, the best that any of its main products (5% of
  the FLOPs or more) ran at alone, and the env steps/s if all ran at that
  rate (`best_rate_steps_per_second`)."""
  counts, flags = table(fn, *args)
  total_flops = sum(n * flops(k) for k, n in counts.items())
  alone = {k: time_alone(k) for k in counts}
  alone_seconds = sum(n * alone[k] for k, n in counts.items())
  # The best rate among the products that carry at least 5% of the FLOPs
  # (a tiny product's rate alone says little: XLA may turn it into an
  # elementwise op, and a scan's step costs more than it).
  best = max((flops(k) / t for k, t in alone.items()
              if t > 0 and counts[k] * flops(k) >= 0.05 * total_flops),
             default=0.0)
  return {
      "products": len(counts), "calls": int(sum(counts.values())),
      "mflop_per_env_step": round(total_flops / env_steps / 1e6, 4),
      "dots_alone_steps_per_second": round(env_steps / alone_seconds, 1)
                                     if alone_seconds else None,
      "gflops_in_learn": round(total_flops / seconds / 1e9, 1),
      "best_gflops_alone": round(best / 1e9, 1),
      "best_rate_steps_per_second": round(env_steps * best / total_flops, 1)
                                    if total_flops else None,
      "flags": flags}
