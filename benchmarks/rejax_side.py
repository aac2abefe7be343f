"""The rejax half of our benchmarks. Runs ONLY in the benchmark venv
(`bench_venv`, with `pip install rejax gymnax==0.0.9`); never imported by
haikurl. Prints one JSON line.

  bench_venv/bin/python benchmarks/rejax_side.py --algo ppo --seeds 1 --repeats 3
"""
import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import peer_runtime  # pylint: disable=g-bad-import-order

CONFIGS = {
    # The hyperparameters of REFERENCE.md / issue 2 (rejax's CartPole PPO).
    "ppo": dict(env="CartPole-v1", num_envs=64, num_steps=64, num_epochs=8,
                num_minibatches=16, learning_rate=3e-4, max_grad_norm=0.5,
                total_timesteps=131_072, eval_freq=4_096, gamma=0.99,
                gae_lambda=0.95, clip_eps=0.2, vf_coef=0.5, ent_coef=0.01,
                agent_kwargs=dict(activation="swish",
                                  hidden_layer_sizes=(64, 64))),
    # Issue 3's DQN figures (rejax 0.1.3 configs/cartpole/dqn). rejax's
    # DQN.create_agent hard-codes hidden_layer_sizes=(64, 64) and passes
    # agent_kwargs on top, so giving the sizes again is a TypeError; the
    # net is 64-64 swish all the same. One gradient step (num_epochs=1) per
    # env step with 1 env; target <- 0.99 target + 0.01 online every step.
    "dqn": dict(env="CartPole-v1", num_envs=1, num_epochs=1, batch_size=256,
                buffer_size=131_072, fill_buffer=2_048, learning_rate=3e-4,
                polyak=0.99, target_update_freq=1, ddqn=True,
                eps_start=1.0, eps_end=0.05, exploration_fraction=0.1,
                total_timesteps=131_072, eval_freq=4_096, gamma=0.99,
                agent_kwargs=dict(activation="swish")),
    "sac": dict(env="Pendulum-v1", num_envs=1, batch_size=256,
                buffer_size=131_072, fill_buffer=2_048, learning_rate=3e-4,
                polyak=0.99, target_entropy_ratio=0.98,
                total_timesteps=32_768, eval_freq=4_096, gamma=0.99,
                agent_kwargs=dict(activation="relu",
                                  hidden_layer_sizes=(64, 64))),
    "td3": dict(env="Pendulum-v1", num_envs=1, batch_size=256,
                buffer_size=131_072, fill_buffer=2_048, learning_rate=3e-4,
                polyak=0.99, exploration_noise=0.3, target_noise=0.2,
                target_noise_clip=0.5, policy_delay=2,
                # rejax's TD3 takes actor_kwargs / critic_kwargs; its
                # defaults are the 64-64 swish MLPs wanted here.
                total_timesteps=32_768, eval_freq=4_096, gamma=0.99),
    # rejax 0.1.3's configs/gymnax/cartpole.yaml `pqn` entry (configs/pqn.py:
    # rejax is the same on our side); rejax's PQN net is 64-64 with
    # LayerNorm and ReLU.
    "pqn": dict(env="CartPole-v1", num_envs=16, num_steps=128,
                num_minibatches=16, max_grad_norm=10, learning_rate=3e-4,
                num_epochs=5, total_timesteps=524_288, eval_freq=16_384,
                eps_start=1.0, eps_end=0.05, exploration_fraction=0.5,
                gamma=0.99, td_lambda=0.9, normalize_observations=False),
    # The same file's `iqn` entry (configs/iqn.py:rejax): one env, a batch
    # of 1 per env step, N = N' = 64, Polyak 0.99 every step, swish.
    "iqn": dict(env="CartPole-v1", num_envs=1, buffer_size=100_000,
                fill_buffer=1_000, batch_size=1, num_tau_samples=64,
                num_tau_prime_samples=64, learning_rate=3e-4, num_epochs=1,
                total_timesteps=100_000, eval_freq=5_000,
                target_update_freq=1, polyak=0.99, kappa=1.0, eps_start=1.0,
                eps_end=0.01, exploration_fraction=0.5, gamma=0.99,
                normalize_observations=False,
                agent_kwargs=dict(activation="swish")),
}


