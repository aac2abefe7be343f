"""The built-in agents' default presets, for tests that cover every agent.

`haikurl.testing.tiny` shrinks any config; these name which config each
registered agent is tested with: `configs/<name>.py`'s default preset, so
an agent registered without a config file fails `default_config` (and
`tests/reliability/numerics_test.py` says so).
"""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from haikurl import registry
from haikurl import testing


def names():
  """Every built-in online agent (a module of the `agents` package):
  agents that other tests register for themselves are not presets, and
  offline agents (bc, iql, cql) need a dataset (their own tests write
  one)."""
  from haikurl import offline  # pylint: disable=g-import-not-at-top
  return [name for name in registry.known()
          if getattr(registry.lookup(name), "__name__", "").startswith(
              "agents.") and not offline.is_offline(registry.lookup(name))]


def default_config(agent: str):
  """`configs/<agent>.py`'s default preset."""
  return importlib.import_module(f"configs.{agent}").get_config()


def tiny(agent: str, **kwargs):
  """`haikurl.testing.tiny` of `agent`'s default preset."""
  return testing.tiny(default_config(agent), **kwargs)


def with_numerics(config):
  """`config` with `check_numerics` on (modified in place and returned)."""
  with config.unlocked():
    config.check_numerics = True
  return config


def check_builds_and_acts(config):
  """make_train builds `config` as it is; its agent initialises (params,
  optimiser, the full-size buffer) and acts on a batch of
  zero observations, greedily and exploring, within the action bounds."""
  before = config.to_json()
  train = haikurl.make_train(config)
  assert config.to_json() == before                 # make_train is pure
  spec, n = train.env.spec, config.agent.num_envs
  hp = train.default_hparams
  obs = jnp.zeros((n,) + tuple(spec.obs_shape), spec.obs_dtype)

  def init_and_act(key):              # one program: one compile
    init_key, act_key = jax.random.split(key)
    state = train.agent.init(init_key, hp)
    return state, [train.agent.act(state, obs, act_key, hp, evaluation)[0]
                   for evaluation in (True, False)]

  state, actions = jax.jit(init_and_act)(jax.random.key(0))
  floats = [x for x in jax.tree.leaves(state)
            if jnp.issubdtype(x.dtype, jnp.floating)]
  assert all(np.all(np.isfinite(x)) for x in floats)
  for action in actions:              # greedy, then exploring
    assert action.shape == (n,) + spec.action_shape, (action.shape, spec)
    if spec.discrete:
      assert np.all((action >= 0) & (action < spec.num_actions))
    else:
      assert np.all(np.abs(np.asarray(action)) <= 1.0)
  with pytest.raises(AttributeError):
    config.agent.learning_rat = 1.0   # locked: a typo fails


def eval_returns(config, num_seeds: int = 4) -> np.ndarray:
  """[num_seeds, periods] evaluation returns of `config`, its seeds vmapped
  in one program (keys split from `config.seed`): learning tests assert a
  median or mean over them, since one seed's curve differs across CPUs."""
  train = haikurl.make_train(config)
  keys = jax.random.split(jax.random.key(config.seed), num_seeds)
  hp = jax.tree.map(lambda x: jnp.stack([x] * num_seeds),
                    train.default_hparams)
  _, metrics = jax.jit(jax.vmap(train))(keys, hp)
  return np.asarray(metrics["eval/episode_return"])
