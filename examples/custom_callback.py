"""A custom callback that logs from inside the jitted, vmapped run.

    python examples/custom_callback.py [--small]

A callback is `callback(ctx, state, key) -> pytree`, called at the end of
every evaluation period inside the trace; what it returns joins the metrics
(stacked over periods). This one sends each member's env steps and mean
parameter norm to the host through `jax.experimental.io_callback`, which
prints a line and returns the host's elapsed seconds as a new metric. Under
`vmap`, an io_callback runs once per member (in sequence), each time with
that member's values.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

import haikurl
from configs import ppo as ppo_config
from haikurl import evaluation
from haikurl import hparams as hparams_lib

START = time.perf_counter()
LOG = []  # what the host saw, one (env_steps, parameter norm) per call


def _host_log(env_steps, param_norm):
  env_steps, param_norm = np.asarray(env_steps), np.asarray(param_norm)
  LOG.append((env_steps.copy(), param_norm.copy()))
  print(f"  [host] env steps {int(env_steps)}  |params| {float(param_norm):.2f}",
        flush=True)
  return np.full(env_steps.shape, time.perf_counter() - START, np.float32)


def log_callback(ctx, state, key):
  del ctx, key
  norm = jnp.sqrt(sum(jnp.sum(jnp.square(p))
                      for p in jax.tree.leaves(state.agent_state.params)))
  elapsed = io_callback(_host_log, jax.ShapeDtypeStruct((), jnp.float32),
                        state.env_steps, norm, ordered=False)
  return {"host/elapsed_seconds": elapsed}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="a tiny budget (CI)")
  args = parser.parse_args()
  config = ppo_config.get_config("CartPole-v1")
  if args.small:
    config.agent.num_envs, config.agent.rollout_length = 4, 16
    config.agent.num_minibatches, config.agent.num_epochs = 2, 1
    config.total_env_steps, config.eval_every = 1536, 512
    config.num_eval_episodes = 4
  train = haikurl.make_train(
      config, callbacks={"eval": evaluation.evaluate, "log": log_callback})
  seeds = 2
  keys = jax.random.split(jax.random.key(0), seeds)
  hp = hparams_lib.broadcast(train.default_hparams, seeds)
  _, metrics = jax.block_until_ready(jax.jit(jax.vmap(train))(keys, hp))
  elapsed = np.asarray(metrics["host/elapsed_seconds"])  # [seeds, evals]
  for seed, row in enumerate(elapsed):
    print(f"seed {seed}: host seconds at each evaluation "
          f"{', '.join(f'{x:.2f}' for x in row)}")
  print(f"the host callback ran {len(LOG)} times for {train.num_evals} "
        f"periods x {seeds} seeds")


if __name__ == "__main__":
  main()
