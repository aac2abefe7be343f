"""Offline datasets in Minari's format: written from episodes, read onto the
device once.

    path = datasets.write("/tmp/data/pendulum-medium-v0", episodes,
                          env="gymnax:Pendulum-v1", spec=spec)
    data = datasets.load(path)          # or any Minari dataset (path or id)
    data.transitions                    # Transition [N] of device arrays

The files are Minari's own (`minari.create_dataset_from_buffers`: a
`data/` folder with `metadata.json` and `main_data.hdf5`), so
`minari.load_dataset(name)` opens ours with `MINARI_DATASETS_PATH` set to
the folder above, and `load` opens any Minari dataset with flat Box or
Discrete spaces. Minari wants gymnasium spaces: we build them from our
`EnvSpec` (observations an unbounded float32 Box; actions a Discrete or the
env's own Box bounds), and record haikurl's env name and gymnax parameters
in the metadata (`haikurl_env`, `haikurl_env_kwargs`) to rebuild the env
for evaluation. Where the env id is also a gymnasium id and no parameters
were changed (CartPole-v1, Pendulum-v1, ...), gymnasium's spec is recorded
too, so other tools' `recover_environment()` works.

Everything is in the environment's own units: raw observations, actions
within its bounds (torques in [-2, 2] on Pendulum-v1). An agent that acts in
[-1, 1] gets its actions rescaled by the offline loop.

`minari` is an optional dependency (`pip install -e ".[offline]"`): this
module imports it only when a dataset is written or read.
"""
import contextlib
import json
import os
import re
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from haikurl.types import EnvSpec, Transition

# Minari ids are (namespace/)name-v<version>; the version is required.
_DATASET_ID = re.compile(r"^[-_\w]+?-v\d+$")
ENV_KEY = "haikurl_env"
ENV_KWARGS_KEY = "haikurl_env_kwargs"


def _minari():
  try:
    import minari  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "offline datasets need minari: pip install -e \".[offline]\" "
        "(or pip install \"minari[hdf5]\").") from e
  return minari


class Episode(NamedTuple):
  """One episode in Minari's layout (numpy, environment units).

  observations: [T + 1, *obs_shape]: the first observation, then the one
    after each step (the last is the pre-reset final observation).
  actions: [T] (discrete) or [T, *action_shape].
  rewards: [T]; terminations, truncations: [T] bool.
  """
  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  terminations: np.ndarray
  truncations: np.ndarray


class Dataset(NamedTuple):
  """A dataset on the device, as transitions.

  transitions: Transition [N]: obs, action (env units; int32 or float32),
    reward, discount (1 - terminated, not multiplied by any gamma),
    terminated, truncated, next_obs; extras ().
  env: haikurl's name of the env (None when the dataset names none we know).
  env_kwargs: gymnax parameters of that env.
  episode_returns, episode_lengths: [E] numpy, per episode.
  metadata: Minari's metadata dict.
  path: the dataset's `data/` folder.
  """
  transitions: Transition
  env: Optional[str]
  env_kwargs: Dict[str, Any]
  episode_returns: np.ndarray
  episode_lengths: np.ndarray
  metadata: Dict[str, Any]
  path: str

  @property
  def size(self) -> int:
    return int(self.transitions.reward.shape[0])


def spaces(spec: EnvSpec):
  """(observation_space, action_space) as gymnasium spaces for `spec`."""
  import gymnasium  # pylint: disable=g-import-not-at-top
  obs = gymnasium.spaces.Box(-np.inf, np.inf, tuple(spec.obs_shape),
                             np.float32)
  if spec.discrete:
    return obs, gymnasium.spaces.Discrete(int(spec.num_actions))
  return obs, gymnasium.spaces.Box(
      np.asarray(spec.action_low, np.float32),
      np.asarray(spec.action_high, np.float32), dtype=np.float32)


def _gymnasium_spec(env: str, env_kwargs):
  """gymnasium's EnvSpec of the same env id, or None (not registered there,
  or parameters changed)."""
  import gymnasium  # pylint: disable=g-import-not-at-top
  if env_kwargs:
    return None
  env_id = env.split(":", 1)[-1]
  try:
    return gymnasium.spec(env_id)
  except gymnasium.error.Error:
    return None


@contextlib.contextmanager
def _datasets_root(root: str):
  """Points minari's MINARI_DATASETS_PATH at `root` for a call."""
  before = os.environ.get("MINARI_DATASETS_PATH")
  os.environ["MINARI_DATASETS_PATH"] = root
  try:
    yield
  finally:
    if before is None:
      del os.environ["MINARI_DATASETS_PATH"]
    else:
      os.environ["MINARI_DATASETS_PATH"] = before


def check_episode(episode: Episode, spec: EnvSpec, index: int = 0) -> None:
  """Raises a one-line ValueError for an episode of the wrong shapes."""
  t = len(episode.rewards)
  want = {"observations": (t + 1,) + tuple(spec.obs_shape),
          "actions": (t,) + tuple(spec.action_shape),
          "rewards": (t,), "terminations": (t,), "truncations": (t,)}
  for field, shape in want.items():
    got = np.shape(getattr(episode, field))
    if got != shape:
      raise ValueError(f"episode {index}: {field} has shape {got}, expected "
                       f"{shape} (T={t} steps, T + 1 observations).")
  if t == 0:
    raise ValueError(f"episode {index} has no steps.")


