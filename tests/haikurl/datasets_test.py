"""Minari datasets: haikurl's write / load round trip, a dataset written by
haikurl opened with `minari.load_dataset`, datasets made with minari's own
API (`DataCollector`, `create_dataset_from_buffers`) loaded by haikurl, and
the one-line refusals."""
import json
import os

import gymnasium
import jax.numpy as jnp
import minari
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer
from ml_collections import config_dict

import haikurl
from configs import bc as bc_config
from haikurl import datasets
from haikurl import envs
from haikurl import offline
from haikurl import registry
from haikurl import testing

OBS_DIM = 3


def continuous_spec():
  # Pendulum-v1's spec in its own units: torques in [-2, 2].
  return envs.make("gymnax:Pendulum-v1", 1, rescale_actions=False).spec


def random_episodes(spec, lengths, seed=0):
  """Episodes of the given lengths with random arrays; the last one
  truncated, the others terminated."""
  rng = np.random.default_rng(seed)
  out = []
  for i, t in enumerate(lengths):
    if spec.discrete:
      actions = rng.integers(0, spec.num_actions, (t,))
    else:
      actions = rng.uniform(-2.0, 2.0, (t,) + spec.action_shape)
    last = np.zeros((t,), bool)
    last[-1] = True
    truncated = i == len(lengths) - 1
    out.append(datasets.Episode(
        observations=rng.normal(size=(t + 1,) + spec.obs_shape).astype(
            np.float32),
        actions=actions.astype(np.float32 if not spec.discrete else np.int64),
        rewards=rng.normal(size=(t,)).astype(np.float32),
        terminations=last & (not truncated), truncations=last & truncated))
  return out


def concat(episodes, field, cut=None):
  parts = [getattr(e, field) for e in episodes]
  if cut == "first":
    parts = [p[:-1] for p in parts]
  elif cut == "next":
    parts = [p[1:] for p in parts]
  return np.concatenate(parts)


def check_transitions(data, episodes, discrete):
  tr = data.transitions
  np.testing.assert_array_equal(tr.obs, concat(episodes, "observations",
                                               "first"))
  np.testing.assert_array_equal(tr.next_obs, concat(episodes, "observations",
                                                    "next"))
  want_actions = concat(episodes, "actions")
  assert tr.action.dtype == (jnp.int32 if discrete else jnp.float32)
  np.testing.assert_array_equal(tr.action, want_actions.astype(tr.action.dtype))
  np.testing.assert_array_equal(tr.reward, concat(episodes, "rewards"))
  terminated = concat(episodes, "terminations")
  np.testing.assert_array_equal(tr.terminated, terminated)
  np.testing.assert_array_equal(tr.truncated, concat(episodes, "truncations"))
  # discount is the env's: 0 exactly at terminations (no gamma in it).
  np.testing.assert_array_equal(tr.discount, 1.0 - terminated)


def test_write_then_load_gives_the_same_arrays(tmp_path):
  spec = continuous_spec()
  episodes = random_episodes(spec, [5, 1, 7])
  path = datasets.write(str(tmp_path / "pend-test-v0"), episodes,
                        "gymnax:Pendulum-v1", spec,
                        metadata={"note": "round trip"})
  data = datasets.load(path)
  assert data.size == 13
  check_transitions(data, episodes, discrete=False)
  # No transition pairs two episodes: each episode's last next_obs is its
  # own final observation, not the next episode's first.
  np.testing.assert_array_equal(data.transitions.next_obs[4],
                                episodes[0].observations[5])
  np.testing.assert_allclose(data.episode_returns,
                             [e.rewards.sum() for e in episodes], rtol=1e-6)
  np.testing.assert_array_equal(data.episode_lengths, [5, 1, 7])
  assert data.env == "gymnax:Pendulum-v1" and data.env_kwargs == {}
  assert data.metadata["note"] == "round trip"


def test_discrete_round_trip_and_minari_ids(tmp_path, monkeypatch):
  spec = envs.make("gymnax:CartPole-v1", 1).spec
  episodes = random_episodes(spec, [3, 4], seed=1)
  datasets.write(str(tmp_path / "cart-test-v1"), episodes,
                 "gymnax:CartPole-v1", spec)
  # A Minari id under MINARI_DATASETS_PATH, as minari.load_dataset finds it.
  monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
  check_transitions(datasets.load("cart-test-v1"), episodes, discrete=True)


