"""A variant of DQN made by passing a new loss, without copying the agent.

    python examples/custom_loss.py [--small]

`agents.dqn.make(settings, spec, loss=...)` accepts a loss hook with the
signature of `dqn.q_learning_loss`: it receives the online and target
networks' outputs at both ends of each transition (`dqn.QOutputs`), the
batch (its `discount` already gamma^n, 0 after a termination), `hp` and the
settings. Here: a pessimistic double-Q target that bootstraps from the
minimum of the target and online networks' values of the action the online
network picks (clipped double Q, Fujimoto et al. 2018, in its discrete form),
under a Huber loss.

The variant is a small agent "module" reusing DQN's pieces (Settings,
HParams, validate, make with the new loss), passed to
`haikurl.make_train(config, agent=...)`; registering it
(`haikurl.register_agent`) lets configs and `haikurl-train` use it by name,
and a module of your own can also be named by its path (examples/munchausen).
"""
import argparse
import functools
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np
import rlax

import haikurl
from agents import dqn
from configs import dqn as dqn_config


def clipped_double_q_loss(q: dqn.QOutputs, batch, hp, settings):
  """Per example: (loss [N], priority error [N]), as `dqn.q_learning_loss`."""
  del hp, settings
  a_t = jnp.argmax(q.online_t.q_values, axis=-1)
  take = lambda values, a: jnp.take_along_axis(values, a[:, None], -1)[:, 0]
  v_t = jnp.minimum(take(q.target_t.q_values, a_t),
                    take(q.online_t.q_values, a_t))
  target = jax.lax.stop_gradient(batch.reward + batch.discount * v_t)
  td = target - take(q.online_tm1.q_values, batch.action)
  return rlax.huber_loss(td, 1.0), jnp.abs(td)


# An agent is anything with Settings, HParams, make(settings, spec) and
# (optionally) validate: DQN's, with the new loss passed in.
clipped_dqn = types.SimpleNamespace(
    Settings=dqn.Settings, HParams=dqn.HParams, validate=dqn.validate,
    make=functools.partial(dqn.make, loss=clipped_double_q_loss))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="a tiny budget (CI)")
  args = parser.parse_args()
  config = dqn_config.get_config("CartPole-v1")
  if args.small:
    config.total_env_steps, config.eval_every = 2048, 1024
    config.agent.learning_starts = 256
    config.agent.batch_size = 32
    config.num_eval_episodes = 4
  haikurl.register_agent("dqn_clipped", clipped_dqn)
  train = haikurl.make_train(config, agent=clipped_dqn)
  _, metrics = jax.jit(train)(jax.random.key(0))
  returns = np.asarray(metrics["eval/episode_return"])
  print(f"clipped double-Q DQN, greedy return per evaluation: "
        f"{np.round(returns, 1)}")
  print(f"mean TD loss per evaluation: {np.round(np.asarray(metrics['loss/td']), 3)}")


if __name__ == "__main__":
  main()
