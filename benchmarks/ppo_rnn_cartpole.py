"""Recurrent PPO on CartPole-v1 beside PureJaxRL's PPO-RNN, identical work.

Both sides run PureJaxRL's `purejaxrl/ppo_rnn.py` `__main__` settings:
4 envs x 128 steps, 4 epochs x 4 minibatches of whole environments'
sequences, a 128-unit relu layer, a 128-unit GRU, 128-unit relu actor and
critic heads, lr 2.5e-4 annealed, gamma 0.99, GAE 0.95, clip 0.2 (the
value loss clipped too, as PureJaxRL's), vf 0.5,
ent 0.01, grad clip 0.5, 499,712 env steps (976 updates; `--updates`
changes it on both sides). One key per run
(`jax.jit(train)`, no vmap), compiled once (lower + compile, tracing
included, imports not), then `--repeats` keys; steps/s is the median run.

Evaluation is off on both sides (PureJaxRL has none): the learning measure
is PureJaxRL's own, the mean return of the training episodes that ended in
an update (512 env steps on both sides), and the first env step at which it
reaches 475. Our side's is the loop's `train/episode_return` with
`eval_every` = one update. Our carry semantics differ where they should:
truncation bootstraps under the memory (PureJaxRL treats it as terminal).

Our loop's ceilings, measured in the same run (benchmarks/common.py
`ceilings`): the env alone under random actions (4 envs), the agent's act
alone and its learn alone, the loop ceiling they imply and each side's
share of it. The JSON line is benchmarks/common.py's `report`.

  python benchmarks/ppo_rnn_cartpole.py --repeats 3 \
      --purejaxrl_dir /path/to/purejaxrl [--updates 976] [--ceiling_steps N]

PureJaxRL runs in bench_venv (flax, distrax, gymnax 0.0.9) from a checkout
you give (its `wrappers.py` imports brax and navix at the top; without them
in bench_venv, comment those imports out in your checkout: the CartPole
path does not use them), and its `ppo_rnn.py` is written for an older flax:
on flax 0.12 two lines of `ScannedRNN` need the current GRUCell API,
`nn.GRUCell(features=ins.shape[1])(rnn_state, ins)` and
`nn.GRUCell(features=hidden_size).initialize_carry(jax.random.PRNGKey(0),
(batch_size, hidden_size))` (the same cell, the same zeros). Prints one
JSON line.
"""
import argparse
import json
import statistics
import time

import jax
import numpy as np

import common  # pylint: disable=g-bad-import-order
import haikurl  # pylint: disable=g-bad-import-order
from configs import ppo_rnn as ppo_rnn_config

TOTAL = 976 * 512


def purejaxrl_equivalent_config(total=TOTAL):
  cfg = ppo_rnn_config.get_config("CartPole-v1")
  a = cfg.agent
  a.num_envs, a.rollout_length = 4, 128
  a.num_epochs, a.num_minibatches = 4, 4
  a.hidden_sizes, a.head_sizes, a.core_size = (128,), (128,), 128
  a.core, a.activation = "gru", "relu"
  a.learning_rate, a.anneal_learning_rate = 2.5e-4, True
  a.discount, a.gae_lambda, a.clip_epsilon = 0.99, 0.95, 0.2
  a.value_coef, a.entropy_coef, a.max_grad_norm = 0.5, 0.01, 0.5
  a.clip_value_loss = True
  cfg.total_env_steps = total
  cfg.eval_every = a.num_envs * a.rollout_length
  return cfg


def ours(repeats: int, threshold: float, total: int):
  cfg = purejaxrl_equivalent_config(total)
  train = haikurl.make_train(cfg, callbacks={})
  start = time.perf_counter()
  compiled = jax.jit(train).lower(jax.random.key(0)).compile(
      compiler_options=haikurl.compiler_options())
  compile_s = time.perf_counter() - start
  seconds, firsts, finals = [], [], []
  for r in range(repeats):
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(jax.random.key(30 + r)))
    seconds.append(time.perf_counter() - start)
    curve = np.asarray(metrics["train/episode_return"])
    steps = np.asarray(metrics["env_steps"])
    hit = np.nonzero(curve >= threshold)[0]   # NaN (no episode) never hits
    firsts.append(int(steps[hit[0]]) if hit.size else None)
    finals.append(float(np.nanmean(curve[-10:])))
  return {"impl": "haikurl", "total_timesteps": train.total_env_steps,
          "compile_seconds": compile_s, "seconds": seconds,
          "steps_per_second": train.total_env_steps / statistics.median(
              seconds),
          "first_step_at_threshold_per_run": firsts,
          "final_train_return_per_run": finals}


def main():
  parser = argparse.ArgumentParser()
  common.add_flags(parser, peer="purejaxrl", with_eval=False)
  parser.add_argument("--threshold", type=float, default=475.0)
  parser.add_argument("--purejaxrl_dir", default="")
  parser.add_argument("--updates", type=int, default=TOTAL // 512)
  args = parser.parse_args()
  common.start_runtime(args, 1)
  total = args.updates * 512
  load_start = common.loadavg()
  mine = ours(args.repeats, args.threshold, total)
  theirs = None
  if args.purejaxrl_dir and not args.no_purejaxrl:
    theirs = common.run_peer(
        "purejaxrl_side.py", "--purejaxrl_dir", args.purejaxrl_dir,
        "--repeats", str(args.repeats), "--algo", "ppo_rnn",
        "--total_timesteps", str(total))
  ceiling = (common.ceilings(purejaxrl_equivalent_config(total), 1,
                             args.ceiling_steps)
             if args.ceiling_steps else None)
  fields = {}
  print(f"{'impl':>9} {'first step at 475 per run':>30} final train return")
  for result in (mine, theirs):
    if result is None:
      continue
    impl = result["impl"]
    fields[f"{impl}_first_step_at_threshold_per_run"] = result[
        "first_step_at_threshold_per_run"]
    fields[f"{impl}_final_train_return_per_run"] = [
        round(x, 1) for x in result["final_train_return_per_run"]]
    print(f"{impl:>9} {str(result['first_step_at_threshold_per_run']):>30} "
          f"{[round(x) for x in result['final_train_return_per_run']]}")
  rows = [common.row(mine, theirs, ceiling, peer_name="purejaxrl", **fields)]
  common.print_rows(rows, peer_name="purejaxrl")
  print(json.dumps(common.report(
      "ppo_rnn_cartpole", rows, load_start,
      {"protocol": common.EVAL_OFF,
       "haikurl": "none (no callback); learning measured by the training "
                  "episodes' mean return per update",
       "purejaxrl": "none (it has none); the same measure"},
      threshold=args.threshold)))


if __name__ == "__main__":
  main()
