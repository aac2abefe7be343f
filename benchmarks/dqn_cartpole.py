"""DQN on CartPole-v1: speed and return against rejax, or time to solve.

    python benchmarks/dqn_cartpole.py [--preset=CartPole-v1,rejax]
        [--seeds=1] [--repeats=3] [--total_env_steps=131072] [--no_rejax]
    python benchmarks/dqn_cartpole.py --time_to_solve [--preset=CartPole-v1,fast]
        [--seeds=8] [--repeats=1] [--eval_every=4096] [--threshold=475]

Default mode: runs `configs/dqn.py:<preset>` (by default rejax 0.1.3's
CartPole DQN: double Q, 1 env, one gradient step of 256 per env step, buffer
131072, 64-64 swish MLP with flax's lecun-normal init, lr 3e-4, Polyak 0.99 every step, 2048 random steps,
epsilon 1 -> 0.05 over 10%, no gradient clipping), `jax.jit(jax.vmap(train))`
over `--seeds` seeds; compile time apart (lower + compile), then the compiled
run timed `--repeats` times (median). Then, unless --no_rejax or without
`bench_venv`, the same settings in rejax (`benchmarks/rejax_side.py --algo
dqn`, run in bench_venv's Python because rejax needs gymnax 0.0.9). Prints
both eval curves and one JSON line: steps/s of each, our/rejax ratio, and
the returns at 32768 and 131072 env steps (nearest evaluation). Our
evaluation is greedy (mean of `num_eval_episodes`); rejax's takes actions
epsilon-greedily with epsilon 0.005 over 128 episodes.

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
import os
import statistics

import numpy as np

import common  # pylint: disable=g-bad-import-order
from configs import dqn as dqn_config  # pylint: disable=g-import-not-at-top


def _return_at(env_steps, returns, steps):
  i = int(np.argmin(np.abs(np.asarray(env_steps) - steps)))
  return [int(env_steps[i]), round(float(returns[i]), 1)]


def time_to_solve(args):
  config = dqn_config.get_config(args.preset)
  config.unlock()
  if args.total_env_steps:
    config.total_env_steps = args.total_env_steps
  config.eval_every = args.eval_every
  config.lock()
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
      "loadavg_1min": round(os.getloadavg()[0], 2),
  }
  print(f"compile {out['compile_s']} s; run {out['run_s_median']} s for "
        f"{total:,} env steps x {args.seeds} seed(s)")
  for steps, row in zip(env_steps, curve.T):
    print(f"  {int(steps):>7d} steps: " + " ".join(f"{r:5.0f}" for r in row))
  print(json.dumps(out))


def versus_rejax(args):
  config = dqn_config.get_config(args.preset)
  config.unlock()
  config.total_env_steps = args.total_env_steps
  config.lock()
  ours = common.time_haikurl(config, args.seeds, args.repeats)
  our_returns = ours["curve"].mean(axis=0)
  out = {"benchmark": "dqn_cartpole", "preset": args.preset,
         "seeds": args.seeds, "repeats": args.repeats,
         "env_steps": ours["total_timesteps"],
         "haikurl_compile_s": round(ours["compile_seconds"], 2),
         "haikurl_run_s": [round(t, 2) for t in ours["seconds"]],
         "haikurl_steps_per_s": round(ours["steps_per_second"], 1),
         "haikurl_return_at_32k": _return_at(ours["env_steps"], our_returns,
                                             32_768),
         "haikurl_return_at_131k": _return_at(ours["env_steps"], our_returns,
                                              131_072)}
  print(f"haikurl: compile {out['haikurl_compile_s']} s; "
        f"{out['haikurl_steps_per_s']:,.0f} env steps/s over {args.seeds} "
        f"seed(s)")
  for steps, ret in zip(ours["env_steps"], our_returns):
    print(f"  {int(steps):>7d} steps: greedy eval return {ret:6.1f}")
  rejax = None if args.no_rejax else common.run_rejax(
      "dqn", args.seeds, args.repeats, "--total_timesteps",
      str(args.total_env_steps))
  if rejax is not None:
    out.update({
        "rejax_compile_s": round(rejax["compile_seconds"], 2),
        "rejax_run_s": [round(t, 2) for t in rejax["seconds"]],
        "rejax_steps_per_s": round(rejax["steps_per_second"], 1),
        "ratio_haikurl_over_rejax": round(
            ours["steps_per_second"] / rejax["steps_per_second"], 2)})
    if "eval_steps" in rejax:
      out["rejax_return_at_32k"] = _return_at(
          rejax["eval_steps"], rejax["eval_returns"], 32_768)
      out["rejax_return_at_131k"] = _return_at(
          rejax["eval_steps"], rejax["eval_returns"], 131_072)
      print(f"rejax: compile {out['rejax_compile_s']} s; "
            f"{out['rejax_steps_per_s']:,.0f} env steps/s")
      for steps, ret in zip(rejax["eval_steps"], rejax["eval_returns"]):
        print(f"  {int(steps):>7d} steps: eval return (eps 0.005) {ret:6.1f}")
  out["loadavg_1min"] = round(os.getloadavg()[0], 2)
  print(json.dumps(out))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--time_to_solve", action="store_true")
  parser.add_argument("--preset", default=None,
                      help="default CartPole-v1,rejax (CartPole-v1,fast with "
                      "--time_to_solve)")
  parser.add_argument("--seeds", type=int, default=None,
                      help="default 1 (8 with --time_to_solve)")
  parser.add_argument("--repeats", type=int, default=None,
                      help="default 3 (1 with --time_to_solve)")
  parser.add_argument("--total_env_steps", type=int, default=None,
                      help="default 131072 (the preset's with --time_to_solve)")
  parser.add_argument("--eval_every", type=int, default=4096)
  parser.add_argument("--threshold", type=float, default=475.0)
  parser.add_argument("--no_rejax", action="store_true")
  args = parser.parse_args()
  if args.time_to_solve:
    args.preset = args.preset or "CartPole-v1,fast"
    args.seeds = args.seeds or 8
    args.repeats = args.repeats or 1
    time_to_solve(args)
  else:
    args.preset = args.preset or "CartPole-v1,rejax"
    args.seeds = args.seeds or 1
    args.repeats = args.repeats or 3
    args.total_env_steps = args.total_env_steps or 131_072
    versus_rejax(args)


if __name__ == "__main__":
  main()
