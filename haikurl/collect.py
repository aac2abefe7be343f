r"""`haikurl-collect`: roll a finished run's policy and write a Minari dataset.

    haikurl-collect --workdir=runs/sac_pend --out=data/pendulum-medium-v0 \
        --episodes=200 --action_noise=0.2,0.5,1.0

The run's saved policy (`haikurl.load_policy`: greedy, in env units, with
the run's observation normalisation) acts in `--num_envs` copies of the
run's environment, in one jitted `lax.scan`. Noise makes the data
"medium"-like: with `--epsilon=e` an action is uniform over the action space
with probability e; with `--action_noise=s` (continuous actions) Gaussian
noise of standard deviation s times the half-range of the bounds is added
and clipped to them. A comma-separated list of levels gives each env one
level, in turn (env b gets level b mod L), so one call mixes qualities, as
a "medium-replay" dataset does. Each env contributes its first complete
episodes, so short episodes are not favoured; the episodes are taken in
turn over the envs, and exactly `--episodes` are written.

`--replay` instead writes the run's replay buffer (an off-policy run's
flashbax buffer, saved in its checkpoint): see `replay_episodes`.

The dataset's metadata says how it was collected (`haikurl_collect`: run,
member, noise levels, mean return per level).
"""
import argparse
import math
import sys
from typing import List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import datasets
from haikurl import envs as envs_lib


def parse_levels(text: Optional[str], name: str) -> List[float]:
  """"0.1,0.5" -> [0.1, 0.5]; one-line ValueError for a bad list."""
  if text is None or text == "":
    return [0.0]
  try:
    levels = [float(x) for x in str(text).split(",")]
  except ValueError:
    raise ValueError(f"--{name} must be a number or a comma-separated list "
                     f"of numbers, got {text!r}.") from None
  if any(not (x >= 0) for x in levels):
    raise ValueError(f"--{name} levels must be non-negative, got {text!r}.")
  if name == "epsilon" and any(x > 1 for x in levels):
    raise ValueError(f"--epsilon levels must be in [0, 1], got {text!r}.")
  return levels


def make_rollout(policy, env, spec, num_steps: int):
  """A jittable `rollout(key, epsilon [B], noise [B]) -> arrays [T, B, ...]`
  of the policy in env (env units, raw observations)."""
  num_envs = env.num_envs
  if not spec.discrete:
    low = jnp.asarray(spec.action_low, jnp.float32)
    high = jnp.asarray(spec.action_high, jnp.float32)

  def noisy(action, key, epsilon, noise):
    explore_key, random_key, noise_key = jax.random.split(key, 3)
    explore = jax.random.uniform(explore_key, (num_envs,)) < epsilon
    if spec.discrete:
      random = jax.random.randint(random_key, (num_envs,), 0,
                                  spec.num_actions).astype(action.dtype)
      return jnp.where(explore, random, action)
    random = jax.random.uniform(random_key, action.shape, minval=low,
                                maxval=high)
    scale = (noise[:, None] * (high - low) / 2.0).reshape(
        (num_envs,) + (1,) * (action.ndim - 1))
    gaussian = action + scale * jax.random.normal(noise_key, action.shape)
    action = jnp.clip(gaussian, low, high)
    explore = explore.reshape((num_envs,) + (1,) * (action.ndim - 1))
    return jnp.where(explore, random, action)

  def rollout(key, epsilon, noise):
    reset_key, key = jax.random.split(key)
    env_state, timestep = env.reset(reset_key)

    def step(carry, key):
      env_state, obs = carry
      act_key, noise_key, step_key = jax.random.split(key, 3)
      action = noisy(policy(obs, act_key), noise_key, epsilon, noise)
      env_state, ts = env.step(env_state, action, step_key)
      out = dict(obs=obs, action=action, reward=ts.reward,
                 terminated=ts.terminated, truncated=ts.truncated,
                 next_obs=ts.next_observation)
      return (env_state, ts.observation), out

    _, out = jax.lax.scan(step, (env_state, timestep.observation),
                          jax.random.split(key, num_steps))
    return out

  return rollout


