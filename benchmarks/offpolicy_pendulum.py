"""SAC and TD3 on gymnax Pendulum-v1 with rejax's default hyperparameters.

    python benchmarks/offpolicy_pendulum.py [--repeats 3] [--seeds 1] [--agents sac,td3]
        [--total_env_steps 32768] [--no_rejax] [--with_eval] [--ceiling_steps 16384]

Settings are rejax's defaults (keraJLi/rejax, `src/rejax/algos/sac.py`,
`td3.py`): 1 env, a gradient step per env step, batch 256, buffer 131072,
64-64 MLPs, Adam 3e-4, Polyak 0.99 (tau 0.01), 2048 warm-up steps of
uniform actions, gamma 0.99; SAC: ReLU, alpha from 1, target entropy -1;
TD3: swish, exploration noise 0.3, target noise 0.2 clipped at 0.5, policy
delay 2. rejax gives TD3's noises in env units (Pendulum's torque is in
[-2, 2]); haikurl's agents act in [-1, 1], so they are halved here.

Evaluation is off on both sides by default (ours: no callback; rejax:
`rejax_side.py --no_eval`), so the work is equal whatever the returns; with
--with_eval each side runs its own at half and at the end of the run (ours:
16 greedy episodes per seed; rejax: 128 episodes, and one more evaluation
at step 0: UNEQUAL work)
and each row adds the mean evaluation returns at half and at the end
(named 16k and 32k for the default length). Prints one JSON line
(benchmarks/common.py `report`), a row per agent: steps/s of each side (the
median of `--repeats` runs with different keys, each listed, compile
apart), the ratio, our loop's ceilings (env, act and learn alone) and each
side's share of the loop ceiling, and the 1-minute load at start and end.
Without bench_venv, our side alone (no peer figure from another run).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

from configs import sac as sac_config  # noqa: E402
from configs import td3 as td3_config  # noqa: E402
import common  # noqa: E402  (benchmarks/common.py)


def config(agent: str, total_env_steps: int = 32_768):
  module = {"sac": sac_config, "td3": td3_config}[agent]
  c = module.get_config("Pendulum-v1")
  a = c.agent
  a.num_envs, a.rollout_length, a.replay_ratio = 1, 1, 1.0
  a.batch_size, a.buffer_size, a.learning_starts = 256, 131_072, 2048
  a.actor_hidden_sizes = a.critic_hidden_sizes = (64, 64)
  a.actor_learning_rate = a.critic_learning_rate = 3e-4
  a.discount, a.tau = 0.99, 0.01
  if agent == "sac":
    a.activation = "relu"
    a.alpha_learning_rate = 3e-4
    a.initial_alpha, a.target_entropy_ratio = 1.0, 1.0
  else:
    a.activation = "swish"
    a.exploration_noise = 0.3 / 2.0
    a.target_noise, a.target_noise_clip = 0.2 / 2.0, 0.5 / 2.0
    a.policy_delay = 2
  c.total_env_steps = total_env_steps
  c.eval_every = total_env_steps // 2
  c.num_eval_episodes = 16
  return c


def run(agent: str, args):
  """(row, our result, rejax's result) of one agent: both sides, the
  ceilings, and with --with_eval the returns at half and at the end."""
  c = config(agent, args.total_env_steps)
  ours = common.time_side(c, args.seeds, args.repeats, args.with_eval)
  theirs = common.rejax_side(agent, args.seeds, args.repeats,
                             args.total_env_steps, args.with_eval,
                             skip=args.no_rejax, eval_every=c.eval_every)
  ceiling = (common.ceilings(c, args.seeds, args.ceiling_steps)
             if args.ceiling_steps else None)
  fields = {"agent": agent}
  if args.with_eval:
    returns = ours["curve"]                                  # [seeds, 2]
    fields.update(return_16k=round(float(returns[:, 0].mean()), 1),
                  return_32k=round(float(returns[:, 1].mean()), 1))
    if theirs is not None:
      curve = dict(zip(theirs["eval_steps"], theirs["eval_returns"]))
      fields.update(rejax_return_16k=curve.get(args.total_env_steps // 2),
                    rejax_return_32k=curve.get(args.total_env_steps))
  return common.row(ours, theirs, ceiling, **fields), ours, theirs


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  common.add_flags(parser)
  parser.add_argument("--seeds", type=int, default=1,
                      help="seeds vmapped in one run (1 is rejax's work)")
  parser.add_argument("--agents", default="sac,td3")
  parser.add_argument("--total_env_steps", type=int, default=32_768,
                      help="per seed; the return columns are read at half "
                      "and at the end (named 16k and 32k for the default)")
  args = parser.parse_args()
  common.start_runtime(args, args.seeds)
  load_start = common.loadavg()
  rows, ours, theirs = [], None, None
  for agent in args.agents.split(","):
    row, ours, theirs = run(agent, args)
    rows.append(row)
  common.print_rows(rows, label="agent")
  print(json.dumps(common.report(
      "offpolicy_pendulum", rows, load_start,
      common.evaluation(args.with_eval, ours, theirs),
      env="gymnax:Pendulum-v1", device=jax.devices()[0].platform)),
        flush=True)


if __name__ == "__main__":
  main()
