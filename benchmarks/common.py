"""Shared helpers of the benchmarks: timing a compiled haikurl run, running
the rejax side in its own venv, and printing results."""
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import haikurl  # pylint: disable=g-import-not-at-top,wrong-import-position

REJAX_PYTHON = os.path.join(ROOT, "bench_venv", "bin", "python")


def time_haikurl(config, num_seeds: int, repeats: int, callbacks=None):
  """Compiles jit(vmap(train)) once and times `repeats` runs.

  Returns:
    dict with compile_seconds, seconds (per repeat), steps_per_second
    (median), final_eval_return (mean over seeds of the last repeat) and the
    eval curve [seeds, num_evals] of the last repeat.
  """
  train = haikurl.make_train(config, callbacks=callbacks)
  keys = jax.random.split(jax.random.key(0), num_seeds)
  hp = haikurl.hparams.broadcast(train.default_hparams, num_seeds)
  start = time.perf_counter()
  compiled = jax.jit(jax.vmap(train)).lower(keys, hp).compile(
      compiler_options=haikurl.compiler_options())
  compile_seconds = time.perf_counter() - start
  times, metrics = [], None
  for r in range(repeats):
    keys = jax.random.split(jax.random.key(r), num_seeds)
    start = time.perf_counter()
    _, metrics = compiled(keys, hp)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  steps = train.total_env_steps * num_seeds
  out = {"impl": "haikurl", "seeds": num_seeds,
         "total_timesteps": train.total_env_steps,
         "compile_seconds": compile_seconds, "seconds": times,
         "steps_per_second": steps / statistics.median(times)}
  if "eval/episode_return" in metrics:
    curve = np.asarray(metrics["eval/episode_return"])
    out["final_eval_return"] = float(curve[:, -1].mean())
    out["curve"] = curve
    out["env_steps"] = np.asarray(metrics["env_steps"])[0]
  return out


def run_rejax(algo: str, seeds: int, repeats: int, *extra: str):
  """Runs benchmarks/rejax_side.py in the benchmark venv; None without it."""
  if not os.path.exists(REJAX_PYTHON):
    print(f"(no {REJAX_PYTHON}: skipping rejax; create it with `python3 -m "
          "venv bench_venv && bench_venv/bin/pip install rejax gymnax==0.0.9`)",
          file=sys.stderr)
    return None
  cmd = [REJAX_PYTHON, os.path.join(ROOT, "benchmarks", "rejax_side.py"),
         "--algo", algo, "--seeds", str(seeds), "--repeats", str(repeats),
         *extra]
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if out.returncode != 0:
    print(out.stderr[-2000:], file=sys.stderr)
    return None
  return json.loads(out.stdout.strip().splitlines()[-1])


def env_ceiling(env_name: str, num_envs: int, num_steps: int = 4096,
                repeats: int = 3) -> float:
  """Steps/s of the env alone under random actions (lax.scan, one jit)."""
  env = haikurl.envs.make(env_name, num_envs)
  spec = env.spec

  def run(key):
    def step(carry, key):
      state, _ = carry
      act_key, step_key = jax.random.split(key)
      if spec.discrete:
        action = jax.random.randint(act_key, (num_envs,), 0, spec.num_actions)
      else:
        action = jax.random.uniform(act_key, (num_envs,) + spec.action_shape,
                                    minval=-1.0, maxval=1.0)
      state, ts = env.step(state, action, step_key)
      return (state, ts.reward), ()
    init = env.reset(key)
    (_, reward), _ = jax.lax.scan(step, (init[0], init[1].reward),
                                  jax.random.split(key, num_steps))
    return reward
  compiled = jax.jit(run).lower(jax.random.key(0)).compile()
  times = []
  for r in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.key(r)))
    times.append(time.perf_counter() - start)
  return num_steps * num_envs / statistics.median(times)


def strip(result):
  """A result without its arrays, for the JSON line."""
  return {k: v for k, v in result.items() if k not in ("curve", "env_steps")}
