"""Bring your own environment: a gymnax-style Environment subclass, trained
by the unchanged PPO through a registered name.

    python examples/custom_env.py [--small]

`Corridor` is a gymnax `Environment`: the agent starts at cell 0 of a
corridor of `length` cells and moves left or right; reaching the last cell
ends the episode with reward 1 (a termination), each step costs 0.01, and
episodes are cut at `max_steps_in_episode` (a truncation). gymnax's `step`
adds the auto-reset and `info["final_observation"]`.

`haikurl.envs.register(name, factory)` makes the name usable in a config
(`config.env = name`); the factory builds the batched Env, here haikurl's
gymnax adapter over an instance (`GymnaxEnv(name, num_envs,
environment=Corridor())`). A fully custom batched env can instead subclass
`haikurl.envs.Env` (reset, step, spec, num_envs).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment
from gymnax.environments import spaces

import haikurl
from configs import ppo as ppo_config
from haikurl.envs.gymnax_env import GymnaxEnv


@struct.dataclass
class CorridorState(environment.EnvState):
  position: jax.Array
  time: int


@struct.dataclass
class CorridorParams(environment.EnvParams):
  length: int = 8
  step_cost: float = 0.01
  max_steps_in_episode: int = 40


class Corridor(environment.Environment):
  """Walk right to the end of a corridor."""

  @property
  def default_params(self) -> CorridorParams:
    return CorridorParams()

  def step_env(self, key, state, action, params):
    del key
    move = jnp.where(action == 1, 1, -1)
    position = jnp.clip(state.position + move, 0, params.length - 1)
    terminated = position == params.length - 1
    reward = jnp.where(terminated, 1.0, -params.step_cost)
    state = CorridorState(position=position, time=state.time + 1)
    return (self._obs(state, params), state, reward, terminated, {})

  def reset_env(self, key, params):
    del key
    state = CorridorState(position=jnp.asarray(0, jnp.int32), time=0)
    return self._obs(state, params), state

  def _obs(self, state, params):
    return jnp.stack([state.position / (params.length - 1),
                      state.time / params.max_steps_in_episode]).astype(
                          jnp.float32)

  def is_terminated(self, state, params):
    return state.position == params.length - 1

  @property
  def num_actions(self) -> int:
    return 2

  def action_space(self, params=None):
    return spaces.Discrete(2)

  def observation_space(self, params):
    return spaces.Box(0.0, 1.0, (2,), jnp.float32)


NAME = "custom:Corridor-v0"
haikurl.envs.register(
    NAME, lambda num_envs, **kwargs: GymnaxEnv(
        NAME, num_envs, environment=Corridor(), **kwargs))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="a tiny budget (CI)")
  args = parser.parse_args()
  config = ppo_config.get_config("CartPole-v1")  # PPO's settings, our env
  config.env = NAME
  config.total_env_steps, config.eval_every = 32_768, 4_096
  config.num_eval_episodes = 8
  if args.small:
    config.agent.num_envs, config.agent.rollout_length = 4, 16
    config.agent.num_minibatches, config.agent.num_epochs = 2, 1
    config.total_env_steps, config.eval_every = 1024, 512
    config.num_eval_episodes = 4
  env = haikurl.envs.make(NAME, num_envs=2)
  print(f"{NAME}: observation {env.spec.obs_shape}, {env.spec.num_actions} "
        f"actions, time limit {env.spec.max_episode_steps}")
  train = haikurl.make_train(config)
  _, metrics = jax.jit(train)(jax.random.key(0))
  returns = np.asarray(metrics["eval/episode_return"])
  lengths = np.asarray(metrics["eval/episode_length"])
  print("greedy return per evaluation: "
        + ", ".join(f"{x:.2f}" for x in returns))
  print("greedy episode length per evaluation: "
        + ", ".join(f"{x:.1f}" for x in lengths)
        + f" (the shortest path takes {Corridor().default_params.length - 1})")


if __name__ == "__main__":
  main()
