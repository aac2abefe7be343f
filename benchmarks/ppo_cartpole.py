"""PPO on CartPole-v1: haikurl beside rejax on identical work, plus our
default preset's time to solve.

Part 1 (speed, identical hyperparameters, issue 2): 64 envs x 64 steps,
8 epochs x 16 minibatches, 64-64 silu MLPs, lr 3e-4 (no annealing), clipped
value loss, gamma 0.99, GAE 0.95, clip 0.2, vf 0.5, ent 0.01, grad clip
0.5, 131,072 steps. Evaluation is off on both sides (ours: no callback;
rejax: `rejax_side.py --no_eval`), so both do the same work whatever their
returns; `--with_eval` runs each side's own evaluation instead (ours greedy,
rejax sampled, 128 episodes every 4,096 steps: UNEQUAL work, labelled so in
the JSON line). Each side compiles once and runs `--repeats` times; the
JSON line (benchmarks/common.py `report`) has the median steps/s and each
repeat's, compile apart, the ratio, the 1-minute load at start and end, and
our loop's ceilings measured in the same run (env, act and learn alone, and
the loop ceiling they imply) with each side's share of it.

Part 2 (time to solve): our CartPole preset (configs/ppo.py), evaluated every
2,048 steps: the env steps and seconds (compile + steady) until each seed's
greedy return first reaches 475.

  python benchmarks/ppo_cartpole.py [--seeds 1,8,64] [--repeats 3] [--quick]
      [--total_env_steps 131072] [--no_rejax] [--with_eval]
      [--ceiling_steps 16384] [--no_solve]

--time_to_solve (issue 2's "what a user feels"): compile plus steady time
until the return first reaches 475, one key per run (`jax.jit(train)`, no
vmap), `--repeats` keys, beside PureJaxRL's PPO (its `__main__` defaults)
run by benchmarks/purejaxrl_side.py in bench_venv from a checkout you give
with --purejaxrl_dir. Two measures for us:
  train_return: PureJaxRL's own measure, the mean return of the training
    episodes that ended in an iteration (512 env steps on both sides),
    evaluation off; the like-for-like comparison.
  greedy_eval: what `haikurl-train` shows, greedy evaluation (32 episodes)
    every 2,048 steps, whose compile and run time are included.
Compile is lower + compile (tracing included, imports not) with
`haikurl.compiler_options()`; steady is the compiled run's seconds times
the fraction of its env steps before the solve.

  python benchmarks/ppo_cartpole.py --time_to_solve --repeats 5 \
      [--purejaxrl_dir /path/to/purejaxrl]
"""
import argparse
import json
import statistics
import time

import jax

import numpy as np

import common  # pylint: disable=g-bad-import-order
import haikurl  # pylint: disable=g-bad-import-order
from configs import ppo as ppo_config


def rejax_equivalent_config(total=131_072):
  cfg = ppo_config.get_config("CartPole-v1")
  a = cfg.agent
  a.num_envs, a.rollout_length = 64, 64
  a.num_epochs, a.num_minibatches = 8, 16
  a.hidden_sizes, a.activation = (64, 64), "silu"
  a.learning_rate, a.anneal_learning_rate = 3e-4, False
  a.clip_value_loss = True
  a.discount, a.gae_lambda, a.clip_epsilon = 0.99, 0.95, 0.2
  a.value_coef, a.entropy_coef, a.max_grad_norm = 0.5, 0.01, 0.5
  cfg.total_env_steps, cfg.eval_every = total, 4_096
  cfg.num_eval_episodes = 128
  return cfg


def time_to_solve(num_seeds: int, threshold: float = 475.0):
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.eval_every = 2_048
  result = common.time_haikurl(cfg, num_seeds, repeats=1)
  curve, steps = result["curve"], result["env_steps"]
  seconds_per_step = result["seconds"][0] / result["total_timesteps"]
  first = []
  for seed_curve in curve:
    hit = np.nonzero(seed_curve >= threshold)[0]
    first.append(int(steps[hit[0]]) if hit.size else None)
  reached = [f for f in first if f is not None]
  worst = max(reached) if len(reached) == len(first) else None
  return {
      "preset": "CartPole-v1", "seeds": num_seeds,
      "first_step_at_475_per_seed": first,
      "compile_seconds": result["compile_seconds"],
      "steady_seconds_to_475_all_seeds":
          None if worst is None else worst * seconds_per_step,
      "compile_plus_time_to_475":
          None if worst is None else
          result["compile_seconds"] + worst * seconds_per_step,
      "final_eval_return_per_seed": [float(x) for x in curve[:, -1]],
  }