def collect(workdir: str, episodes: int, epsilon: Sequence[float] = (0.0,),
            action_noise: Sequence[float] = (0.0,), member: int = 0,
            num_envs: int = 0, seed: int = 0):
  """Plays `episodes` episodes of a run's policy with noise.

  Args:
    workdir: a finished run (its checkpoint and config).
    episodes: how many complete episodes to return.
    epsilon, action_noise: noise levels (see the module docstring); lists
      of one or of equal length L (env b plays level b mod L).
    member: which member of the run acts.
    num_envs: envs stepped in parallel; 0: min(episodes, 256).
    seed: PRNG seed of the rollout.

  Returns:
    (episodes: List[datasets.Episode], env name, env spec in env units,
    env kwargs, info dict for the metadata).
  """
  from haikurl import loop  # pylint: disable=g-import-not-at-top
  from haikurl import policy as policy_lib  # pylint: disable=g-import-not-at-top
  if episodes < 1:
    raise ValueError(f"--episodes must be positive, got {episodes}.")
  epsilon, action_noise = list(epsilon), list(action_noise)
  if len(epsilon) > 1 and len(action_noise) > 1 and (
      len(epsilon) != len(action_noise)):
    raise ValueError("--epsilon and --action_noise lists must have the same "
                     f"length, got {len(epsilon)} and {len(action_noise)}.")
  levels = max(len(epsilon), len(action_noise))
  epsilon = epsilon * levels if len(epsilon) == 1 else epsilon
  action_noise = action_noise * levels if len(action_noise) == 1 else (
      action_noise)
  act = policy_lib.load_policy(workdir, member=member)
  config = act.config
  spec = act.spec
  if spec.discrete and any(action_noise):
    raise ValueError("--action_noise is for continuous actions; "
                     f"{config.env} is discrete: use --epsilon.")
  num_envs = num_envs or min(episodes, 256)
  num_envs = max(num_envs, levels)
  env_kwargs = config.get("env_kwargs", None)
  env_kwargs = env_kwargs.to_dict() if env_kwargs else {}
  env = envs_lib.make(config.env, num_envs, rescale_actions=False,
                      sticky_actions=loop.sticky_actions(config),
                      **env_kwargs)
  max_len = int(env.spec.max_episode_steps or config.get("eval_max_steps",
                                                          1000))
  per_env = math.ceil(episodes / num_envs)
  rollout = jax.jit(make_rollout(act, env, spec, per_env * max_len))
  level = np.arange(num_envs) % levels
  out = rollout(jax.random.key(seed),
                jnp.asarray(np.asarray(epsilon, np.float32)[level]),
                jnp.asarray(np.asarray(action_noise, np.float32)[level]))
  out = jax.tree.map(np.asarray, out)
  by_env = datasets.episodes_from_rollout(**out)
  chosen, chosen_level = [], []
  for i in range(per_env):
    for b, env_episodes in enumerate(by_env):
      if i < len(env_episodes) and len(chosen) < episodes:
        chosen.append(env_episodes[i])
        chosen_level.append(level[b])
  if len(chosen) < episodes:
    raise RuntimeError(f"only {len(chosen)} episodes ended in "
                       f"{per_env * max_len} steps.")
  returns = np.asarray([float(np.sum(e.rewards)) for e in chosen])
  chosen_level = np.asarray(chosen_level)
  info = dict(
      workdir=str(workdir), member=int(member), agent=config.agent.name,
      epsilon=epsilon, action_noise=action_noise, seed=int(seed),
      episodes=int(episodes), mean_return=float(np.mean(returns)),
      mean_return_per_level=[float(np.mean(returns[chosen_level == l]))
                             for l in range(levels)])
  return chosen, config.env, spec, env_kwargs, info


