"""DQN on CartPole-v1 with rejax's DQN hyperparameters: speed and return.

    python benchmarks/dqn_cartpole.py [--preset=CartPole-v1,rejax]
        [--seeds=1] [--repeats=3] [--total_env_steps=131072]

Runs `configs/dqn.py:<preset>` (by default rejax 0.1.3's CartPole DQN:
double Q, 1 env, one gradient step of 256 per env step, buffer 131072, 64-64
swish MLP, lr 3e-4, Polyak 0.99 every step, 2048 random steps, epsilon
1 -> 0.05 over 10%), `jax.jit(jax.vmap(train))` over `--seeds` seeds.
Compile time is measured apart (lower + compile), then the compiled run is
timed `--repeats` times and the median taken. Prints the greedy evaluation
return (mean over seeds) at 32768 and 131072 env steps (or the nearest
evaluations) and, last, one JSON line.

rejax itself needs gymnax 0.0.9, which clashes with our gymnax 1.x: to run it
side by side, make a separate venv (e.g. /work/main/bench_venv, git-ignored)
with `pip install rejax==0.1.3` and run its `get_algo("dqn")` with the same
settings there; this script does not import it.
"""
import argparse
import json
import os
import statistics
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import haikurl  # pylint: disable=g-import-not-at-top
from configs import dqn as dqn_config  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="CartPole-v1,rejax")
  parser.add_argument("--seeds", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--total_env_steps", type=int, default=131_072)
  args = parser.parse_args()

  config = dqn_config.get_config(args.preset)
  config.total_env_steps = args.total_env_steps
  train = haikurl.make_train(config)
  keys = jax.random.split(jax.random.key(config.seed), args.seeds)
  hparams = haikurl.hparams.broadcast(train.default_hparams, args.seeds)
  run = jax.jit(jax.vmap(lambda key, hp: train(key, hp)))

  start = time.perf_counter()
  compiled = run.lower(keys, hparams).compile()
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    _, metrics = compiled(keys, hparams)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  run_s = statistics.median(times)
  env_steps = np.asarray(metrics["env_steps"][0])
  returns = np.asarray(metrics["eval/episode_return"]).mean(axis=0)  # [E]
  total = train.total_env_steps * args.seeds

  def return_at(steps):
    i = int(np.argmin(np.abs(env_steps - steps)))
    return int(env_steps[i]), float(returns[i])

  result = {
      "benchmark": "dqn_cartpole", "preset": args.preset,
      "seeds": args.seeds, "env_steps": int(train.total_env_steps),
      "compile_s": round(compile_s, 2), "run_s_median": round(run_s, 2),
      "run_s_all": [round(t, 2) for t in times],
      "steps_per_s": round(total / run_s, 1),
      "return_at_32k": return_at(32_768), "return_at_131k": return_at(131_072),
      "backend": jax.default_backend(),
  }
  print(f"compile {compile_s:.1f} s; run {run_s:.1f} s (median of "
        f"{args.repeats}); {total / run_s:,.0f} env steps/s over "
        f"{args.seeds} seed(s)")
  for steps, ret in zip(env_steps, returns):
    print(f"  {int(steps):>7d} steps: eval return {ret:6.1f}")
  print(json.dumps(result))


if __name__ == "__main__":
  main()