rejax = None  # imported in main: importing it (gymnax) starts JAX's backend


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--algo", default="ppo", choices=sorted(CONFIGS))
  parser.add_argument("--seeds", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--total_timesteps", type=int, default=0)
  parser.add_argument("--no_eval", action="store_true")
  parser.add_argument("--eval_freq", type=int, default=0,
                      help="env steps between evaluations (default: the "
                      "config's)")
  peer_runtime.add_flag(parser)
  args = parser.parse_args()
  if args.cpu_threads == "one":
    peer_runtime.single_thread_runtime()
  global rejax
  import rejax  # pylint: disable=g-import-not-at-top,redefined-outer-name
  config = dict(CONFIGS[args.algo])
  if args.total_timesteps:
    config["total_timesteps"] = args.total_timesteps
  if args.eval_freq:
    config["eval_freq"] = args.eval_freq
  if args.no_eval:
    # Evaluation off: one evaluation period as long as the run, no initial
    # evaluation, and an evaluation callback that does no work. (An
    # eval_freq longer than the run takes a slower path in rejax 0.1.3:
    # 53k instead of 100k steps/s for PPO, issue 17.)
    config["eval_freq"] = config["total_timesteps"]
    config["skip_initial_evaluation"] = True
  algo = rejax.get_algo(args.algo).create(**config)
  if args.no_eval:
    algo = algo.replace(
        eval_callback=lambda algo, ts, rng: (jnp.zeros(1), jnp.zeros(1)))
  keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
  train = jax.jit(jax.vmap(algo.train))
  start = time.perf_counter()
  compiled = train.lower(keys).compile()
  compile_seconds = time.perf_counter() - start
  times, final = [], None
  for r in range(args.repeats):
    keys = jax.random.split(jax.random.PRNGKey(r), args.seeds)
    start = time.perf_counter()
    _, (lengths, returns) = compiled(keys)
    jax.block_until_ready(returns)
    times.append(time.perf_counter() - start)
    # returns: [seeds, num_evals, 128 episodes]
    final = float(np.mean(np.asarray(returns)[:, -1]))
    curve = np.asarray(returns).mean(axis=(0, 2))  # [num_evals]
    per_seed = np.asarray(returns).mean(axis=2)     # [seeds, num_evals]
  steps = config["total_timesteps"] * args.seeds
  # Evaluations at 0 (unless skipped) and then every eval_freq env steps.
  per_eval = int(np.ceil(config["eval_freq"] / config.get("num_envs", 1)) *
                 config.get("num_envs", 1))
  first = 1 if config.get("skip_initial_evaluation") else 0
  eval_steps = [per_eval * (i + first) for i in range(len(curve))]
  print(json.dumps({
      "impl": "rejax", "algo": args.algo, "seeds": args.seeds,
      "total_timesteps": config["total_timesteps"],
      "compile_seconds": compile_seconds,
      "seconds": times, "steps_per_second": steps / statistics.median(times),
      "final_eval_return": None if args.no_eval else final,
      "evaluation": (
          "none (eval_freq = total_timesteps, no initial evaluation, a "
          "callback that does no work)" if args.no_eval else
          f"rejax's own ({returns.shape[-1]} episodes) every "
          f"{config['eval_freq']:,} env steps and at step 0"),
      "eval_steps": eval_steps,
      "eval_returns": [round(float(r), 1) for r in curve],
      "eval_returns_per_seed": [[round(float(r), 2) for r in row]
                                for row in per_seed]}))


if __name__ == "__main__":
  main()
