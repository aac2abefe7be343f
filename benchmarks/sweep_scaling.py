"""Aggregate env steps/s against the number of members of one program.

PPO on CartPole-v1 with rejax's hyperparameters (benchmarks/ppo_cartpole.py:
64 envs x 64 steps, 8 epochs x 16 minibatches, 64-64 MLPs, lr 3e-4,
131,072 steps, 128 evaluation episodes every 4,096 steps). Each batch of M
members (M seeds; the hyperparameters are traced, so a sweep costs the same)
runs the way `haikurl-train` runs it: `haikurl.batch.Runner`, vmapped and
sharded over every device, one jitted call per evaluation period. Compile
time is reported apart; steps/s = M x total steps / (init + all periods).

  python benchmarks/sweep_scaling.py                    # 1, 8, 64, 256
  python benchmarks/sweep_scaling.py --members 1,64,1024,4096   # a GPU
  python benchmarks/sweep_scaling.py --quick            # 1, 4; 16k steps
  python benchmarks/sweep_scaling.py --rejax            # beside rejax (its venv)

Prints one JSON line: {"rows": [{members, steps_per_second, ...}], ...}.
"""
import argparse
import json
import time

import jax

import common  # pylint: disable=g-bad-import-order
import ppo_cartpole  # pylint: disable=g-bad-import-order
from haikurl import batch
from haikurl import experiment


def run(num_members: int, total_steps: int, chunk_size: int = 0) -> dict:
  cfg = ppo_cartpole.rejax_equivalent_config(total=total_steps)
  cfg.num_seeds = num_members
  cfg.chunk_size = chunk_size
  train = common.haikurl.make_train(cfg)
  members = experiment.make_members(cfg, train)
  runner = batch.Runner(train, members, chunk_size=chunk_size)
  start = time.perf_counter()
  state = runner.init()
  runner.compile(state)
  jax.block_until_ready(state)
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  state = runner.init()
  metrics = None
  for _ in range(train.num_evals):
    state, metrics = runner.period(state)     # metrics come back to the host
  seconds = time.perf_counter() - start
  steps = train.total_env_steps * num_members
  return {"members": num_members, "total_timesteps": train.total_env_steps,
          "devices": runner.num_devices, "chunk_size": runner.chunk_size,
          "compile_seconds": round(compile_seconds, 2),
          "seconds": round(seconds, 3),
          "steps_per_second": round(steps / seconds),
          "agents_per_minute": round(num_members * 60 / seconds, 2),
          "final_eval_return_mean":
              float(metrics["eval/episode_return"].mean())}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--members", default="1,8,64,256")
  parser.add_argument("--total_steps", type=int, default=131_072)
  parser.add_argument("--chunk_size", type=int, default=0)
  parser.add_argument("--quick", action="store_true",
                      help="members 1,4 and 16,384 steps (a smoke test)")
  parser.add_argument("--rejax", action="store_true",
                      help="also time rejax (needs bench_venv)")
  args = parser.parse_args()
  sizes = [int(x) for x in args.members.split(",")]
  total = args.total_steps
  if args.quick:
    sizes, total = [1, 4], 16_384
  rows = []
  for m in sizes:
    row = run(m, total, args.chunk_size)
    if args.rejax:
      other = common.run_rejax("ppo", m, 1, "--total_timesteps", str(total))
      if other is not None:
        row["rejax_steps_per_second"] = other.get("steps_per_second")
        if row["rejax_steps_per_second"]:
          row["ratio_to_rejax"] = round(
              row["steps_per_second"] / row["rejax_steps_per_second"], 3)
    rows.append(row)
  print(json.dumps({"benchmark": "sweep_scaling", "algo": "ppo",
                    "env": "CartPole-v1", "backend": jax.default_backend(),
                    "device": str(jax.devices()[0].device_kind),
                    "rows": rows}), flush=True)


if __name__ == "__main__":
  main()
