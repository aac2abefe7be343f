"""PQN and IQN on CartPole-v1 beside rejax 0.1.3, on identical work.

    python benchmarks/families_cartpole.py --algo pqn [--seeds 1,8]
        [--repeats 3] [--no_curve] [--total_env_steps N] [--no_rejax]
        [--with_eval] [--ceiling_steps 16384]

Both sides run rejax 0.1.3's `configs/gymnax/cartpole.yaml` entry for the
algorithm (ours: `configs/<algo>.py:rejax`; rejax: benchmarks/rejax_side.py
in bench_venv). For each seed count:

- speed: evaluation off on both sides (ours: no evaluation callback;
  rejax: one evaluation period as long as the run, no initial evaluation,
  an evaluation callback that does no work), so the evaluation work is
  equal (none) whatever the returns (--with_eval: each side's own
  evaluation instead, UNEQUAL work, labelled so). `jax.jit(jax.vmap(train))`
  over the seeds, compile (lower + compile) apart, then `--repeats` timed
  runs; steps/s is the median, over all seeds' env steps, each run's listed.
- ceilings: our loop's, in the same run (benchmarks/common.py `ceilings`:
  env, act and learn alone over the same seeds and envs, and the loop
  ceiling they imply), and each side's share of the loop ceiling.
- curve (unless --no_curve, one seed count only, the first): each side
  with its own evaluation (ours greedy, 32 episodes; rejax epsilon 0.005,
  128 episodes) every `eval_every` env steps, and the returns at equal env
  steps. Not timed.

Prints a table and one JSON line (benchmarks/common.py `report`) with the
1-minute load average at start and end.
"""
import argparse
import importlib
import json

import common  # pylint: disable=g-bad-import-order


def _config(algo: str, total_env_steps: int = 0):
  """`configs/<algo>.py:rejax`, with `total_env_steps` when given."""
  config = importlib.import_module(f"configs.{algo}").get_config("rejax")
  if total_env_steps:
    with config.unlocked():
      config.total_env_steps = total_env_steps
      config.eval_every = min(config.eval_every, total_env_steps)
  return config


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  common.add_flags(parser)
  parser.add_argument("--algo", default="pqn", choices=("pqn", "iqn"))
  parser.add_argument("--seeds", default="1,8")
  parser.add_argument("--no_curve", action="store_true")
  parser.add_argument("--total_env_steps", type=int, default=0,
                      help="default: the preset's (a smoke test: fewer)")
  args = parser.parse_args()
  common.start_runtime(args, max(int(x) for x in args.seeds.split(",")))
  config = _config(args.algo, args.total_env_steps)
  total = int(config.total_env_steps)
  load_start = common.loadavg()
  rows, ours, theirs = [], None, None
  for seeds in [int(x) for x in args.seeds.split(",")]:
    ours = common.time_side(config, seeds, args.repeats, args.with_eval)
    theirs = common.rejax_side(args.algo, seeds, args.repeats, total,
                               args.with_eval, skip=args.no_rejax,
                               eval_every=config.eval_every)
    ceiling = (common.ceilings(config, seeds, args.ceiling_steps)
               if args.ceiling_steps else None)
    rows.append(common.row(ours, theirs, ceiling))
  common.print_rows(rows)
  curve = None
  if not args.no_curve:
    seeds = int(args.seeds.split(",")[0])
    mine = common.time_side(config, seeds, 1, evaluation=True)
    other = common.rejax_side(args.algo, seeds, 1, total, evaluation=True,
                              skip=args.no_rejax,
                              eval_every=config.eval_every)
    curve = {"seeds": seeds, "timed": False,
             "haikurl_env_steps": [int(x) for x in mine["env_steps"]],
             "haikurl_greedy_return": [round(float(x), 1) for x in
                                       mine["curve"].mean(axis=0)]}
    if other is not None:
      curve["rejax_env_steps"] = other["eval_steps"]
      curve["rejax_eps0.005_return"] = other["eval_returns"]
    print("returns at the evaluation steps (ours greedy; rejax eps 0.005):")
    at = dict(zip(curve.get("rejax_env_steps", []),
                  curve.get("rejax_eps0.005_return", [])))
    for s, r in zip(curve["haikurl_env_steps"],
                    curve["haikurl_greedy_return"]):
      print(f"  {s:>8d}: {r:6.1f}   rejax {at.get(s, float('nan')):6.1f}")
  print(json.dumps(common.report(
      f"{args.algo}_cartpole_vs_rejax", rows, load_start,
      common.evaluation(args.with_eval, ours, theirs),
      config=f"configs/{args.algo}.py:rejax",
      total_env_steps_per_seed=total, curve=curve)))


if __name__ == "__main__":
  main()