def replay_episodes(workdir: str, member: int = 0):
  """The replay buffer of an off-policy run as episodes (env units).

  The buffer is the flashbax item buffer of the run's agent state (its
  `buffer` field) in the latest checkpoint, read in insertion order; each
  stored transition is one step. A run of several envs interleaves them
  (items of one learn call are [rollout_length, num_envs] flattened), so
  its rows are regrouped by env. Consecutive items of one env form an
  episode until a termination or truncation; the oldest may start in the
  middle of an episode (the buffer wrapped), and the last one still running
  when the run ended is written with neither flag set at its end. Actions
  are converted to env units; a run with observation normalisation is
  refused (its buffer holds normalised observations).

  Returns: (episodes, env name, env spec, env kwargs, info).
  """
  from haikurl import policy as policy_lib  # pylint: disable=g-import-not-at-top
  act = policy_lib.load_policy(workdir, member=member)
  config = act.config
  if config.get("normalize_observations", False):
    raise ValueError("--replay: this run normalised observations, so its "
                     "buffer holds normalised ones; collect with the policy "
                     "instead.")
  buffer = getattr(act.agent_state, "buffer", None)
  if buffer is None or not hasattr(buffer, "experience"):
    raise ValueError(f"--replay: the {config.agent.name} run in {workdir} "
                     "keeps no replay buffer (on-policy agent?).")
  if config.agent.get("n_step", 1) != 1 or not hasattr(buffer, "current_index"):
    raise ValueError("--replay reads an item buffer of single transitions; "
                     "this run's buffer is a trajectory buffer (n-step).")
  experience = jax.tree.map(lambda x: np.asarray(x)[0], buffer.experience)
  size = experience.reward.shape[0]
  full = bool(np.asarray(buffer.is_full))
  head = int(np.asarray(buffer.current_index))
  order = (np.r_[head:size, 0:head] if full else np.arange(head))
  num_envs = int(config.agent.num_envs)
  rows = jax.tree.map(lambda x: x[order], experience)
  # Items arrive num_envs at a time (time-major): env b holds every
  # num_envs-th item. A wrapped buffer keeps whole adds, so the phase holds.
  count = (len(order) // num_envs) * num_envs
  rows = jax.tree.map(lambda x: x[len(order) - count:], rows)
  spec = act.spec
  if spec.discrete:
    action = rows.action
  else:  # RescaleAction's map from [-1, 1] to the env's bounds
    low, high = spec.action_low, spec.action_high
    action = low + (np.clip(rows.action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
  arrays = dict(obs=rows.obs, action=action, reward=rows.reward,
                terminated=rows.terminated, truncated=rows.truncated,
                next_obs=rows.next_obs)
  arrays = {k: v.reshape((count // num_envs, num_envs) + v.shape[1:])
            for k, v in arrays.items()}
  done = np.logical_or(arrays["terminated"], arrays["truncated"])
  # The running episodes at the end: cut there, marked as neither.
  by_env = []
  for b in range(num_envs):
    ends = list(np.flatnonzero(done[:, b])) + [done.shape[0] - 1]
    start = 0
    for end in sorted(set(ends)):
      steps = slice(start, end + 1)
      by_env.append(datasets.Episode(
          observations=np.concatenate([arrays["obs"][steps, b],
                                       arrays["next_obs"][end:end + 1, b]]),
          actions=arrays["action"][steps, b],
          rewards=arrays["reward"][steps, b],
          terminations=arrays["terminated"][steps, b],
          truncations=arrays["truncated"][steps, b]))
      start = end + 1
  env_kwargs = config.get("env_kwargs", None)
  env_kwargs = env_kwargs.to_dict() if env_kwargs else {}
  info = dict(workdir=str(workdir), member=int(member),
              agent=config.agent.name, source="replay buffer",
              transitions=int(count))
  return by_env, config.env, spec, env_kwargs, info


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Console-script entry point; returns the exit status."""
  parser = argparse.ArgumentParser(
      prog="haikurl-collect", description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workdir", required=True, help="a finished run")
  parser.add_argument("--out", required=True,
                      help="new dataset folder, named <name>-v<version>")
  parser.add_argument("--episodes", type=int, default=100)
  parser.add_argument("--epsilon", default=None,
                      help="probability of a uniform random action "
                      "(a level or a comma-separated list)")
  parser.add_argument("--action_noise", default=None,
                      help="Gaussian noise std over the action half-range "
                      "(continuous; a level or a list)")
  parser.add_argument("--member", type=int, default=0)
  parser.add_argument("--num_envs", type=int, default=0)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--replay", action="store_true",
                      help="write the run's replay buffer instead")
  args = parser.parse_args(argv)
  try:
    if args.replay:
      episodes, env, spec, env_kwargs, info = replay_episodes(
          args.workdir, args.member)
    else:
      episodes, env, spec, env_kwargs, info = collect(
          args.workdir, args.episodes,
          parse_levels(args.epsilon, "epsilon"),
          parse_levels(args.action_noise, "action_noise"), args.member,
          args.num_envs, args.seed)
    path = datasets.write(args.out, episodes, env, spec, env_kwargs,
                          algorithm_name=f"haikurl {info['agent']}",
                          metadata={"haikurl_collect": info})
  except (ValueError, FileNotFoundError) as e:
    print(f"haikurl-collect: {e}", file=sys.stderr)
    return 2
  returns = [float(np.sum(e.rewards)) for e in episodes]
  print(f"wrote {len(episodes)} episodes, {sum(len(e.rewards) for e in episodes):,} "
        f"steps, mean return {np.mean(returns):.1f} to {path}")
  if "mean_return_per_level" in info:
    print("mean return per level: " + ", ".join(
        f"{r:.1f}" for r in info["mean_return_per_level"]))
  return 0


def run():
  sys.exit(main())


if __name__ == "__main__":
  run()
