"""make_train(config) -> train(key, hparams): the whole run as one function.

    train = make_train(config)
    state, metrics = jax.jit(jax.vmap(train))(keys, hparams)

The run is a `lax.scan` over `num_evals` evaluation periods; each period is a
`lax.scan` over iterations, and each iteration is a `lax.scan` of
`rollout_length` env steps over `num_envs` followed by `agent.learn`. At the
end of each period every callback runs (the default one plays evaluation
episodes by the run's protocol, `Train.eval_protocol`, with keys from a
stream of their own). `metrics` has a leading `[num_evals]` axis.
Nothing in the trace goes back to the host.

Data parallelism (`config.data_parallel=N`, default 1: the plain loop,
unchanged): one member's `num_envs` environments and its gradient batch are
split over N devices. The iterations of a period run under `jax.shard_map`
over the mesh axis `DATA_AXIS`: each device steps `num_envs / N`
environments (env and action keys with the device's index folded in),
calls `learn` on its own share of the rollout, and the agent's optimiser
(`haikurl.optim`, built with `axis_name=DATA_AXIS` through the agent's
`settings.data_axis`) averages the gradients, so the parameters stay the
same on every device. Learn metrics are averaged over devices and episode
counts summed, so a period's metrics, and the state outside the shard_map
(environments over `num_envs`), have the shapes of a one-device run's; the
callbacks (evaluation) run on that state. The agent is built with its
per-device settings (`num_envs / N`, `total_env_steps / N`: the same
iterations, updates and schedules as the whole run; an agent's own
counter of env steps, as PQN's, counts its device's). Only agents whose
Settings set `DATA_PARALLEL` (PPO, A2C, PQN) accept N > 1.
"""
import dataclasses
import os
from typing import Any, Callable, ClassVar, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from ml_collections import config_dict

from haikurl import envs as envs_lib
from haikurl import evaluation
from haikurl import numerics as numerics_lib
from haikurl import registry
from haikurl import settings as settings_lib
from haikurl import types
from haikurl import validation
from haikurl.types import Transition



def compiler_options(backend: Optional[str] = None) -> Dict[str, Any]:
  """XLA options that make `train` compile faster, for `jax.jit(...,
  compiler_options=...)` or `.compile(compiler_options=...)`.

  On CPU: LLVM optimisation level 1 instead of 2. A training program is
  many small loop bodies whose run time is dominated by the loop, not by
  code quality, and `O1` cuts XLA's compile time by about a fifth (PPO on
  CartPole: 6.5 s to 5.4 s of lower + compile on the 2-core CPU) with no
  measurable cost in steps/s (PPO, DQN and SAC presets; CPU time of the
  compiled runs within 3%). Other backends, or an `XLA_FLAGS` that sets the
  level itself: no options.
  """
  backend = backend or jax.default_backend()
  if (backend != "cpu" or
      "xla_backend_optimization_level" in os.environ.get("XLA_FLAGS", "")):
    return {}
  return {"xla_backend_optimization_level": 1}


class TrainState(NamedTuple):
  """Everything a run carries from one iteration to the next."""
  agent_state: Any      # the agent's State
  env_state: Any        # the env's state
  timestep: Any         # the last TimeStep (its observation is acted on next)
  key: jax.Array        # PRNG key of training: split once per iteration
  env_steps: jax.Array  # [] int32 env steps taken so far
  # PRNG key of the callbacks (evaluation), split once per period: a stream
  # of its own, so the evaluation schedule cannot change training.
  eval_key: jax.Array
  # The actor carry of a recurrent agent (`haikurl.types.ActorCarry`, one
  # row per env); () for a feed-forward agent, which carries nothing.
  actor_carry: Any = ()


# The mesh axis over which `config.data_parallel` splits one member.
DATA_AXIS = "data"

# `fold_in` data of the callbacks' key stream ("eval" in ASCII).
EVAL_STREAM = 0x6576616C
# `fold_in` data of a recurrent agent's carry keys ("carr"): feed-forward
# agents draw exactly the keys they drew before carries existed.
CARRY_STREAM = 0x63617272


class EpisodeStats(NamedTuple):
  returns: jax.Array  # [] sum of the returns of episodes ended
  lengths: jax.Array  # [] sum of their lengths
  count: jax.Array    # [] number of episodes ended


