"""The offline loop: `train(key, hparams)` over a dataset on the device.

An offline agent (a module with `OFFLINE = True`: agents/bc.py, iql.py,
cql.py) is trained from the Minari dataset `config.dataset` names, read
once onto the device (`haikurl.datasets.load`) and closed over by the
program: `jit` passes it to the compiled program as an argument (it is not
folded into the program as a constant), and a vmapped batch of members
shares the one copy. `make_train` dispatches here on the agent module, not
on `config.dataset`: an offline agent's `learn` takes a sampled minibatch
rather than a rollout, so whether a run is offline is a property of the
agent, and a config that gives an online agent a dataset (or an offline one
none) is refused in one line.

`OfflineTrain` is `loop.Train` with another iteration: sample `batch_size`
transitions uniformly (with replacement) from the dataset with the
training key, then one call of `agent.learn(state, batch, key, hp)`, which
takes one gradient step. Periods, learn-metric averaging, callbacks
(evaluation episodes in the dataset's environment, with the evaluation key
stream, so evaluating never changes training), numerics checks, `init` /
`period` for the CLI's chunks and checkpoints are `Train`'s own, so jit,
vmap over seeds and hyperparameters (`haikurl.sweep` members), sharding,
sweeps and the CLI work unchanged. There are no training episodes: the
`train/episode_*` metrics of an online run are left out (not NaN).

Units. In an offline run `total_env_steps` and `eval_every` count gradient
steps (the `env_steps` metric is the gradient steps taken): an offline
agent's settings fix `num_envs = rollout_length = 1`, so one iteration is
one gradient step. With `augmentation` (`haikurl.augment`: DrQ's shift,
colour jitter) the batch's obs and next_obs are augmented, each with its own
draw. The batch is a `Transition` [batch_size] in the agent's
units: observations as stored (raw; observation normalisation is refused),
discrete actions as int32, continuous actions mapped from the env's bounds
to the [-1, 1] the agent acts in (the inverse of `RescaleAction`), and
`discount` = 1 - terminated, which the agent multiplies by its own gamma
(truncation bootstraps, termination does not).
"""
import dataclasses
from typing import Any, ClassVar, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import augment as augment_lib
from haikurl import datasets
from haikurl import envs as envs_lib
from haikurl import loop
from haikurl import optim
from haikurl import settings as settings_lib
from haikurl.types import Transition


@dataclasses.dataclass(frozen=True)
class Settings(augment_lib.AugmentSettings):
  """Static settings of every offline agent: the batch, and the image
  augmentation applied to every sampled batch's obs and next_obs."""
  num_envs: int = settings_lib.setting(
      1, "offline: fixed at 1 (an iteration is one gradient step)",
      settings_lib.positive_int)
  rollout_length: int = settings_lib.setting(
      1, "offline: fixed at 1 (an iteration is one gradient step)",
      settings_lib.positive_int)
  batch_size: int = settings_lib.setting(
      256, "transitions sampled from the dataset per gradient step",
      settings_lib.positive_int)

  def check(self):
    super().check()
    if self.num_envs != 1 or self.rollout_length != 1:
      raise ValueError(
          "an offline agent takes one gradient step per iteration: leave "
          "config.agent.num_envs and rollout_length at 1 (total_env_steps "
          "and eval_every count gradient steps).")

  @property
  def total_gradient_steps(self) -> int:
    """Gradient steps over the run (one per iteration), at least 1."""
    return max(1, self.total_env_steps)


def actor_optimizer(settings) -> Optional[optim.Optimizer]:
  """The actor's optimiser for an offline agent's `actor_decay` setting:
  Adam whose rate decays to 0 on a cosine over the run's gradient steps
  ("cosine": IQL's paper), or None ("constant": the agent's own)."""
  if settings.actor_decay == "cosine":
    return optim.make(decay_steps=settings.total_gradient_steps,
                      decay_shape="cosine")
  return None


def is_offline(agent_module: Any) -> bool:
  """Whether `agent_module` learns from a dataset (`OFFLINE = True`)."""
  return bool(getattr(agent_module, "OFFLINE", False))


def env_bounds(env):
  """(low, high) [1, *action_shape] of a continuous env's own actions, as
  the agent's -1 and 1 map to them (`Env.to_env_action`)."""
  ones = jnp.ones((1,) + tuple(env.spec.action_shape), jnp.float32)
  return env.to_env_action(-ones), env.to_env_action(ones)


