"""SAC and TD3 on gymnax Pendulum-v1 with rejax's default hyperparameters.

    python benchmarks/offpolicy_pendulum.py [--repeats 3] [--seeds 1] [--agents sac,td3]

Settings are rejax's defaults (keraJLi/rejax, `src/rejax/algos/sac.py`,
`td3.py`): 1 env, a gradient step per env step, batch 256, buffer 131072,
64-64 MLPs, Adam 3e-4, Polyak 0.99 (tau 0.01), 2048 warm-up steps of
uniform actions, gamma 0.99; SAC: ReLU, alpha from 1, target entropy -1;
TD3: swish, exploration noise 0.3, target noise 0.2 clipped at 0.5, policy
delay 2. rejax gives TD3's noises in env units (Pendulum's torque is in
[-2, 2]); haikurl's agents act in [-1, 1], so they are halved here.

Prints one JSON line, per agent: compile seconds, steps/s of the compiled run
(median of `--repeats` runs with different keys, compile excluded), the mean
evaluation return (16 greedy episodes per seed) at 16k and 32k steps, and the
ratio to rejax's reference speed. REFERENCE figures are rejax's, as measured
and handed to us (SAC 631-778 steps/s, TD3 777 steps/s); rerun rejax on the
same machine for a fair ratio.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import haikurl  # noqa: E402
from configs import sac as sac_config  # noqa: E402
from configs import td3 as td3_config  # noqa: E402
import common  # noqa: E402  (benchmarks/common.py)

REJAX_STEPS_PER_SECOND = {"sac": 705.0, "td3": 777.0}  # SAC: middle of 631-778


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


def run(agent: str, repeats: int, seeds: int, total_env_steps: int = 32_768,
        rejax: bool = True) -> dict:
  train = haikurl.make_train(config(agent, total_env_steps))
  hp = haikurl.hparams.broadcast(train.default_hparams, seeds)
  fn = jax.jit(jax.vmap(lambda key, hp: train(key, hp)))
  keys = jax.random.split(jax.random.key(0), seeds)
  start = time.perf_counter()
  compiled = fn.lower(keys, hp).compile(
      compiler_options=haikurl.compiler_options())
  compile_s = time.perf_counter() - start
  rates, cpu_rates, returns = [], [], []
  steps = train.total_env_steps * seeds
  for r in range(repeats):
    keys = jax.random.split(jax.random.key(r), seeds)
    start, cpu_start = time.perf_counter(), time.process_time()
    _, metrics = compiled(keys, hp)
    jax.block_until_ready(metrics)
    rates.append(steps / (time.perf_counter() - start))
    cpu_rates.append(steps / (time.process_time() - cpu_start))
    returns.append(np.asarray(metrics["eval/episode_return"]))  # [seeds, 2]
  returns = np.concatenate(returns)                              # [R*seeds, 2]
  rate = float(statistics.median(rates))
  return {
      "agent": agent, "env": "gymnax:Pendulum-v1", "seeds": seeds,
      "repeats": repeats, "compile_s": round(compile_s, 1),
      "steps_per_s": round(rate, 1),
      "steps_per_s_all": [round(x, 1) for x in rates],
      # Env steps per second of this process's CPU time (all its threads):
      # steadier than wall time on a shared machine.
      "steps_per_cpu_s": round(float(statistics.median(cpu_rates)), 1),
      "return_16k": round(float(returns[:, 0].mean()), 1),
      "return_32k": round(float(returns[:, 1].mean()), 1),
      **(_rejax(agent, repeats, seeds, rate) if rejax else {}),
      "device": jax.devices()[0].platform,
  }


def _rejax(agent: str, repeats: int, seeds: int, rate: float) -> dict:
  """rejax on the same work from the same script (bench_venv); without that
  venv, the REFERENCE figure, marked as such."""
  other = common.run_rejax(agent, seeds, repeats, "--total_timesteps",
                           "32768")
  if other is None:
    ref = REJAX_STEPS_PER_SECOND[agent]
    return {"rejax_steps_per_s": ref, "rejax_source": "REFERENCE.md",
            "speed_ratio": round(rate / ref, 2)}
  curve = dict(zip(other["eval_steps"], other["eval_returns"]))
  return {"rejax_steps_per_s": round(other["steps_per_second"], 1),
          "rejax_source": "same run",
          "rejax_compile_s": round(other["compile_seconds"], 1),
          "rejax_return_16k": curve.get(16384),
          "rejax_return_32k": curve.get(32768),
          "speed_ratio": round(rate / other["steps_per_second"], 2)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--seeds", type=int, default=1,
                      help="seeds vmapped in one run (1 is rejax's work)")
  parser.add_argument("--agents", default="sac,td3")
  parser.add_argument("--total_env_steps", type=int, default=32_768,
                      help="per seed; the return columns are read at half "
                      "and at the end (named 16k and 32k for the default)")
  parser.add_argument("--no_rejax", action="store_true")
  args = parser.parse_args()
  results = {agent: run(agent, args.repeats, args.seeds,
                        args.total_env_steps, not args.no_rejax)
             for agent in args.agents.split(",")}
  print(json.dumps(results), flush=True)


if __name__ == "__main__":
  main()