class IterationOutputs(NamedTuple):
  """What one iteration hands its period (stacked over iterations)."""
  learn_metrics: Dict[str, jax.Array]  # the learn call's metrics
  episodes: EpisodeStats               # episodes that ended in the rollout
  nonfinite: Any                       # [K] bool numerics flags; () when off


def sticky_actions(config) -> float:
  """The run's sticky-action probability (training and evaluation envs).

  `config.sticky_actions` (a run setting) or `config.env_kwargs.sticky_actions`;
  neither set: the env's default (`haikurl.envs.default_sticky_actions`: 0.1
  on MinAtar, else 0). Raises a one-line ValueError for a value that is not
  a probability in [0, 1), or two settings that disagree.
  """
  env_cfg = config.get("env_kwargs", None) or {}
  given = [(f"config.{path}", value) for path, value in (
      ("sticky_actions", config.get("sticky_actions", None)),
      ("env_kwargs.sticky_actions", env_cfg.get("sticky_actions", None)))
           if value is not None]
  for path, value in given:
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or
        not 0.0 <= value < 1.0):
      raise ValueError(f"{path} must be a probability in [0, 1), got "
                       f"{value!r}.")
  if len(given) == 2 and given[0][1] != given[1][1]:
    raise ValueError(f"{given[0][0]}={given[0][1]!r} and {given[1][0]}="
                     f"{given[1][1]!r} disagree; set one of them.")
  if given:
    return float(given[0][1])
  return envs_lib.default_sticky_actions(config.env)


# Learn metrics that count what a call did (summed over a period, and the
# gate of the other metrics' averages). "train/updates" (1.0 when a call
# learned) is SAC/TD3's older name for the same signal.
COUNTERS = ("train/gradient_steps", "train/updates")


def period_learn_metrics(stacked: Dict[str, jax.Array]) -> Dict[str, jax.Array]:
  """A period's learn metrics from the per-iteration ones.

  With a counter (`COUNTERS`) among them, each other metric is averaged
  over the iterations whose learn call learned (counter > 0), NaN where
  none did, and the counters are summed (gradient steps this period).
  Without one, every metric is averaged over all iterations.

  Args:
    stacked: name -> [iterations, ...] learn metrics.

  Returns:
    name -> [] float32.
  """
  signal = next((name for name in COUNTERS if name in stacked), None)
  per_iteration = {
      name: jnp.mean(jnp.reshape(v, (v.shape[0], -1)), axis=1).astype(
          jnp.float32) if v.ndim > 1 else v.astype(jnp.float32)
      for name, v in stacked.items()}
  if signal is None:
    return {name: jnp.mean(v) for name, v in per_iteration.items()}
  learned = per_iteration[signal] > 0
  count = jnp.sum(learned.astype(jnp.float32))
  out = {}
  for name, v in per_iteration.items():
    if name in COUNTERS:
      out[name] = jnp.sum(v)
    else:
      total = jnp.sum(jnp.where(learned, v, 0.0))
      out[name] = jnp.where(count > 0, total / jnp.maximum(count, 1.0),
                            jnp.nan)
  return out


def make_env(config, num_envs: Optional[int] = None, evaluation: bool = False):
  """The config's environment, as the loop builds it.

  Honours `config.env`, `config.env_kwargs` (brax backend and episode
  length, gymnax env params), `config.normalize_observations` and the
  sticky-action probability (`sticky_actions(config)`).

  Args:
    config: a haikurl config.
    num_envs: batch size of the env; default `config.agent.num_envs`
      (training) or `config.num_eval_episodes` (evaluation).
    evaluation: the evaluation flavour: observation-normalisation
      statistics are frozen (they come from the training env's state).

  Returns:
    A batched, auto-resetting `haikurl.envs.Env`.
  """
  if "num_envs" not in config.agent or "num_eval_episodes" not in config:
    config = complete_config(config)  # a config that lists only some keys
  if num_envs is None:
    num_envs = (config.num_eval_episodes if evaluation
                else config.agent.num_envs)
  env_cfg = config.get("env_kwargs", config_dict.ConfigDict())
  kwargs = env_cfg.to_dict() if env_cfg else {}
  kwargs["sticky_actions"] = sticky_actions(config)
  return envs_lib.make(
      config.env, int(num_envs),
      normalize_observations=config.get("normalize_observations", False),
      update_statistics=not evaluation, **kwargs)


