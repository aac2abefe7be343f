"""A learning-rate sweep from Python: one program for every (rate, seed).

    python examples/sweep.py [--small]

Learning rates are traced hyperparameters (`HParams`), so one compiled
`jax.vmap(train)` trains a whole grid of rates x seeds. Seed j uses the same
key for every rate, so rates are compared on common seeds.
(`haikurl-train --config.sweep.learning_rate='(1e-3, 3e-3)'` does the same
from the command line.)
"""
import argparse
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

import haikurl
from configs import ppo as ppo_config
from haikurl import hparams as hparams_lib
from haikurl import plotting


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="a tiny budget (CI)")
  parser.add_argument("--out", default="/tmp/haikurl_examples/sweep")
  args = parser.parse_args()
  config = ppo_config.get_config("CartPole-v1")
  rates, num_seeds = (3e-4, 1e-3, 2.5e-3, 1e-2), 4
  if args.small:
    config.agent.num_envs, config.agent.rollout_length = 4, 16
    config.agent.num_minibatches, config.agent.num_epochs = 2, 1
    config.total_env_steps, config.eval_every = 1024, 512
    config.num_eval_episodes = 4
    rates, num_seeds = (1e-3, 1e-2), 2
  train = haikurl.make_train(config)

  grid = list(itertools.product(range(len(rates)), range(num_seeds)))
  seed_keys = jax.random.split(jax.random.key(0), num_seeds)
  keys = jnp.stack([seed_keys[s] for _, s in grid])
  hp = hparams_lib.broadcast(train.default_hparams, len(grid))
  hp = hp._replace(learning_rate=jnp.asarray([rates[r] for r, _ in grid],
                                             jnp.float32))
  _, metrics = jax.jit(jax.vmap(train))(keys, hp)
  returns = np.asarray(metrics["eval/episode_return"]).reshape(
      len(rates), num_seeds, -1)                       # [rates, seeds, evals]
  steps = np.asarray(metrics["env_steps"])[0]
  for rate, r in zip(rates, returns):
    print(f"learning_rate {rate:g}: final greedy return "
          f"{r[:, -1].mean():.1f} (per seed {[round(float(x), 1) for x in r[:, -1]]})")
  best = int(np.argmax(returns[:, :, -1].mean(axis=1)))
  print(f"best learning rate: {rates[best]:g}")
  os.makedirs(args.out, exist_ok=True)
  path = plotting.plot_curves(
      {f"lr={rate:g}": {"env_steps": steps, "eval/episode_return": r.T}
       for rate, r in zip(rates, returns)},
      os.path.join(args.out, "sweep.png"), title="PPO on CartPole-v1")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