def _solve_run(measure: str, repeats: int, threshold: float = 475.0):
  """Our preset, one key per run: compile once, then `repeats` keys."""
  cfg = ppo_config.get_config("CartPole-v1")
  per_iteration = cfg.agent.num_envs * cfg.agent.rollout_length
  if measure == "train_return":
    cfg.eval_every = per_iteration
    train = haikurl.make_train(cfg, callbacks={})
    curve_name = "train/episode_return"
  else:
    cfg.eval_every = 2_048
    train = haikurl.make_train(cfg)
    curve_name = "eval/episode_return"
  start = time.perf_counter()
  compiled = jax.jit(train).lower(jax.random.key(0)).compile(
      compiler_options=haikurl.compiler_options())
  compile_s = time.perf_counter() - start
  seconds, firsts = [], []
  for r in range(repeats):
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(jax.random.key(r)))
    seconds.append(time.perf_counter() - start)
    curve = np.asarray(metrics[curve_name])
    steps = np.asarray(metrics["env_steps"])
    hit = np.nonzero(curve >= threshold)[0]   # NaN (no episode) never hits
    firsts.append(int(steps[hit[0]]) if hit.size else None)
  run_s = statistics.median(seconds)
  steady = [None if f is None else run_s * f / train.total_env_steps
            for f in firsts]
  solved = [x for x in steady if x is not None]
  return {"impl": "haikurl", "measure": measure,
          "total_timesteps": train.total_env_steps,
          "compile_seconds": compile_s, "seconds": seconds,
          "steps_per_second": train.total_env_steps / run_s,
          "first_step_at_threshold_per_run": firsts,
          "steady_seconds_to_threshold_per_run": steady,
          "compile_plus_time_to_threshold_median":
              compile_s + statistics.median(solved) if solved else None}


def time_to_solve_versus_purejaxrl(repeats: int, purejaxrl_dir: str):
  load_start = common.loadavg()
  rows = [_solve_run("train_return", repeats),
          _solve_run("greedy_eval", repeats)]
  theirs = None
  if purejaxrl_dir:
    theirs = common.run_peer("purejaxrl_side.py", "--purejaxrl_dir",
                             purejaxrl_dir, "--repeats", str(repeats))
    if theirs:
      theirs["measure"] = "train_return"
      rows.append(theirs)
  print(f"{'impl':>9} {'measure':>12} {'compile s':>9} {'steps/s':>9} "
        f"{'first step at 475 per run':>30} {'compile + median steady':>24}")
  for row in rows:
    total = row["compile_plus_time_to_threshold_median"]
    print(f"{row['impl']:>9} {row['measure']:>12} "
          f"{row['compile_seconds']:>9.2f} {row['steps_per_second']:>9,.0f} "
          f"{str(row['first_step_at_threshold_per_run']):>30} "
          f"{'-' if total is None else f'{total:.2f}':>24}")
  result = {"benchmark": "ppo_cartpole_time_to_solve", "repeats": repeats,
            "rows": rows, "loadavg_1min": {"start": load_start,
                                           "end": common.loadavg()}}
  if theirs and theirs["compile_plus_time_to_threshold_median"]:
    for row in rows[:2]:
      if row["compile_plus_time_to_threshold_median"]:
        result[f"ratio_purejaxrl_over_haikurl_{row['measure']}"] = (
            theirs["compile_plus_time_to_threshold_median"] /
            row["compile_plus_time_to_threshold_median"])
  print(json.dumps(result))


def versus_rejax(args):
  seeds = [int(s) for s in args.seeds.split(",")]
  total, repeats = args.total_env_steps, args.repeats
  if args.quick:
    seeds, total, repeats = [1, 2], 16_384, 1
  load_start = common.loadavg()
  rows, ours, theirs = [], None, None
  for n in seeds:
    config = rejax_equivalent_config(total)
    ours = common.time_side(config, n, repeats, args.with_eval)
    theirs = common.rejax_side("ppo", n, repeats, total, args.with_eval,
                               skip=args.no_rejax,
                               eval_every=config.eval_every)
    ceiling = (common.ceilings(config, n, args.ceiling_steps)
               if args.ceiling_steps else None)
    rows.append(common.row(ours, theirs, ceiling))
    common.print_rows(rows[-1:])
  fields = {}
  if not args.no_solve:
    solve = time_to_solve(1 if args.quick else 8)
    fields["time_to_solve"] = solve
    print(f"time to 475 (preset, {solve['seeds']} seeds): first step per "
          f"seed {solve['first_step_at_475_per_seed']}, compile "
          f"{solve['compile_seconds']:.1f}s + steady "
          f"{solve['steady_seconds_to_475_all_seeds']}")
  ratios = [r["ratio_haikurl_over_rejax"] for r in rows
            if r["ratio_haikurl_over_rejax"]]
  print(json.dumps(common.report(
      "ppo_cartpole", rows, load_start,
      common.evaluation(args.with_eval, ours, theirs),
      config="rejax's PPO CartPole-v1 hyperparameters (rejax_equivalent_config)",
      median_ratio=statistics.median(ratios) if ratios else None, **fields)))


def main():
  parser = argparse.ArgumentParser()
  common.add_flags(parser)
  parser.add_argument("--time_to_solve", action="store_true")
  parser.add_argument("--purejaxrl_dir", default="",
                      help="a PureJaxRL checkout, for --time_to_solve")
  parser.add_argument("--seeds", default="1,8,64")
  parser.add_argument("--total_env_steps", type=int, default=131_072,
                      help="per seed, both sides (whole iterations of 4,096)")
  parser.add_argument("--quick", action="store_true",
                      help="16,384 steps, seeds 1 and 2, one repeat")
  parser.add_argument("--no_solve", action="store_true",
                      help="skip part 2 (the preset's time to solve)")
  args = parser.parse_args()
  common.start_runtime(args, 1 if args.time_to_solve else
                       max(int(x) for x in args.seeds.split(",")))
  if args.time_to_solve:
    time_to_solve_versus_purejaxrl(args.repeats, args.purejaxrl_dir)
  else:
    versus_rejax(args)


if __name__ == "__main__":
  main()
