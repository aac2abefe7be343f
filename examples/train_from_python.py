"""Train PPO on CartPole from Python, several seeds in one program, and plot.

    python examples/train_from_python.py [--small] [--out=DIR]

`haikurl.make_train(config)` returns one function `train(key, hparams)`;
`jax.jit(jax.vmap(train))` trains a batch of seeds at once. Its metrics have
a leading [num_evals] axis (after the member axis): the training curve.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

import haikurl
from configs import ppo as ppo_config
from haikurl import hparams as hparams_lib
from haikurl import plotting


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true",
                      help="a tiny budget (CI): seconds, not minutes")
  parser.add_argument("--seeds", type=int, default=4)
  parser.add_argument("--out", default="/tmp/haikurl_examples/train_from_python")
  args = parser.parse_args()

  config = ppo_config.get_config("CartPole-v1")
  if args.small:
    config.agent.num_envs, config.agent.rollout_length = 4, 16
    config.agent.num_minibatches, config.agent.num_epochs = 2, 1
    config.total_env_steps, config.eval_every = 1024, 512
    config.num_eval_episodes = 4
  train = haikurl.make_train(config)
  seeds = 2 if args.small else args.seeds
  keys = jax.random.split(jax.random.key(0), seeds)
  hparams = hparams_lib.broadcast(train.default_hparams, seeds)

  start = time.perf_counter()
  state, metrics = jax.block_until_ready(
      jax.jit(jax.vmap(train))(keys, hparams))
  seconds = time.perf_counter() - start
  returns = np.asarray(metrics["eval/episode_return"])      # [seeds, evals]
  steps = np.asarray(metrics["env_steps"])[0]                # [evals]
  print(f"{train.total_env_steps:,} env steps x {seeds} seeds in "
        f"{seconds:.1f} s (compile included)")
  print(f"final greedy return per seed: {np.round(returns[:, -1], 1)}")
  print(f"final env_steps per seed: {np.asarray(state.env_steps)}")

  os.makedirs(args.out, exist_ok=True)
  path = plotting.plot_curves(
      {"ppo": {"env_steps": steps, "eval/episode_return": returns.T}},
      os.path.join(args.out, "curve.png"), title="PPO on CartPole-v1")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