def data_parallel(config) -> int:
  """`config.data_parallel` (1 when absent); a one-line ValueError for a
  value that is not a positive integer."""
  value = config.get("data_parallel", 1)
  if value is None:
    return 1
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < 1):
    raise ValueError(f"config.data_parallel must be a positive integer "
                     f"(devices per member), got {value!r}.")
  return int(value)


def data_parallel_agents() -> Tuple[str, ...]:
  """The registered agents that accept `config.data_parallel > 1`."""
  return tuple(name for name in registry.known()
               if getattr(registry.lookup(name).Settings, "DATA_PARALLEL",
                          False))


def check_data_parallel(config, agent_module) -> int:
  """`config.data_parallel`, checked before anything is built or compiled.

  Raises a one-line ValueError for an agent that cannot split a member over
  devices, `num_envs` not a multiple of it or observation normalisation
  (its running statistics would differ between devices). The device count
  is checked last, by `check_devices`, so every setting's error shows
  on a one-device machine.
  """
  n = data_parallel(config)
  if n == 1:
    return 1
  name = config.agent.get("name", "?")
  if not getattr(agent_module.Settings, "DATA_PARALLEL", False):
    raise ValueError(
        f"config.data_parallel={n}: agent {name!r} cannot split one member "
        f"over devices (its state holds per-device data, e.g. a replay "
        f"buffer or recurrent carries); agents that can: "
        f"{', '.join(data_parallel_agents())}. Use config.data_parallel=1.")
  num_envs = config.agent.num_envs
  if num_envs % n:
    raise ValueError(
        f"config.agent.num_envs={num_envs} is not a multiple of "
        f"config.data_parallel={n}: each device steps num_envs / "
        f"data_parallel environments.")
  if config.get("normalize_observations", False):
    raise ValueError(
        f"config.normalize_observations needs config.data_parallel=1 (got "
        f"{n}): the running statistics would differ between devices.")
  return n


def check_devices(n: int) -> None:
  """A one-line ValueError when there are fewer than `n` devices."""
  devices = jax.devices()
  if len(devices) < n:
    raise ValueError(
        f"config.data_parallel={n} needs {n} devices, found {len(devices)} "
        f"({devices[0].platform}); on a CPU, force them with XLA_FLAGS="
        f"--xla_force_host_platform_device_count={n}.")


def check_env_rows(env, num_envs: int) -> None:
  """Every leaf of the env's state and TimeStep has the env batch as its
  leading axis (how the data-parallel loop splits them); else one line."""
  shapes = jax.eval_shape(env.reset, jax.random.key(0))
  for path, leaf in jax.tree_util.tree_leaves_with_path(shapes):
    if not leaf.shape or leaf.shape[0] != num_envs:
      raise ValueError(
          f"config.data_parallel: the env's state leaf "
          f"{jax.tree_util.keystr(path)} has shape {leaf.shape}, not one row "
          f"per environment ({num_envs}); this env needs "
          f"config.data_parallel=1.")


def data_mesh(n: int) -> Mesh:
  """A 1-D mesh of the first `n` devices over `DATA_AXIS`."""
  return Mesh(np.array(jax.devices()[:n]), (DATA_AXIS,))


def complete_config(config, agent: Any = None):
  """`config` with every agent and run setting listed, defaults filled in
  (`haikurl.settings.complete`); the agent from `config.agent.name` unless
  given."""
  validation.check_config(config)
  agent_module = agent if agent is not None else registry.lookup(
      config.agent.name)
  return settings_lib.complete(config, agent_module)


class RunLength(NamedTuple):
  """How a config's run divides into iterations and evaluation periods."""
  steps_per_iteration: int  # num_envs * rollout_length
  iterations_per_eval: int
  num_evals: int

  @property
  def steps_per_eval(self) -> int:
    return self.iterations_per_eval * self.steps_per_iteration

  @property
  def total_env_steps(self) -> int:
    return self.num_evals * self.steps_per_eval


