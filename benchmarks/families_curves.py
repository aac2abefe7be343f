"""Return curves of PQN and IQN beside rejax 0.1.3's, one evaluation protocol.

    python benchmarks/families_curves.py --algo pqn --seeds 8 \
        [--out docs/figures/pqn_cartpole_vs_rejax.png]

Both sides train on rejax 0.1.3's `configs/gymnax/cartpole.yaml` entry
(ours: `configs/<algo>.py:rejax`; rejax: benchmarks/rejax_side.py in
bench_venv) and evaluate the same way, rejax's: 128 episodes per
evaluation, epsilon-greedy with epsilon 0.005, every `eval_freq` env steps
(ours: `eval_policy="epsilon"`, `eval_epsilon=0.005`, with evaluation keys
of their own). Seeds are vmapped on both sides (one program each). Not
timed (benchmarks/families_cartpole.py times them with evaluation off).

Writes a figure (the IQM over seeds with a 95% stratified-bootstrap CI,
haikurl.plotting) and prints one JSON line: both sides' mean return per
seed at every env step where both evaluate, and the final returns.
"""
import argparse
import importlib
import json
import os

import numpy as np

import common  # pylint: disable=g-bad-import-order
from haikurl import aggregate
from haikurl import plotting


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--algo", default="pqn", choices=("pqn", "iqn"))
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--total_env_steps", type=int, default=0,
                      help="default: the preset's (a smoke test: fewer)")
  parser.add_argument("--out", default="",
                      help="the figure (default docs/figures/"
                      "<algo>_cartpole_vs_rejax.png)")
  args = parser.parse_args()
  out = args.out or os.path.join(common.ROOT, "docs", "figures",
                                 f"{args.algo}_cartpole_vs_rejax.png")
  config = importlib.import_module(f"configs.{args.algo}").get_config("rejax")
  extra = []
  with config.unlocked():
    if args.total_env_steps:
      config.total_env_steps = args.total_env_steps
      config.eval_every = min(config.eval_every, args.total_env_steps)
      extra = ["--total_timesteps", str(args.total_env_steps)]
    config.eval_policy, config.eval_epsilon = "epsilon", 0.005
    config.num_eval_episodes = 128
  ours = common.time_haikurl(config, args.seeds, 1)
  runs = {"haikurl": {"env_steps": [float(x) for x in ours["env_steps"]],
                      "eval/episode_return": ours["curve"].T}}
  theirs = common.run_rejax(args.algo, args.seeds, 1, *extra)
  if theirs is not None:
    runs["rejax 0.1.3"] = {
        "env_steps": [float(x) for x in theirs["eval_steps"]],
        "eval/episode_return": np.asarray(theirs["eval_returns_per_seed"]).T}
  os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
  plotting.plot_curves(
      runs, out, title=(f"{args.algo.upper()} on CartPole-v1, rejax 0.1.3's "
                        f"hyperparameters, {args.seeds} seeds\nevaluation: "
                        "epsilon 0.005, 128 episodes (both sides)"))
  both = {}
  for name, run in runs.items():
    for step, values in zip(run["env_steps"], run["eval/episode_return"]):
      both.setdefault(int(step), {})[name] = values
  rows = []
  for step in sorted(both):
    if len(both[step]) == len(runs):
      row = {"env_steps": step}
      for name, values in both[step].items():
        values = np.asarray(values, np.float64)
        est = aggregate.estimate(values[None], axis=1)
        row[name] = {"mean": round(float(np.mean(values)), 1),
                     "iqm": round(float(est.point[0]), 1),
                     # the standard error of the mean over seeds
                     "sem": round(float(np.std(values, ddof=1) /
                                        np.sqrt(values.size)), 1)}
      rows.append(row)
  print(f"{'env steps':>9}  " + "  ".join(f"{n:>22}" for n in runs))
  for row in rows:
    print(f"{row['env_steps']:>9}  " + "  ".join(
        f"{row[n]['mean']:>10.1f} (IQM {row[n]['iqm']:>5.1f})" for n in runs))
  print(json.dumps({
      "benchmark": f"{args.algo}_cartpole_curves_vs_rejax",
      "config": f"configs/{args.algo}.py:rejax", "seeds": args.seeds,
      "evaluation": "epsilon 0.005, 128 episodes, both sides",
      "total_env_steps_per_seed": int(config.total_env_steps),
      "figure": os.path.relpath(out, common.ROOT), "rows": rows,
      "final_mean": {n: round(float(np.mean(r["eval/episode_return"][-1])), 1)
                     for n, r in runs.items()},
      **_versus(rows, list(runs))}))


def _versus(rows, names):
  """Where our mean return is below the peer's: how often, and the largest
  shortfall in units of the standard error of the difference."""
  if len(names) < 2:
    return {}
  ours, peer = names[0], names[1]
  below = [r for r in rows if r[ours]["mean"] < r[peer]["mean"]]
  worst = min(below, key=lambda r: r[ours]["mean"] - r[peer]["mean"],
              default=None)
  out = {"evaluations": len(rows), "ours_at_or_above_mean": len(rows) -
         len(below)}
  if worst is not None:
    gap = worst[peer]["mean"] - worst[ours]["mean"]
    se = float(np.hypot(worst[ours]["sem"], worst[peer]["sem"]))
    out["largest_shortfall"] = {"env_steps": worst["env_steps"],
                                "return": round(gap, 1),
                                "in_standard_errors": round(gap / se, 2)
                                if se else None}
  return out


if __name__ == "__main__":
  main()
