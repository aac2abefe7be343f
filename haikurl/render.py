"""Render a trained policy's greedy episode to a GIF (gymnax classic control).

    haikurl.render.render_policy("runs/ppo", "cartpole.gif", member=0)

Frames are drawn with matplotlib from the gymnax state of each step (no
pygame needed): CartPole-v1, Pendulum-v1, MountainCar-v0,
MountainCarContinuous-v0 and Acrobot-v1. The episode is played by
`haikurl.load_policy` (greedy, with the run's observation normalisation) in
one un-normalised env, stopping at the first termination or truncation.
"""
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import policy as policy_lib
from haikurl import envs as envs_lib
from haikurl.envs import gymnax_env

DRAWABLE = ("CartPole-v1", "Pendulum-v1", "MountainCar-v0",
            "MountainCarContinuous-v0", "Acrobot-v1")


def _gymnax_state(state):
  """The gymnax EnvState (batch of 1) inside a haikurl env state."""
  while not isinstance(state, gymnax_env.GymnaxState):
    if not hasattr(state, "inner"):
      raise ValueError("rendering needs a gymnax environment.")
    state = state.inner
  return jax.tree.map(lambda x: x[0], state.inner)


def rollout(policy, env_name: str, key: jax.Array, max_steps: int = 500,
            env_kwargs: Optional[dict] = None):
  """Plays one greedy episode; returns (list of gymnax states, total reward)."""
  # The policy acts in the env's own units (load_policy): no rescaling here.
  env = envs_lib.make(env_name, 1, rescale_actions=False,
                      **(env_kwargs or {}))

  def step(carry, key):
    env_state, obs, actor_carry, reward = carry
    act_key, step_key = jax.random.split(key)
    # policy.step keeps a recurrent agent's memory (a feed-forward one's
    # carry is ()); the episode ends at the first done, so no reset here.
    action, actor_carry = policy.step(actor_carry, obs, act_key, reward)
    env_state, ts = env.step(env_state, action, step_key)
    return ((env_state, ts.observation, actor_carry, ts.reward),
            (_gymnax_state(env_state), ts.reward[0], ts.done[0]))

  reset_key, carry_key, key = jax.random.split(key, 3)
  env_state, ts = env.reset(reset_key)
  first = _gymnax_state(env_state)
  start = (env_state, ts.observation, policy.initial_carry(carry_key),
           jnp.zeros((1,), jnp.float32))
  _, (states, rewards, dones) = jax.jit(
      lambda c, k: jax.lax.scan(step, c, jax.random.split(k, max_steps))
  )(start, key)
  dones = np.asarray(dones)
  length = int(np.argmax(dones)) + 1 if dones.any() else max_steps
  # The state after the last step is the next episode's first: not drawn.
  frames = [first] + [jax.tree.map(lambda x, i=i: x[i], states)
                      for i in range(length - 1)]
  return frames, float(np.sum(np.asarray(rewards)[:length]))


def _draw(ax, env_id: str, s) -> None:
  from matplotlib import patches  # pylint: disable=g-import-not-at-top
  ax.clear()
  ax.set_aspect("equal")
  ax.axis("off")
  if env_id == "CartPole-v1":
    x, theta = float(s.x), float(s.theta)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-0.6, 1.6)
    ax.plot([-2.4, 2.4], [0, 0], color="black", lw=1)
    ax.add_patch(patches.Rectangle((x - 0.25, -0.1), 0.5, 0.2,
                                   color="tab:blue"))
    ax.plot([x, x + 1.0 * math.sin(theta)], [0.1, 0.1 + 1.0 * math.cos(theta)],
            color="tab:orange", lw=6, solid_capstyle="round")
  elif env_id == "Pendulum-v1":
    theta = float(s.theta)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.plot([0, math.sin(theta)], [0, math.cos(theta)], color="tab:red", lw=8,
            solid_capstyle="round")
    ax.plot([0], [0], "ko")
  elif env_id.startswith("MountainCar"):
    xs = np.linspace(-1.2, 0.6, 200)
    ax.set_xlim(-1.25, 0.65)
    ax.set_ylim(-1.2, 1.2)
    ax.plot(xs, np.sin(3 * xs), color="black", lw=1)
    p = float(s.position)
    ax.plot([p], [math.sin(3 * p)], "s", color="tab:blue", ms=12)
    ax.plot([0.5], [math.sin(1.5)], "^", color="tab:green", ms=10)
  elif env_id == "Acrobot-v1":
    a1, a2 = float(s.joint_angle1), float(s.joint_angle2)
    p1 = (math.sin(a1), -math.cos(a1))
    p2 = (p1[0] + math.sin(a1 + a2), p1[1] - math.cos(a1 + a2))
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-2.2, 2.2)
    ax.plot([-2.2, 2.2], [1, 1], color="gray", lw=0.5)
    ax.plot([0, p1[0], p2[0]], [0, p1[1], p2[1]], "-o", color="tab:blue", lw=5)
  else:
    raise ValueError(f"cannot draw {env_id}; drawable: {', '.join(DRAWABLE)}.")
  ax.set_title(f"t = {int(s.time)}", fontsize=9)


def save_gif(frames, env_id: str, path: str, fps: int = 30) -> str:
  """Draws gymnax states `frames` of `env_id` into an animated GIF."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from matplotlib import animation  # pylint: disable=g-import-not-at-top
  if env_id not in DRAWABLE:
    raise ValueError(f"cannot draw {env_id}; drawable: {', '.join(DRAWABLE)}.")
  fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
  try:
    anim = animation.FuncAnimation(fig, lambda i: _draw(ax, env_id, frames[i]),
                                   frames=len(frames), interval=1000 // fps)
    anim.save(path, writer=animation.PillowWriter(fps=fps))
  finally:
    plt.close(fig)
  return path


def render_policy(workdir: str, path: str, member: int = 0, seed: int = 0,
                  max_steps: int = 500, fps: int = 30) -> dict:
  """One greedy episode of a trained member of `workdir`, as a GIF.

  Returns:
    {"path", "frames", "return"}.
  """
  policy = policy_lib.load_policy(workdir, member=member)
  config = policy.config
  env_id = config.env.split(":", 1)[-1]
  if not config.env.startswith("gymnax:") or env_id not in DRAWABLE:
    raise ValueError(f"cannot render {config.env}; drawable: "
                     f"{', '.join('gymnax:' + d for d in DRAWABLE)}.")
  kwargs = config.get("env_kwargs")
  frames, total = rollout(policy, config.env, jax.random.key(seed), max_steps,
                          kwargs.to_dict() if kwargs else None)
  save_gif(frames, env_id, path, fps)
  return {"path": path, "frames": len(frames), "return": total}
