"""PQN and IQN on CartPole-v1 beside rejax 0.1.3, on identical work.

    python benchmarks/families_cartpole.py --algo pqn [--seeds 1,8]
        [--repeats 3] [--no_curve]

Both sides run rejax 0.1.3's `configs/gymnax/cartpole.yaml` entry for the
algorithm (ours: `configs/<algo>.py:rejax`; rejax: benchmarks/rejax_side.py
in bench_venv). For each seed count:

- speed: evaluation off on both sides (ours: no evaluation callback;
  rejax: one evaluation period as long as the run, no initial evaluation,
  an evaluation callback that does no work), so the evaluation work is
  equal (none) whatever the returns. `jax.jit(jax.vmap(train))` over the
  seeds, compile (lower + compile) apart, then `--repeats` timed runs;
  steps/s is the median, over all seeds' env steps.
- ceiling: the env alone (random actions, the same number of envs per
  seed) in the same run, and each side's share of it.
- curve (unless --no_curve, one seed count only, the first): each side
  with its own evaluation (ours greedy, 32 episodes; rejax epsilon 0.005,
  128 episodes) every `eval_every` env steps, and the returns at equal env
  steps. Not timed.

Prints a table and one JSON line with the 1-minute load average.
"""
import argparse
import importlib
import json
import os

import common  # pylint: disable=g-bad-import-order


TOTAL = {}   # --total_env_steps, when given


def _config(algo: str):
  config = importlib.import_module(f"configs.{algo}").get_config("rejax")
  if TOTAL:
    with config.unlocked():
      config.total_env_steps = TOTAL["steps"]
      config.eval_every = min(config.eval_every, TOTAL["steps"])
  return config


def _ours(algo: str, seeds: int, repeats: int, evaluation: bool):
  config = _config(algo)
  if not evaluation:
    with config.unlocked():
      config.eval_every = config.total_env_steps
    return common.time_haikurl(config, seeds, repeats, callbacks={})
  return common.time_haikurl(config, seeds, repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--algo", default="pqn", choices=("pqn", "iqn"))
  parser.add_argument("--seeds", default="1,8")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--no_curve", action="store_true")
  parser.add_argument("--total_env_steps", type=int, default=0,
                      help="default: the preset's (a smoke test: fewer)")
  args = parser.parse_args()
  extra = []
  if args.total_env_steps:
    TOTAL["steps"] = args.total_env_steps
    extra = ["--total_timesteps", str(args.total_env_steps)]
  config = _config(args.algo)
  num_envs = int(config.agent.num_envs)
  rows = []
  for seeds in [int(x) for x in args.seeds.split(",")]:
    ours = _ours(args.algo, seeds, args.repeats, evaluation=False)
    theirs = common.run_rejax(args.algo, seeds, args.repeats, "--no_eval",
                               *extra)
    ceiling = common.env_ceiling(config.env, num_envs * seeds)
    row = {"seeds": seeds,
           "haikurl_steps_per_s": round(ours["steps_per_second"], 1),
           "haikurl_compile_s": round(ours["compile_seconds"], 2),
           "haikurl_run_s": [round(t, 2) for t in ours["seconds"]],
           "env_alone_steps_per_s": round(ceiling, 1),
           "haikurl_share_of_env_ceiling": round(
               ours["steps_per_second"] / ceiling, 4)}
    if theirs is not None:
      row.update({
          "rejax_steps_per_s": round(theirs["steps_per_second"], 1),
          "rejax_compile_s": round(theirs["compile_seconds"], 2),
          "rejax_run_s": [round(t, 2) for t in theirs["seconds"]],
          "ratio_haikurl_over_rejax": round(
              ours["steps_per_second"] / theirs["steps_per_second"], 2)})
    rows.append(row)
  curve = None
  if not args.no_curve:
    seeds = int(args.seeds.split(",")[0])
    ours = _ours(args.algo, seeds, 1, evaluation=True)
    theirs = common.run_rejax(args.algo, seeds, 1, *extra)
    curve = {"seeds": seeds,
             "haikurl_env_steps": [int(x) for x in ours["env_steps"]],
             "haikurl_greedy_return": [round(float(x), 1) for x in
                                       ours["curve"].mean(axis=0)]}
    if theirs is not None:
      curve["rejax_env_steps"] = theirs["eval_steps"]
      curve["rejax_eps0.005_return"] = theirs["eval_returns"]
  out = {"benchmark": f"{args.algo}_cartpole_vs_rejax",
         "config": f"configs/{args.algo}.py:rejax",
         "total_env_steps_per_seed": int(config.total_env_steps),
         "repeats": args.repeats, "evaluation": "off on both sides",
         "rows": rows, "curve": curve,
         "loadavg_1min": round(os.getloadavg()[0], 2)}
  print(f"{'seeds':>5} {'haikurl/s':>11} {'rejax/s':>11} {'ratio':>6} "
        f"{'env alone/s':>12} {'compile ours/rejax':>19}")
  for r in rows:
    print(f"{r['seeds']:>5} {r['haikurl_steps_per_s']:>11,.0f} "
          f"{r.get('rejax_steps_per_s', float('nan')):>11,.0f} "
          f"{r.get('ratio_haikurl_over_rejax', float('nan')):>6.2f} "
          f"{r['env_alone_steps_per_s']:>12,.0f} "
          f"{r['haikurl_compile_s']:>8.1f} / {r.get('rejax_compile_s', 0):.1f}")
  if curve:
    print("returns at the evaluation steps (ours greedy; rejax eps 0.005):")
    theirs = dict(zip(curve.get("rejax_env_steps", []),
                      curve.get("rejax_eps0.005_return", [])))
    for s, r in zip(curve["haikurl_env_steps"],
                    curve["haikurl_greedy_return"]):
      print(f"  {s:>8d}: {r:6.1f}   rejax {theirs.get(s, float('nan')):6.1f}")
  print(json.dumps(out))


if __name__ == "__main__":
  main()