def run_length(config) -> RunLength:
  """The run's iterations and periods (see `make_train`).

  Raises a one-line ValueError when `eval_every` is not a whole number of
  iterations or `total_env_steps` not a whole number of periods
  (`validation.check_run_length`): the run is never silently rounded.
  """
  num_envs = config.agent.num_envs
  rollout_length = config.agent.rollout_length
  validation.check_run_length(config.total_env_steps, config.eval_every,
                              num_envs, rollout_length)
  steps_per_iteration = num_envs * rollout_length
  return RunLength(steps_per_iteration,
                   config.eval_every // steps_per_iteration,
                   config.total_env_steps // config.eval_every)


def device_settings(config, agent_module, n: int):
  """The agent's settings on one of `n` data-parallel devices: `num_envs /
  n` environments, `total_env_steps / n`, `data_axis=DATA_AXIS`; a setting
  check that fails on them is one line saying so."""
  length = run_length(config)
  values = config.agent.to_dict()
  values["num_envs"] = config.agent.num_envs // n
  try:
    settings, _ = settings_lib.split(
        values, agent_module, total_env_steps=length.total_env_steps // n,
        data_axis=DATA_AXIS)
  except ValueError as e:
    raise ValueError(
        f"{str(e).rstrip('.')} (per device, with config.data_parallel={n}: "
        f"num_envs {config.agent.num_envs} / {n} = {values['num_envs']}).") \
        from None
  return settings


def agent_settings(config, agent: Any = None):
  """The agent's (static settings, default traced HParams) for `config`.

  What `make_train` passes to `agent.make` and `train`: use it to drive the
  `init / act / learn` triple from your own loop:

      settings, hp = haikurl.agent_settings(config)
      env = haikurl.make_env(config)
      triple = ppo.make(settings, env.spec)

  Args:
    config: a haikurl config (`config.agent.name` names the agent).
    agent: the agent module; default: looked up from `config.agent.name`.

  Returns:
    (settings, hparams): the agent's `Settings` record, with the run's
    `total_env_steps` (in whole iterations, as `make_train` runs it), and
    its `HParams` of float32 scalars. Keys the config leaves out take the
    agent's defaults; a key the agent does not have is a one-line
    ValueError.
  """
  agent_module = agent if agent is not None else registry.lookup(
      config.agent.name)
  config = complete_config(config, agent_module)  # checks the run fields
  length = run_length(config)
  return settings_lib.split(config.agent, agent_module,
                            total_env_steps=length.total_env_steps)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity, for jit
class Train:
  """The training function and what it was built from.

  Call it as `train(key, hparams)`; `init` and `period` are the two halves
  used by the CLI to run one period per jitted call (for progress lines and
  checkpoints between periods): `train` equals `init` followed by
  `num_evals` calls of `period`.
  """
  config: Any
  env: Any
  eval_env: Any
  agent: Any
  agent_module: Any
  settings: Any
  default_hparams: Any
  length: RunLength        # iterations and periods of the run
  callbacks: Dict[str, Callable]
  # How evaluation episodes act (config.eval_policy, sticky actions).
  protocol: evaluation.Protocol = evaluation.Protocol()
  # Opt-in (config.check_numerics or config.debug_nans): see
  # haikurl/numerics.py. None: off.
  numerics: Optional[numerics_lib.Checker] = None
  # config.data_parallel: devices per member (1: the plain loop). With more,
  # `env` and `settings` are one device's (num_envs / data_parallel envs).
  data_parallel: int = 1
  # The mesh whose DATA_AXIS splits a member (data_parallel > 1): a 1-D mesh
  # of the first devices, or the members x data mesh a batch.Runner puts in.
  mesh: Optional[Mesh] = None
  # What `total_env_steps` and the `env_steps` column count (a class
  # attribute: haikurl.offline.OfflineTrain counts gradient steps).
  step_unit: ClassVar[str] = "env steps"

  @property
  def check_numerics(self) -> bool:
    return self.numerics is not None

  @property
  def numerics_names(self) -> Tuple[str, ...]:
    """What `numerics/index` indexes: the checked leaves' names."""
    return self.numerics.names if self.numerics is not None else ()

  # The run's length, as `RunLength` gives it.
  num_evals = property(lambda self: self.length.num_evals)
  iterations_per_eval = property(lambda self: self.length.iterations_per_eval)
  steps_per_iteration = property(lambda self: self.length.steps_per_iteration)
  steps_per_eval = property(lambda self: self.length.steps_per_eval)
  total_env_steps = property(lambda self: self.length.total_env_steps)

  @property
  def eval_protocol(self) -> str:
    """The evaluation protocol in words, for outputs: e.g. "greedy, sticky
    actions p=0.1, 32 episodes"."""
    return self.protocol.describe()

  def state_specs(self) -> TrainState:
    """How a data-parallel member's TrainState lies over DATA_AXIS: the
    environments' rows split, everything else the same on every device."""
    rows, same = PartitionSpec(DATA_AXIS), PartitionSpec()
    return TrainState(agent_state=same, env_state=rows, timestep=rows,
                      key=same, env_steps=same, eval_key=same,
                      actor_carry=rows)

  def _over_devices(self, fn, in_specs, out_specs):
    """`fn` under shard_map over DATA_AXIS (itself with one device).

    Manual over every axis of `self.mesh`: on a Runner's members x data
    mesh, the member axis of its `vmap` is mapped to the mesh's member axis
    by `spmd_axis_name`. check_vma=False: rlax's code is not annotated for
    it, and the outputs specified as the same on every device are
    (averaged gradients, averaged or summed metrics).
    """
    if self.data_parallel == 1:
      return fn
    return jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs,
                         out_specs=out_specs, check_vma=False)

  def _device_key(self, key: jax.Array) -> jax.Array:
    """`key` with this device's index folded in (data parallel), so each
    device's environments and actions draw keys of their own."""
    if self.data_parallel == 1:
      return key
    return jax.random.fold_in(key, jax.lax.axis_index(DATA_AXIS))

  def _mean_over_devices(self, metrics):
    """Learn metrics averaged over DATA_AXIS (a mean of equal shares is the
    whole batch's mean); non-float ones (flags) their max."""
    if self.data_parallel == 1:
      return metrics
    return jax.tree.map(
        lambda x: (jax.lax.pmean(x, DATA_AXIS)
                   if jnp.issubdtype(x.dtype, jnp.inexact)
                   else jax.lax.pmax(x, DATA_AXIS)), metrics)

  def _sum_over_devices(self, tree):
    if self.data_parallel == 1:
      return tree
    return jax.lax.psum(tree, DATA_AXIS)

  def init(self, key: jax.Array, hparams=None) -> TrainState:
    """The state before any step: fresh agent, reset envs."""
    hp = self.default_hparams if hparams is None else hparams
    if self.data_parallel == 1:
      return self._init(key, hp)
    same = PartitionSpec()  # the key and hp, the same on every device
    return self._over_devices(self._init, (same, same),
                              self.state_specs())(key, hp)

  def _init(self, key: jax.Array, hp) -> TrainState:
    # fold_in, not a 4-way split: the training keys stay those of a 3-way
    # split, whatever the callbacks do.
    eval_key = jax.random.fold_in(key, EVAL_STREAM)
    agent_key, env_key, key = jax.random.split(key, 3)
    agent_state = self.agent.init(agent_key, hp)
    env_state, timestep = self.env.reset(self._device_key(env_key))
    actor_carry = types.initial_carry(
        self.agent, jax.random.fold_in(agent_key, CARRY_STREAM),
        self.env.num_envs, self.env.spec)
    return TrainState(agent_state, env_state, timestep, key,
                      jnp.zeros((), jnp.int32), eval_key, actor_carry)

  def rollout(self, state: TrainState, rollout_key: jax.Array, hparams=None):
    """`rollout_length` env steps of acting from `state`, as an iteration
    takes them (the benchmarks' ceilings collect their inputs with it).

    Returns:
      ((env_state, timestep, actor_carry) after the rollout,
       (trajectory, stats)): the [rollout_length, num_envs] `Transition`
      that `learn` gets, and per-step `EpisodeStats`.
    """
    hp = self.default_hparams if hparams is None else hparams
    agent, env = self.agent, self.env
    recurrent = agent.recurrent

    def env_step(carry, key):
      env_state, timestep, actor_carry = carry
      act_key, step_key = jax.random.split(key)
      obs = timestep.observation
      action, core, extras = types.act(agent, state.agent_state, actor_carry,
                                       obs, act_key, hp, False)
      env_state, timestep = env.step(env_state, action, step_key)
      transition = Transition(
          obs=obs, action=action, reward=timestep.reward,
          discount=timestep.discount, terminated=timestep.terminated,
          truncated=timestep.truncated,
          next_obs=timestep.next_observation, extras=extras)
      done = timestep.done
      if recurrent:  # reset where the episode ended, before the next action
        fresh = types.initial_carry(
            agent, jax.random.fold_in(step_key, CARRY_STREAM), env.num_envs,
            env.spec)
        actor_carry = types.next_carry(actor_carry, core, action,
                                       timestep.reward, done, fresh)
      stats = EpisodeStats(
          jnp.sum(jnp.where(done, timestep.episode_return, 0.0)),
          jnp.sum(jnp.where(done, timestep.episode_length, 0)),
          jnp.sum(done.astype(jnp.int32)))
      return (env_state, timestep, actor_carry), (transition, stats)

    rollout_keys = jax.random.split(rollout_key, self.settings.rollout_length)
    return jax.lax.scan(
        env_step, (state.env_state, state.timestep, state.actor_carry),
        rollout_keys)

  def _iteration(self, state: TrainState, hp):
    """`rollout_length` steps of acting, then one call of learn."""
    key, rollout_key, learn_key = jax.random.split(state.key, 3)
    rollout_key = self._device_key(rollout_key)
    learn_key = self._device_key(learn_key)
    (env_state, timestep, actor_carry), (trajectory, stats) = self.rollout(
        state, rollout_key, hp)
    agent_state, metrics = self.agent.learn(state.agent_state, trajectory,
                                            learn_key, hp)
    metrics = self._mean_over_devices(metrics)
    stats = self._sum_over_devices(jax.tree.map(jnp.sum, stats))
    state = state._replace(agent_state=agent_state, env_state=env_state,
                           timestep=timestep, key=key,
                           actor_carry=actor_carry, env_steps=state.env_steps + self.steps_per_iteration)
    nonfinite = (self.numerics.flags(metrics, agent_state)
                 if self.numerics is not None else ())
    return state, IterationOutputs(metrics, stats, nonfinite)

  def iterations(self, state: TrainState, hparams=None):
    """A period's iterations (no callbacks): (state, IterationOutputs
    stacked over iterations); over DATA_AXIS with data_parallel > 1."""
    hp = self.default_hparams if hparams is None else hparams
    def run(state, hp):
      return jax.lax.scan(lambda s, _: self._iteration(s, hp), state, None,
                          length=self.iterations_per_eval)
    return self._sharded_iteration(run)(state, hp)

  def _sharded_iteration(self, fn):
    """`fn(state, hp) -> (state, outputs)` over DATA_AXIS (data parallel):
    the outputs (averaged or summed over devices) the same everywhere."""
    specs = (self.state_specs(), PartitionSpec())
    return self._over_devices(fn, specs, specs)

  def episode_metrics(self, episodes: EpisodeStats) -> Dict[str, jax.Array]:
    """The period's training-episode metrics from its iterations'
    `EpisodeStats` ([iterations] each): `train/episode_return` and
    `train/episode_length` (means over the episodes that ended, NaN when
    none did) and `train/episodes` (how many). A loop without training
    episodes (the offline one) returns none."""
    count = jnp.sum(episodes.count)
    denominator = jnp.maximum(count, 1).astype(jnp.float32)
    return {
        "train/episode_return": jnp.where(
            count > 0, jnp.sum(episodes.returns) / denominator, jnp.nan),
        "train/episode_length": jnp.where(
            count > 0, jnp.sum(episodes.lengths) / denominator, jnp.nan),
        "train/episodes": count}

  def nonfinite_message(self, metrics) -> Optional[str]:
    """The first non-finite value in `metrics` (from `period` or `train`,
    numpy, any leading [num_evals] / [members] axes), or None."""
    if self.numerics is None:
      return None
    return self.numerics.message(metrics)

  def period(self, state: TrainState, hparams=None):
    """One evaluation period: iterations, then the callbacks.

    Returns:
      (state, metrics): metrics is a flat dict of scalars: the learn
      metrics averaged over the period's learn calls that learned
      (`period_learn_metrics`), training episode statistics
      (`episode_metrics`), and the callbacks' outputs.
    """
    hp = self.default_hparams if hparams is None else hparams
    start_steps = state.env_steps
    state, outputs = self.iterations(state, hp)
    metrics = {"env_steps": state.env_steps}
    metrics.update(period_learn_metrics(outputs.learn_metrics))
    metrics.update(self.episode_metrics(outputs.episodes))
    if self.numerics is not None:
      metrics.update(self.numerics.period_metrics(
          outputs.nonfinite, start_steps, self.steps_per_iteration))
    eval_key, callback_key = jax.random.split(state.eval_key)
    state = state._replace(eval_key=eval_key)
    ctx = evaluation.CallbackContext(self.config, self.env, self.eval_env,
                                     self.agent, hp, self.protocol)
    callback_keys = jax.random.split(callback_key, max(len(self.callbacks), 1))
    for (name, callback), ckey in zip(sorted(self.callbacks.items()),
                                      callback_keys):
      out = callback(ctx, state, ckey)
      if isinstance(out, dict):
        metrics.update(out)
      else:
        metrics[name] = out
    return state, metrics

  def __call__(self, key: jax.Array, hparams=None):
    """Trains from `key` with `hparams`; returns (final TrainState, metrics)."""
    hp = self.default_hparams if hparams is None else hparams
    state = self.init(key, hp)
    return jax.lax.scan(lambda s, _: self.period(s, hp), state, None,
                        length=self.num_evals)


