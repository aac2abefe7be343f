"""Offline runs report the offline metrics (no training episodes, so no
NaN `train/episode_*`); offline agents take the online agents' vision
torsos, keep every float float32 and promote no ranks implicitly in our
code (as tests/reliability/numerics_test.py checks the online agents)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from haikurl import testing

from tests.haikurl.offline_common import (  # pylint: disable=unused-import
    CONFIGS, dataset, tiny)  # dataset: a fixture


@pytest.fixture(scope="module")
def minatar_dataset(tmp_path_factory):
  """Two episodes of Breakout-MinAtar (3 actions) under uniform actions."""
  path = str(tmp_path_factory.mktemp("minatar") / "breakout-uniform-v0")
  return testing.write_dataset(
      path, "gymnax:Breakout-MinAtar",
      lambda obs, key: jax.random.randint(key, obs.shape[:1], 0, 3), 2)


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
def test_offline_agents_take_the_vision_torsos(agent, minatar_dataset):
  config = testing.tiny(CONFIGS[agent].get_config("Breakout-MinAtar"),
                        dataset=minatar_dataset, torso="impala",
                        torso_channels=(4, 4), torso_blocks=1)
  train = haikurl.make_train(config)
  hp = train.default_hparams
  obs = train.dataset.transitions.obs[:3]
  assert obs.shape == (3, 10, 10, 4)

  def init_and_act(key):
    state = train.agent.init(key, hp)
    return state, train.agent.act(state, obs, key, hp, True)[0]

  state, action = jax.jit(init_and_act)(jax.random.key(0))
  names = [name for name in jax.tree_util.tree_flatten_with_path(state)[0]
           if "impala" in jax.tree_util.keystr(name[0])]
  assert names, "no impala parameters"
  assert action.shape == (3,) and np.all((action >= 0) & (action < 3))


@pytest.fixture(scope="module")
def continuous_dataset(tmp_path_factory):
  """16 episodes of probe:action_reward_continuous, uniform in [-1, 1]."""
  path = str(tmp_path_factory.mktemp("cdata") / "probe-cuniform-v0")
  return testing.write_dataset(
      path, "probe:action_reward_continuous",
      lambda obs, key: jax.random.uniform(key, obs.shape[:1] + (1,),
                                          minval=-1.0, maxval=1.0), 16)


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
@pytest.mark.parametrize("discrete", [True, False])
def test_float32_and_no_implicit_rank_promotion(agent, discrete, dataset,
                                                continuous_dataset):
  # As tests/reliability/numerics_test.py checks the online agents: the
  # whole run traced with rank promotion raising in our code, every float
  # of the state and the metrics float32.
  from tests.reliability.numerics_test import rank_promotion_raise_in_our_code  # pylint: disable=g-import-not-at-top
  env = "probe:action_reward" + ("" if discrete else "_continuous")
  extra = {"lagrange": True} if agent == "cql" and not discrete else {}
  config = testing.tiny(CONFIGS[agent].get_config("CartPole-v1"), env=env,
                        dataset=dataset if discrete else continuous_dataset,
                        **extra)
  with rank_promotion_raise_in_our_code():
    train = haikurl.make_train(config)
    state, metrics = jax.eval_shape(train, jax.random.key(0))
  leaves = [x for x in jax.tree.leaves((state, metrics))
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  assert leaves and all(x.dtype == jnp.float32 for x in leaves)


def test_metrics_are_the_offline_ones(dataset):
  train = haikurl.make_train(tiny("iql", dataset, iterations=3, periods=2))
  _, metrics = jax.jit(lambda k: train(k))(jax.random.key(0))
  assert not [k for k in metrics if k.startswith("train/episode")]
  # env_steps counts gradient steps: 3 per period.
  np.testing.assert_array_equal(metrics["env_steps"], [3, 6])
  np.testing.assert_array_equal(metrics["train/gradient_steps"], [3, 3])
  for name, value in metrics.items():
    assert np.all(np.isfinite(value)), name
  assert metrics["eval/episode_return"].shape == (2,)