def test_haikurl_dataset_opens_with_minari_load_dataset(tmp_path,
                                                        monkeypatch):
  spec = continuous_spec()
  episodes = random_episodes(spec, [4, 6], seed=2)
  datasets.write(str(tmp_path / "pend-ours-v0"), episodes,
                 "gymnax:Pendulum-v1", spec)
  monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
  dataset = minari.load_dataset("pend-ours-v0")
  assert dataset.total_episodes == 2 and dataset.total_steps == 10
  assert isinstance(dataset.action_space, gymnasium.spaces.Box)
  np.testing.assert_array_equal(dataset.action_space.low, [-2.0])
  for episode, want in zip(dataset.iterate_episodes(), episodes):
    np.testing.assert_array_equal(episode.observations, want.observations)
    np.testing.assert_array_equal(episode.actions, want.actions)
    np.testing.assert_array_equal(episode.rewards, want.rewards)
    np.testing.assert_array_equal(episode.terminations, want.terminations)
    np.testing.assert_array_equal(episode.truncations, want.truncations)
  # Pendulum-v1 is a gymnasium id too: other tools can rebuild the env.
  assert dataset.spec.env_spec.id == "Pendulum-v1"
  metadata = dataset.storage.metadata
  assert metadata[datasets.ENV_KEY] == "gymnax:Pendulum-v1"


def test_a_minari_data_collector_dataset_loads_in_haikurl(tmp_path,
                                                          monkeypatch):
  monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
  env = minari.DataCollector(gymnasium.make("CartPole-v1"))
  env.action_space.seed(0)
  recorded = []
  for seed in range(3):
    obs, _ = env.reset(seed=seed)
    episode = dict(obs=[obs], actions=[], rewards=[], terminated=[],
                   truncated=[])
    done = False
    while not done:
      action = env.action_space.sample()
      obs, reward, terminated, truncated, _ = env.step(action)
      for k, v in (("obs", obs), ("actions", action), ("rewards", reward),
                   ("terminated", terminated), ("truncated", truncated)):
        episode[k].append(v)
      done = terminated or truncated
    recorded.append(episode)
  env.create_dataset(dataset_id="cartpole/random-v0",
                     algorithm_name="random", author="test")
  data = datasets.load("cartpole/random-v0")
  # The gymnasium env id maps to haikurl's gymnax env of the same id.
  assert data.env == "gymnax:CartPole-v1"
  obs = np.concatenate([np.asarray(e["obs"][:-1]) for e in recorded])
  np.testing.assert_allclose(data.transitions.obs, obs, rtol=1e-6)
  np.testing.assert_allclose(
      data.transitions.next_obs,
      np.concatenate([np.asarray(e["obs"][1:]) for e in recorded]), rtol=1e-6)
  np.testing.assert_array_equal(
      data.transitions.action,
      np.concatenate([e["actions"] for e in recorded]))
  np.testing.assert_array_equal(
      data.transitions.terminated,
      np.concatenate([e["terminated"] for e in recorded]))
  np.testing.assert_array_equal(data.episode_lengths,
                                [len(e["rewards"]) for e in recorded])
  # ... and an offline agent trains on it in haikurl's CartPole.
  config = testing.tiny(bc_config.get_config("CartPole-v1"),
                        dataset="cartpole/random-v0", iterations=2)
  _, _, metrics = testing.run(config)
  assert np.all(np.isfinite(metrics["loss/bc"]))


def test_create_dataset_from_buffers_without_env_loads(tmp_path):
  # A dataset that names no environment: haikurl reads it, and the config
  # says which env evaluation runs in.
  rng = np.random.default_rng(3)
  buffers = [EpisodeBuffer(
      id=i, observations=rng.normal(size=(t + 1, OBS_DIM)).astype(np.float32),
      actions=rng.integers(0, 2, (t,)), rewards=np.ones((t,), np.float32),
      terminations=np.r_[np.zeros(t - 1, bool), True],
      truncations=np.zeros((t,), bool)) for i, t in enumerate([2, 5])]
  root = str(tmp_path)
  with datasets._datasets_root(root):  # pylint: disable=protected-access
    minari.create_dataset_from_buffers(
        "plain-v0", buffers,
        observation_space=gymnasium.spaces.Box(-np.inf, np.inf, (OBS_DIM,)),
        action_space=gymnasium.spaces.Discrete(2), algorithm_name="test",
        author="test")
  data = datasets.load(os.path.join(root, "plain-v0"))
  assert data.env is None and data.size == 7
  np.testing.assert_array_equal(data.transitions.discount,
                                [1, 0, 1, 1, 1, 1, 0])
  np.testing.assert_array_equal(data.transitions.obs[2],
                                buffers[1].observations[0])