def write(path: str, episodes: Sequence[Episode], env: str, spec: EnvSpec,
          env_kwargs: Optional[Dict[str, Any]] = None,
          algorithm_name: str = "haikurl",
          description: Optional[str] = None,
          metadata: Optional[Dict[str, Any]] = None) -> str:
  """Writes `episodes` as a Minari dataset in the folder `path`.

  Args:
    path: a new folder; its name is the Minari dataset id and must read
      `<name>-v<version>` (e.g. `pendulum-medium-v0`), as Minari requires.
    episodes: Episode records in env units (see `Episode`).
    env: haikurl's env name (e.g. "gymnax:Pendulum-v1"), for evaluation.
    spec: the env's spec in its own units (`haikurl.policy` gives the
      bounds of a continuous action space).
    env_kwargs: gymnax parameters of the env, recorded with its name.
    algorithm_name, description: Minari metadata.
    metadata: more JSON-serialisable metadata (e.g. how it was collected).

  Returns:
    `path`.
  """
  minari = _minari()
  from minari.data_collector.episode_buffer import EpisodeBuffer  # pylint: disable=g-import-not-at-top
  path = os.path.abspath(path)
  dataset_id = os.path.basename(path.rstrip("/"))
  if not _DATASET_ID.match(dataset_id):
    raise ValueError(f"dataset folder {dataset_id!r} is not a Minari id: "
                     "name it <name>-v<version>, e.g. pendulum-medium-v0.")
  if os.path.exists(os.path.join(path, "data")):
    raise ValueError(f"{path} already holds a dataset; choose a new folder.")
  if not episodes:
    raise ValueError("no episodes to write.")
  buffers = []
  for i, episode in enumerate(episodes):
    check_episode(episode, spec, i)
    actions = np.asarray(episode.actions)
    actions = (actions.astype(np.int64) if spec.discrete
               else actions.astype(np.float32))
    buffers.append(EpisodeBuffer(
        id=i, observations=np.asarray(episode.observations, np.float32),
        actions=actions,
        rewards=np.asarray(episode.rewards, np.float32),
        terminations=np.asarray(episode.terminations, bool),
        truncations=np.asarray(episode.truncations, bool)))
  obs_space, action_space = spaces(spec)
  env_kwargs = dict(env_kwargs or {})
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with _datasets_root(os.path.dirname(path)), warnings.catch_warnings():
    # Minari warns of every optional metadata field left out.
    warnings.simplefilter("ignore", UserWarning)
    created = minari.create_dataset_from_buffers(
        dataset_id, buffers, env=_gymnasium_spec(env, env_kwargs),
        observation_space=obs_space, action_space=action_space,
        algorithm_name=algorithm_name, author="haikurl",
        description=description or f"collected with haikurl on {env}",
        jpeg_encoding=False)  # lossless, whatever the observations
  extra = {ENV_KEY: env, ENV_KWARGS_KEY: env_kwargs}
  extra.update(metadata or {})
  json.dumps(extra)  # fails here, not half-way through, if not JSON
  created.storage.update_metadata(extra)
  return path


def resolve(path_or_id: str) -> str:
  """The `data/` folder of a dataset given by folder or Minari id.

  A folder holding `data/metadata.json`, a `data/` folder itself, or an id
  under MINARI_DATASETS_PATH (default ~/.minari/datasets), as
  `minari.load_dataset` finds it. Raises a one-line ValueError otherwise.
  """
  candidates = [os.path.join(path_or_id, "data"), path_or_id]
  root = os.environ.get("MINARI_DATASETS_PATH",
                        os.path.join(os.path.expanduser("~"), ".minari",
                                     "datasets"))
  candidates.append(os.path.join(root, path_or_id, "data"))
  for candidate in candidates:
    if os.path.isfile(os.path.join(candidate, "metadata.json")):
      return os.path.abspath(candidate)
  raise ValueError(f"no Minari dataset at {path_or_id!r} (looked for "
                   f"{', '.join(c + '/metadata.json' for c in candidates)}).")


def _env_of(metadata: Dict[str, Any]):
  """(haikurl env name or None, env kwargs) from a dataset's metadata."""
  if metadata.get(ENV_KEY):
    return metadata[ENV_KEY], dict(metadata.get(ENV_KWARGS_KEY) or {})
  spec = metadata.get("env_spec")
  if spec:
    from haikurl import envs  # pylint: disable=g-import-not-at-top
    env_id = json.loads(spec).get("id") if isinstance(spec, str) else spec.id
    name = f"gymnax:{env_id}"
    try:
      envs.check_name(name)
      return name, {}
    except ValueError:
      pass
  return None, {}


