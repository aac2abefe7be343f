"""Aggregate env steps/s against the number of members of one program.

PPO on CartPole-v1 with rejax's hyperparameters (benchmarks/ppo_cartpole.py:
64 envs x 64 steps, 8 epochs x 16 minibatches, 64-64 MLPs, lr 3e-4,
131,072 steps). Each batch of M members (M seeds; the hyperparameters are
traced, so a sweep costs the same) runs the way `haikurl-train` runs it:
`haikurl.batch.Runner`, vmapped and sharded over every device, one jitted
call per evaluation period. Compile time is reported apart; steps/s = M x
total steps / (init + all periods), the median of `--repeats` runs.

Evaluation is off on both sides by default (ours: no callback, one period
as long as the run; rejax: `rejax_side.py --no_eval`); `--with_eval` runs
each side's own (128 episodes every 4,096 steps on both: UNEQUAL work, it
grows with the return) and adds the final return. Our loop's ceilings
(benchmarks/common.py `ceilings`: env, act and learn alone over the same M
members, vmapped) and each side's share of the loop ceiling are in every
row (`--ceiling_steps 0`: none).

  python benchmarks/sweep_scaling.py                    # 1, 8, 64, 256
  python benchmarks/sweep_scaling.py --members 1,64,1024,4096   # a GPU
  python benchmarks/sweep_scaling.py --quick            # 1, 4; 16k steps
  python benchmarks/sweep_scaling.py --rejax            # beside rejax (its venv)

Prints one JSON line (benchmarks/common.py `report`): {"rows": [{members,
haikurl: {steps_per_second, ...}, agents_per_minute, ...}], ...}.
"""
import argparse
import json
import statistics
import time

import jax

import common  # pylint: disable=g-bad-import-order
import ppo_cartpole  # pylint: disable=g-bad-import-order
from haikurl import batch
from haikurl import experiment


def run(num_members: int, total_steps: int, chunk_size: int = 0,
        repeats: int = 1, evaluation: bool = False) -> dict:
  """Our side: M members through `batch.Runner`, compile apart, `repeats`
  timed runs (the result dict of `common.time_haikurl`'s shape)."""
  cfg = ppo_cartpole.rejax_equivalent_config(total=total_steps)
  if not evaluation:
    cfg = common.without_evaluation(cfg)
  cfg.num_seeds = num_members
  cfg.chunk_size = chunk_size
  train = common.haikurl.make_train(cfg, callbacks=None if evaluation else {})
  members = experiment.make_members(cfg, train)
  runner = batch.Runner(train, members, chunk_size=chunk_size)
  start = time.perf_counter()
  state = runner.init()
  runner.compile(state)
  jax.block_until_ready(state)
  compile_seconds = time.perf_counter() - start
  seconds, cpu_seconds, metrics = [], [], None
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    state = runner.init()
    for _ in range(train.num_evals):
      state, metrics = runner.period(state)   # metrics come back to the host
    seconds.append(time.perf_counter() - start)
    cpu_seconds.append(time.process_time() - cpu_start)
  out = {"impl": "haikurl", "seeds": num_members,
         "total_timesteps": train.total_env_steps,
         "compile_seconds": compile_seconds, "seconds": seconds,
         "cpu_seconds": cpu_seconds, "devices": runner.num_devices, "chunk_size": runner.chunk_size,
         "evaluation": (f"greedy evaluation ({train.eval_protocol}) every "
                        f"{train.steps_per_eval:,} env steps" if evaluation
                        else common.OURS_OFF)}
  if evaluation:
    out["final_eval_return"] = float(metrics["eval/episode_return"].mean())
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  common.add_flags(parser, peer="")
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
  common.start_runtime(args, max(sizes))
  load_start = common.loadavg()
  rows, ours, theirs = [], None, None
  for m in sizes:
    ours = run(m, total, args.chunk_size, args.repeats, args.with_eval)
    theirs = common.rejax_side("ppo", m, args.repeats, total, args.with_eval,
                               skip=not args.rejax,
                               eval_every=min(4_096, total))
    ceiling = None
    if args.ceiling_steps:
      cfg = ppo_cartpole.rejax_equivalent_config(total=total)
      ceiling = common.ceilings(cfg, m, args.ceiling_steps)
    run_s = statistics.median(ours["seconds"])
    rows.append(common.row(
        ours, theirs, ceiling, members=m, devices=ours["devices"],
        chunk_size=ours["chunk_size"],
        agents_per_minute=round(m * 60 / run_s, 2)))
  common.print_rows(rows)
  print(json.dumps(common.report(
      "sweep_scaling", rows, load_start,
      common.evaluation(args.with_eval, ours, theirs), algo="ppo",
      env="CartPole-v1", backend=jax.default_backend(),
      device=str(jax.devices()[0].device_kind))), flush=True)


if __name__ == "__main__":
  main()
