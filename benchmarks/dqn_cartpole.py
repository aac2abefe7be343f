"""DQN on CartPole-v1: speed and return against rejax, or time to solve.

    python benchmarks/dqn_cartpole.py [--preset=CartPole-v1,rejax]
        [--seeds=1] [--repeats=3] [--total_env_steps=131072] [--no_rejax]
        [--with_eval] [--ceiling_steps=16384]
    python benchmarks/dqn_cartpole.py --time_to_solve [--preset=CartPole-v1,fast]
        [--seeds=8] [--repeats=1] [--eval_every=4096] [--threshold=475]

Default mode: runs `configs/dqn.py:<preset>` (by default rejax 0.1.3's
CartPole DQN: double Q, 1 env, one gradient step of 256 per env step, buffer
131072, 64-64 swish MLP with flax's lecun-normal init, lr 3e-4, Polyak 0.99
every step, 2048 random steps, epsilon 1 -> 0.05 over 10%, no gradient
clipping), `jax.jit(jax.vmap(train))` over `--seeds` seeds; compile time
apart (lower + compile), then the compiled run timed `--repeats` times
(median). Then, unless --no_rejax or without `bench_venv`, the same settings
in rejax (`benchmarks/rejax_side.py --algo dqn`, run in bench_venv's Python
because rejax needs gymnax 0.0.9), and our loop's ceilings (env, act and
learn alone; benchmarks/common.py `ceilings`). Evaluation is off on both
sides, so the work is equal whatever the returns. With --with_eval each
side runs its own evaluation every --eval_every steps (UNEQUAL work: ours
greedy over `num_eval_episodes`, rejax's epsilon-greedy at 0.005 over 128
episodes, and at step 0 too) and the JSON line adds the returns at 32768 and
131072 env steps (nearest evaluation) and both eval curves are printed.
One JSON line (benchmarks/common.py `report`).

--time_to_solve: the wall-clock time until every seed's greedy evaluation
return reaches --threshold. Evaluates every --eval_every env steps (the
resolution), finds each seed's first evaluation >= threshold, and reports
compile seconds, steady seconds of the whole run (median of --repeats) and
time_to_solve_s = compile + steady * (last seed's solve step / total steps):
the run is a scan of equal iterations, so its time is linear in env steps
(evaluations included). Use --seeds=1 for a single seed's time, --seeds=8
(one program) for robustness. A seed that never reaches the threshold
makes time_to_solve_s null. The curve printed is the last repeat's, whose
seeds come from key `repeats - 1`: `--repeats=3` also checks other seeds.
The default preset, `CartPole-v1,fast` (64 envs x 4 steps, a gradient step
of 128 per 16 env steps, 3-step double Q, lr 5e-2 decayed to 0 over 65,536
steps, Polyak 0.2), reached 475 on every seed of 64 tried (the last of a
program of 8 by 24-32k env steps); see configs/dqn.py.
"""
import argparse
import json
import statistics

import numpy as np

import common  # pylint: disable=g-bad-import-order
from configs import dqn as dqn_config  # pylint: disable=g-import-not-at-top