def load(path_or_id: str, device: Any = None) -> Dataset:
  """Reads a Minari dataset into device arrays of transitions, once.

  Args:
    path_or_id: see `resolve`.
    device: where to put the arrays (default: jax's default device).

  Returns:
    A Dataset. Every step of every episode is a transition; its
    `next_obs` is the episode's next observation (the final one at the
    episode's last step), so no transition pairs two episodes.

  Raises:
    ValueError: for Dict/Tuple spaces, or an episode whose arrays disagree.
  """
  minari = _minari()
  import gymnasium  # pylint: disable=g-import-not-at-top
  data_path = resolve(path_or_id)
  dataset = minari.MinariDataset(data_path)
  for name, space in (("observation", dataset.observation_space),
                      ("action", dataset.action_space)):
    if not isinstance(space, (gymnasium.spaces.Box,
                              gymnasium.spaces.Discrete)):
      raise ValueError(f"{data_path}: the {name} space is a "
                       f"{type(space).__name__}; haikurl reads Box and "
                       "Discrete spaces.")
  discrete = isinstance(dataset.action_space, gymnasium.spaces.Discrete)
  parts: Dict[str, List[np.ndarray]] = {k: [] for k in Transition._fields
                                        if k != "extras"}
  returns, lengths = [], []
  for episode in dataset.iterate_episodes():
    obs = np.asarray(episode.observations, np.float32)
    t = len(episode.rewards)
    if obs.shape[0] != t + 1 or len(episode.actions) != t:
      raise ValueError(f"{data_path}: episode {episode.id} has {t} rewards, "
                       f"{len(episode.actions)} actions and {obs.shape[0]} "
                       "observations (expected T, T and T + 1).")
    terminated = np.asarray(episode.terminations, bool)
    parts["obs"].append(obs[:-1])
    parts["next_obs"].append(obs[1:])
    parts["action"].append(np.asarray(
        episode.actions, np.int32 if discrete else np.float32))
    parts["reward"].append(np.asarray(episode.rewards, np.float32))
    parts["terminated"].append(terminated)
    parts["truncated"].append(np.asarray(episode.truncations, bool))
    parts["discount"].append(1.0 - terminated.astype(np.float32))
    returns.append(float(np.sum(episode.rewards)))
    lengths.append(t)
  if not lengths:
    raise ValueError(f"{data_path}: the dataset has no episodes.")
  arrays = {k: np.concatenate(v) for k, v in parts.items()}
  if not discrete and arrays["action"].ndim == 1:
    arrays["action"] = arrays["action"][:, None]
  transitions = jax.device_put(Transition(extras=(), **arrays), device)
  metadata = dict(dataset.storage.metadata)
  env, env_kwargs = _env_of(metadata)
  return Dataset(transitions, env, env_kwargs,
                 np.asarray(returns, np.float32),
                 np.asarray(lengths, np.int32), metadata, data_path)


def check_spec(data: Dataset, spec: EnvSpec) -> None:
  """Raises a one-line ValueError when `data` does not fit env `spec`
  (observation shape, action kind and shape)."""
  obs_shape = tuple(data.transitions.obs.shape[1:])
  if obs_shape != tuple(spec.obs_shape):
    raise ValueError(f"the dataset's observations have shape {obs_shape}; "
                     f"{spec.name}'s have {tuple(spec.obs_shape)}.")
  action = data.transitions.action
  discrete = jnp.issubdtype(action.dtype, jnp.integer)
  if discrete != spec.discrete:
    raise ValueError(f"the dataset's actions are "
                     f"{'discrete' if discrete else 'continuous'}; "
                     f"{spec.name}'s are not.")
  if tuple(action.shape[1:]) != tuple(spec.action_shape):
    raise ValueError(f"the dataset's actions have shape "
                     f"{tuple(action.shape[1:])}; {spec.name}'s have "
                     f"{tuple(spec.action_shape)}.")
  if discrete and int(jnp.max(action)) >= spec.num_actions:
    raise ValueError(f"the dataset has action {int(jnp.max(action))}; "
                     f"{spec.name} has {spec.num_actions} actions.")


def episodes_from_rollout(obs, action, reward, terminated, truncated,
                          next_obs) -> List[List[Episode]]:
  """Cuts a batched rollout into each env's complete episodes.

  Args:
    obs, action, reward, terminated, truncated, next_obs: [T, B, ...]
      numpy arrays of an auto-resetting rollout that starts at the first
      step of an episode in every env (`next_obs` the pre-reset one).

  Returns:
    For each of the B envs, its complete episodes in order; the episode
    still running at the end of the rollout is left out.
  """
  obs, action, reward = map(np.asarray, (obs, action, reward))
  terminated, truncated, next_obs = map(np.asarray,
                                        (terminated, truncated, next_obs))
  done = np.logical_or(terminated, truncated)
  out = []
  for b in range(done.shape[1]):
    episodes, start = [], 0
    for end in np.flatnonzero(done[:, b]):
      steps = slice(start, end + 1)
      episodes.append(Episode(
          observations=np.concatenate([obs[steps, b], next_obs[end:end + 1, b]]),
          actions=action[steps, b], rewards=reward[steps, b],
          terminations=terminated[steps, b],
          truncations=truncated[steps, b]))
      start = end + 1
    out.append(episodes)
  return out