def test_actions_reach_the_agent_in_its_units(tmp_path):
  # Pendulum's torques in [-2, 2] become the agent's [-1, 1]: -2 -> -1,
  # 1 -> 0.5, 2 -> 1 (RescaleAction's inverse).
  spec = continuous_spec()
  episode = datasets.Episode(
      observations=np.zeros((4, 3), np.float32),
      actions=np.asarray([[-2.0], [1.0], [2.0]], np.float32),
      rewards=np.zeros((3,), np.float32), terminations=np.zeros(3, bool),
      truncations=np.asarray([False, False, True]))
  path = datasets.write(str(tmp_path / "units-v0"), [episode],
                        "gymnax:Pendulum-v1", spec)
  config = testing.tiny(bc_config.get_config("Pendulum-v1"), dataset=path)
  train = haikurl.make_train(config)
  np.testing.assert_allclose(train.dataset.transitions.action[:, 0],
                             [-1.0, 0.5, 1.0], rtol=1e-6)


def test_bad_datasets_are_one_line_value_errors(tmp_path):
  spec = continuous_spec()
  episodes = random_episodes(spec, [3])

  def refused(match, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as e:
      fn(*args, **kwargs)
    assert "\n" not in str(e.value)

  refused("not a Minari id", datasets.write, str(tmp_path / "no_version"),
          episodes, "gymnax:Pendulum-v1", spec)
  bad = episodes[0]._replace(observations=episodes[0].observations[:-1])
  refused("observations has shape", datasets.write, str(tmp_path / "b-v0"),
          [bad], "gymnax:Pendulum-v1", spec)
  refused("no episodes", datasets.write, str(tmp_path / "e-v0"), [],
          "gymnax:Pendulum-v1", spec)
  refused("no Minari dataset", datasets.load, str(tmp_path / "missing-v0"))
  path = datasets.write(str(tmp_path / "once-v0"), episodes,
                        "gymnax:Pendulum-v1", spec)
  refused("already holds a dataset", datasets.write, path, episodes,
          "gymnax:Pendulum-v1", spec)
  # Its metadata is minari's JSON, with haikurl's env name in it.
  with open(os.path.join(path, "data", "metadata.json")) as f:
    assert json.load(f)[datasets.ENV_KEY] == "gymnax:Pendulum-v1"


def test_runs_refuse_datasets_that_do_not_fit(tmp_path):
  spec = continuous_spec()
  path = datasets.write(str(tmp_path / "pend-v0"), random_episodes(spec, [3]),
                        "gymnax:Pendulum-v1", spec)

  def refused(match, config):
    with pytest.raises(ValueError, match=match) as e:
      haikurl.make_train(config)
    assert "\n" not in str(e.value)

  pendulum = bc_config.get_config("Pendulum-v1")
  refused("was collected on gymnax:Pendulum-v1",
          testing.tiny(bc_config.get_config("CartPole-v1"), dataset=path))
  refused("set config.dataset", testing.tiny(pendulum))
  refused("collected with env_kwargs", _with(
      testing.tiny(pendulum, dataset=path),
      env_kwargs=config_dict.ConfigDict({"max_speed": 4.0})))
  refused("normalize_observations is not supported", testing.tiny(
      pendulum, dataset=path, normalize_observations=True))
  from configs import sac as sac_config  # pylint: disable=g-import-not-at-top
  refused("config.dataset is for offline agents", testing.tiny(
      sac_config.get_config("Pendulum-v1"), dataset=path))
  refused("leave config.agent.num_envs and rollout_length at 1",
          _with(testing.tiny(pendulum, dataset=path), num_envs=2))
  assert offline.is_offline(registry.lookup("bc"))
  assert not offline.is_offline(registry.lookup("sac"))


def _with(config, **values):
  """`config` with agent or run keys set (not through tiny)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    for key, value in values.items():
      if key in config.agent:
        config.agent[key] = value
      else:
        config[key] = value
  return config