def time_to_solve(args):
  config = dqn_config.get_config(args.preset)
  config.unlock()
  if args.total_env_steps:
    config.total_env_steps = args.total_env_steps
  config.eval_every = args.eval_every
  config.lock()
  load_start = common.loadavg()
  result = common.time_haikurl(config, args.seeds, args.repeats)
  curve, env_steps = result["curve"], result["env_steps"]   # [S, E], [E]
  total = result["total_timesteps"]
  first = [int(env_steps[np.argmax(c >= args.threshold)])
           if np.any(c >= args.threshold) else None for c in curve]
  run_s = statistics.median(result["seconds"])
  solved = None if None in first else max(first)
  out = {
      "benchmark": "dqn_cartpole_time_to_solve", "preset": args.preset,
      "seeds": args.seeds, "threshold": args.threshold,
      "eval_every": int(env_steps[1] - env_steps[0]) if len(env_steps) > 1
                    else total,
      "num_eval_episodes": int(config.num_eval_episodes),
      "total_env_steps": total, "first_step_per_seed": first,
      "steps_to_solve_all": solved,
      "compile_s": round(result["compile_seconds"], 2),
      "run_s_median": round(run_s, 2),
      "run_s_all": [round(t, 2) for t in result["seconds"]],
      "steady_s_to_solve": (None if solved is None
                            else round(run_s * solved / total, 2)),
      "time_to_solve_s": (None if solved is None else round(
          result["compile_seconds"] + run_s * solved / total, 2)),
      "final_return_per_seed": [round(float(c[-1]), 1) for c in curve],
      "loadavg_1min": {"start": load_start, "end": common.loadavg()},
  }
  print(f"compile {out['compile_s']} s; run {out['run_s_median']} s for "
        f"{total:,} env steps x {args.seeds} seed(s)")
  for steps, row in zip(env_steps, curve.T):
    print(f"  {int(steps):>7d} steps: " + " ".join(f"{r:5.0f}" for r in row))
  print(json.dumps(out))


def versus_rejax(args):
  config = dqn_config.get_config(args.preset)
  with config.unlocked():
    config.total_env_steps = args.total_env_steps
    config.eval_every = min(args.eval_every, args.total_env_steps)
  load_start = common.loadavg()
  ours = common.time_side(config, args.seeds, args.repeats, args.with_eval)
  rejax = common.rejax_side("dqn", args.seeds, args.repeats,
                            args.total_env_steps, args.with_eval,
                            skip=args.no_rejax,
                            eval_every=int(config.eval_every))
  ceiling = (common.ceilings(config, args.seeds, args.ceiling_steps)
             if args.ceiling_steps else None)
  fields = {}
  if args.with_eval:
    fields = _returns("haikurl", ours["env_steps"],
                      ours["curve"].mean(axis=0), "greedy eval return")
    if rejax is not None:
      fields.update(_returns("rejax", rejax["eval_steps"],
                             rejax["eval_returns"],
                             "eval return (eps 0.005)"))
  rows = [common.row(ours, rejax, ceiling, **fields)]
  common.print_rows(rows)
  print(json.dumps(common.report(
      "dqn_cartpole", rows, load_start,
      common.evaluation(args.with_eval, ours, rejax), preset=args.preset,
      env_steps=ours["total_timesteps"])))


def _returns(name, env_steps, returns, what):
  """Prints a side's eval curve; its returns at 32k and 131k env steps."""
  print(f"{name}:")
  for steps, ret in zip(env_steps, returns):
    print(f"  {int(steps):>7d} steps: {what} {ret:6.1f}")
  return {f"{name}_return_at_32k": common.return_at(env_steps, returns,
                                                    32_768),
          f"{name}_return_at_131k": common.return_at(env_steps, returns,
                                                     131_072)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  common.add_flags(parser, repeats=None,
                   repeats_help="default 3 (1 with --time_to_solve)")
  parser.add_argument("--time_to_solve", action="store_true")
  parser.add_argument("--preset", default=None,
                      help="default CartPole-v1,rejax (CartPole-v1,fast with "
                      "--time_to_solve)")
  parser.add_argument("--seeds", type=int, default=None,
                      help="default 1 (8 with --time_to_solve)")
  parser.add_argument("--total_env_steps", type=int, default=None,
                      help="default 131072 (the preset's with --time_to_solve)")
  parser.add_argument("--eval_every", type=int, default=4096)
  parser.add_argument("--threshold", type=float, default=475.0)
  args = parser.parse_args()
  if args.time_to_solve:
    args.preset = args.preset or "CartPole-v1,fast"
    args.seeds = args.seeds or 8
    args.repeats = args.repeats or 1
    common.start_runtime(args, args.seeds)
    time_to_solve(args)
  else:
    args.preset = args.preset or "CartPole-v1,rejax"
    args.seeds = args.seeds or 1
    args.repeats = args.repeats or 3
    args.total_env_steps = args.total_env_steps or 131_072
    common.start_runtime(args, args.seeds)
    versus_rejax(args)


if __name__ == "__main__":
  main()