def to_agent_units(transitions: Transition, env) -> Transition:
  """Continuous actions from the env's bounds to [-1, 1] (RescaleAction's
  inverse, clipped); discrete ones as int32."""
  if env.spec.discrete:
    return transitions._replace(action=transitions.action.astype(jnp.int32))
  low, high = env_bounds(env)
  scaled = 2.0 * (transitions.action - low) / (high - low) - 1.0
  return transitions._replace(action=jnp.clip(scaled, -1.0, 1.0))


def _env_kwargs(config) -> Dict[str, Any]:
  """The config's gymnax / brax parameters, as a dataset records them."""
  env_cfg = config.get("env_kwargs", None)
  kwargs = env_cfg.to_dict() if env_cfg else {}
  kwargs.pop("sticky_actions", None)  # a property of acting, not the env
  return kwargs


def load_dataset(config, env) -> datasets.Dataset:
  """`config.dataset` read onto the device and checked against the run's
  env (name, parameters, shapes); actions in the agent's units
  (`to_agent_units`). Every problem is a one-line ValueError."""
  path = config.get("dataset", None)
  if not path:
    raise ValueError(f"agent {config.agent.name!r} learns offline: set "
                     "config.dataset to a Minari dataset (folder or id), "
                     "e.g. --config.dataset=data/pendulum-medium-v0.")
  if config.get("normalize_observations", False):
    raise ValueError("config.normalize_observations is not supported "
                     "offline: the dataset's observations are raw.")
  data = datasets.load(path)
  if data.env is not None:
    if envs_lib.check_name(data.env) != env.spec.name:
      raise ValueError(f"the dataset {path} was collected on {data.env}, "
                       f"the config runs {env.spec.name}: set --config.env="
                       f"{data.env}.")
    recorded = {k: v for k, v in data.env_kwargs.items()
                if k != "sticky_actions"}
    if recorded != _env_kwargs(config):
      raise ValueError(f"the dataset {path} was collected with env_kwargs "
                       f"{recorded}, the config has {_env_kwargs(config)}: "
                       "evaluation must run in the dataset's environment.")
  spec = env.spec
  if not spec.discrete:
    low, high = env_bounds(env)
    spec = spec._replace(action_low=np.asarray(low)[0],
                         action_high=np.asarray(high)[0])
  datasets.check_spec(data, spec)
  return data._replace(transitions=to_agent_units(data.transitions, env))


def sample(transitions: Transition, key: jax.Array,
           batch_size: int) -> Transition:
  """`batch_size` transitions drawn uniformly, with replacement.

  Args:
    transitions: Transition [N] (device arrays, shared by all members).
    key: PRNG key.
    batch_size: transitions to draw.

  Returns:
    Transition [batch_size].
  """
  size = transitions.reward.shape[0]
  index = jax.random.randint(key, (batch_size,), 0, size)
  return jax.tree.map(lambda x: x[index], transitions)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity, for jit
class OfflineTrain(loop.Train):
  """`loop.Train` whose iterations sample the dataset instead of an env."""
  dataset: Any = None  # datasets.Dataset, transitions in agent units
  step_unit: ClassVar[str] = "gradient steps"

  @property
  def dataset_size(self) -> int:
    return self.dataset.size

  def _iteration(self, state: loop.TrainState, hp):
    """One minibatch from the dataset, one call of learn."""
    key, sample_key, learn_key = jax.random.split(state.key, 3)
    batch = sample(self.dataset.transitions, sample_key,
                   self.settings.batch_size)
    augment = augment_lib.make_for_transitions(self.settings)
    if augment is not None:  # no key drawn without augmentation
      learn_key, augment_key = jax.random.split(learn_key)
      batch = augment(augment_key, batch)
    agent_state, metrics = self.agent.learn(state.agent_state, batch,
                                            learn_key, hp)
    state = state._replace(agent_state=agent_state, key=key,
                           env_steps=state.env_steps + self.steps_per_iteration)
    nonfinite = (self.numerics.flags(metrics, agent_state)
                 if self.numerics is not None else ())
    return state, loop.IterationOutputs(metrics, (), nonfinite)

  def episode_metrics(self, episodes) -> Dict[str, jax.Array]:
    """None: an offline run plays no training episodes."""
    del episodes
    return {}


def train_fields(config, env) -> dict:
  """What `loop.make_train` adds to build an `OfflineTrain`."""
  return dict(dataset=load_dataset(config, env))