def make_train(config: config_dict.ConfigDict, agent: Any = None,
               callbacks: Optional[Dict[str, Callable]] = None) -> Train:
  """Builds the training function for `config`.

  Args:
    config: a ConfigDict as in `configs/` (env, agent, total_env_steps,
      eval_every, num_eval_episodes, ...). It is not modified; `Train.config`
      is a copy whose agent section lists every setting (defaults filled).
    agent: an agent module (Settings, HParams, make, optionally validate);
      by default the one `config.agent.name` names (registered, or a dotted
      module path).
    callbacks: name -> callback(ctx, state, key) run at the end of every
      evaluation period. Defaults to {"eval": evaluation.evaluate}; pass {}
      to turn evaluation off.

  Returns:
    A `Train`: call it as `train(key, hparams)`.
  """
  validation.check_config(config)
  agent_module = agent if agent is not None else registry.lookup(
      config.agent.name)
  config = complete_config(config, agent_module)
  num_devices = check_data_parallel(config, agent_module)
  settings, default_hparams = agent_settings(config, agent_module)
  length = run_length(config)
  if num_devices > 1:
    settings = device_settings(config, agent_module, num_devices)
    check_devices(num_devices)
  env = make_env(config, num_envs=settings.num_envs)
  if num_devices > 1:
    check_env_rows(env, settings.num_envs)
  eval_env = make_env(config, evaluation=True)
  settings.check_spec(env.spec)
  if hasattr(agent_module, "validate"):
    agent_module.validate(settings, env.spec)
  protocol = evaluation.make_protocol(config, env.spec, sticky_actions(config))
  agent_triple = agent_module.make(settings, env.spec)
  if callbacks is None:
    callbacks = {"eval": evaluation.evaluate}
  # An offline agent (OFFLINE = True) learns from config.dataset instead of
  # env steps: haikurl/offline.py.
  from haikurl import offline  # pylint: disable=g-import-not-at-top
  train_cls, extra = Train, {}
  if offline.is_offline(agent_module):
    train_cls, extra = offline.OfflineTrain, offline.train_fields(config, env)
  elif config.get("dataset", None):
    raise ValueError(f"config.dataset is for offline agents (bc, iql, cql); "
                     f"agent {config.agent.name!r} learns from env steps.")
  train = train_cls(config=config, env=env, eval_env=eval_env,
                    agent=agent_triple, agent_module=agent_module,
                    settings=settings, default_hparams=default_hparams,
                    length=length, callbacks=dict(callbacks),
                    protocol=protocol, data_parallel=num_devices,
                    mesh=data_mesh(num_devices) if num_devices > 1 else None,
                    **extra)
  if config.get("check_numerics", False) or config.get("debug_nans", False):
    # The checked leaves' names from the shapes of one iteration, so the
    # trace itself records nothing.
    state = jax.eval_shape(train.init, jax.random.key(0))
    iteration = train._sharded_iteration(train._iteration)  # pylint: disable=protected-access
    checker = numerics_lib.make_checker(iteration, state, default_hparams)
    train = dataclasses.replace(train, numerics=checker)
  return train
