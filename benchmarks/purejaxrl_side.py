"""The PureJaxRL half of benchmarks/ppo_cartpole.py --time_to_solve.

Runs ONLY in the benchmark venv (bench_venv: flax, distrax and gymnax 0.0.9
come with `pip install rejax gymnax==0.0.9`), on a checkout of PureJaxRL
that you provide: its code is not part of haikurl.

    git clone https://github.com/luchris429/purejaxrl /path/to/purejaxrl
    bench_venv/bin/python benchmarks/purejaxrl_side.py \
        --purejaxrl_dir /path/to/purejaxrl [--repeats 3] [--algo ppo_rnn]

(its `purejaxrl/wrappers.py` imports brax at the top; if bench_venv has no
brax, install it there or drop that import in your checkout.)

What it times: `purejaxrl/ppo.py`'s `make_train` with the defaults of its
`__main__` (CartPole-v1, 4 envs x 128 steps, 4 epochs x 4 minibatches,
tanh 64-64, lr 2.5e-4 annealed, 500k steps), DEBUG off; with
`--algo ppo_rnn`, `purejaxrl/ppo_rnn.py`'s (the same, with a 128-unit relu
layer, a 128-unit GRU and 128-unit relu heads; benchmarks/ppo_rnn_cartpole.py
is our half). Compile is
`jax.jit(train).lower(key).compile()` (tracing included, imports not);
then the compiled run is timed `--repeats` times with keys 30, 31, ...
Time to solve is PureJaxRL's own measure: the mean of the training episodes
that ended in an update (`returned_episode_returns` where
`returned_episode`) first reaching 475; steady seconds to it are the run's
seconds times the fraction of its env steps. Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import sys
import time

import jax
import numpy as np

import peer_runtime  # pylint: disable=g-bad-import-order

CONFIG = {
    "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e5,
    "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True, "DEBUG": False,
}


def first_step_at(metrics, threshold, steps_per_update):
  """Env steps at the end of the first update whose ended episodes average
  at least `threshold`, or None."""
  done = np.asarray(metrics["returned_episode"])           # [U, T, E]
  returns = np.asarray(metrics["returned_episode_returns"])
  count = done.sum(axis=(1, 2))
  mean = np.where(count > 0, (returns * done).sum(axis=(1, 2)) /
                  np.maximum(count, 1), -np.inf)
  hit = np.nonzero(mean >= threshold)[0]
  return None if hit.size == 0 else int((hit[0] + 1) * steps_per_update)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--purejaxrl_dir", required=True)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--threshold", type=float, default=475.0)
  parser.add_argument("--algo", default="ppo", choices=("ppo", "ppo_rnn"))
  parser.add_argument("--total_timesteps", type=float, default=0,
                      help="instead of the __main__'s 5e5")
  peer_runtime.add_flag(parser)
  args = parser.parse_args()
  if args.cpu_threads == "one":
    peer_runtime.single_thread_runtime()
  sys.path.insert(0, os.path.abspath(args.purejaxrl_dir))
  # Its modules import their sibling `wrappers` at the top level.
  sys.path.insert(0, os.path.join(os.path.abspath(args.purejaxrl_dir),
                                  "purejaxrl"))
  import importlib  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(f"purejaxrl.{args.algo}")

  config = dict(CONFIG)
  if args.total_timesteps:
    config["TOTAL_TIMESTEPS"] = args.total_timesteps
  train = module.make_train(config)
  steps_per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
  total = config["NUM_UPDATES"] * steps_per_update
  start = time.perf_counter()
  compiled = jax.jit(train).lower(jax.random.PRNGKey(30)).compile()
  compile_s = time.perf_counter() - start
  seconds, firsts, finals = [], [], []
  for r in range(args.repeats):
    key = jax.random.PRNGKey(30 + r)
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(key))
    seconds.append(time.perf_counter() - start)
    metrics = out["metrics" if "metrics" in out else "metric"]
    firsts.append(first_step_at(metrics, args.threshold, steps_per_update))
    done = np.asarray(metrics["returned_episode"])[-10:]
    rets = np.asarray(metrics["returned_episode_returns"])[-10:]
    finals.append(float((rets * done).sum() / max(done.sum(), 1)))
  run_s = statistics.median(seconds)
  steady = [None if f is None else run_s * f / total for f in firsts]
  solved = [s for s in steady if s is not None]
  print(json.dumps({
      "impl": "purejaxrl", "algo": args.algo, "total_timesteps": total,
      "compile_seconds": compile_s, "seconds": seconds,
      "steps_per_second": total / run_s,
      "first_step_at_threshold_per_run": firsts,
      "steady_seconds_to_threshold_per_run": steady,
      "compile_plus_time_to_threshold_median":
          (compile_s + statistics.median(solved)) if solved else None,
      "final_train_return_per_run": finals,
  }))


if __name__ == "__main__":
  main()
