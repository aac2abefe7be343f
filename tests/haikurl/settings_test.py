"""Agent settings: defaults, one-line errors, extension, completion, and
agents found by module path."""
import dataclasses
import sys
import textwrap

import jax
import numpy as np
import pytest
from ml_collections import config_dict

import haikurl
from agents import dqn
from agents import ppo
from haikurl import registry
from haikurl import settings


def minimal(name="ppo", **agent):
  c = config_dict.ConfigDict()
  c.env = "gymnax:CartPole-v1"
  c.agent = config_dict.ConfigDict(dict(name=name, **agent))
  return c


def test_a_config_sets_only_what_it_changes():
  s, hp = settings.split(dict(name="ppo", num_envs=4, learning_rate=1e-3),
                         ppo, total_env_steps=1024)
  defaults = ppo.Settings()
  assert s == dataclasses.replace(defaults, num_envs=4, total_env_steps=1024)
  assert hp.learning_rate.dtype == np.float32
  np.testing.assert_allclose(hp.learning_rate, 1e-3)
  # Untouched hyperparameters take the HParams defaults.
  np.testing.assert_allclose(hp.gae_lambda, ppo.HParams().gae_lambda)


def test_an_unknown_key_is_one_line_naming_it_and_the_closest():
  with pytest.raises(ValueError) as e:
    settings.split(dict(name="ppo", learnin_rate=1e-3), ppo)
  message = str(e.value)
  assert "\n" not in message
  assert "'learnin_rate'" in message and "'learning_rate'" in message


@pytest.mark.parametrize("key,value,words", [
    ("num_envs", 0, "num_envs must be a positive integer, got 0"),
    ("hidden_sizes", (64, 0), "hidden_sizes must be a tuple of positive"),
    ("activation", "sigmoidal", "activation must be one of"),
    ("discount", 1.5, "discount must lie in [0, 1], got 1.5"),
    ("learning_rate", -1e-3, "learning_rate must be positive"),
    ("learning_rate", float("nan"), "learning_rate must be finite"),
    ("num_minibatches", 7, "num_minibatches=7 must divide"),
])
def test_bad_values_are_refused_where_the_agent_declares_them(key, value,
                                                              words):
  with pytest.raises(ValueError, match=words.replace("[", r"\[").replace(
      "]", r"\]")) as e:
    settings.split({"name": "ppo", key: value}, ppo)
  assert "\n" not in str(e.value)


def test_extend_hparams_adds_traced_fields_with_defaults_and_checks():
  ext = settings.extend_hparams(dqn.HParams, "X", alpha=0.9,
                                checks={"alpha": settings.unit_interval})
  assert ext._fields == dqn.HParams._fields + ("alpha",)
  hp = ext()
  assert hp.alpha == 0.9 and hp.discount == dqn.HParams().discount
  module = type("M", (), dict(Settings=dqn.Settings, HParams=ext))
  _, hp = settings.split(dict(alpha=0.5), module)
  assert float(hp.alpha) == 0.5
  with pytest.raises(ValueError, match="alpha must lie in"):
    settings.split(dict(alpha=2.0), module)
  with pytest.raises(ValueError, match="already fields"):
    settings.extend_hparams(dqn.HParams, discount=0.5)


def test_complete_fills_agent_run_and_sweep_keys_and_keeps_the_lock():
  c = minimal(learning_rate=1e-3)
  c.lock()
  full = settings.complete(c, ppo)
  assert full.is_locked
  assert full.agent.learning_rate == 1e-3
  assert full.agent.num_epochs == ppo.Settings().num_epochs
  assert full.total_env_steps == settings.RUN_DEFAULTS["total_env_steps"]
  assert full.sweep.learning_rate == () and full.sweep.method == "grid"
  assert "total_env_steps" not in full.agent  # the loop's, not the config's
  assert c.to_dict() == minimal(learning_rate=1e-3).to_dict()  # unchanged


def test_a_minimal_config_builds_the_whole_run():
  train = haikurl.make_train(minimal(learning_rate=1e-3, entropy_coef=0.0))
  assert train.settings.num_envs == ppo.Settings().num_envs
  np.testing.assert_allclose(train.default_hparams.entropy_coef, 0.0)
  assert train.total_env_steps == settings.RUN_DEFAULTS["total_env_steps"]
  assert train.config.agent.num_minibatches == ppo.Settings().num_minibatches


USER_AGENT = '''
from agents import ppo
from haikurl import settings
Settings = ppo.Settings
HParams = settings.extend_hparams(ppo.HParams, bonus=0.25)
def make(settings, spec):
  def advantage(inputs, hp):
    return ppo.gae(inputs, hp) + hp.bonus
  return ppo.make(settings, spec, advantage_fn=advantage)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
  package = tmp_path / "my_agents"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "bonus_ppo.py").write_text(textwrap.dedent(USER_AGENT))
  monkeypatch.syspath_prepend(str(tmp_path))
  yield "my_agents.bonus_ppo"
  for name in ("my_agents", "my_agents.bonus_ppo"):
    sys.modules.pop(name, None)


def test_an_agent_by_module_path_trains_with_its_own_hparams(user_module):
  c = minimal(name=user_module, bonus=0.5)
  c.total_env_steps, c.eval_every, c.num_eval_episodes = 1024, 512, 2
  train = haikurl.make_train(c)
  assert type(train.default_hparams).__name__ == "HParams"
  np.testing.assert_allclose(train.default_hparams.bonus, 0.5)
  _, metrics = jax.jit(train)(jax.random.key(0))
  assert metrics["eval/episode_return"].shape == (2,)


def test_an_unknown_agent_says_how_to_add_one():
  with pytest.raises(ValueError) as e:
    registry.lookup("mdqn")
  message = str(e.value)
  assert "\n" not in message
  assert "Known agents: a2c, bc, cql, ddpg, dqn, iql, iqn, ppo, ppo_rnn, pqn, r2d2, sac, td3" in message
  assert "module path" in message and "register_agent" in message


def test_a_shadowed_agents_package_is_named(tmp_path, monkeypatch):
  # Another package called `agents` ahead of the repository's on sys.path
  # (tests/agents, when tests/ comes first) registers no agent: the error
  # says where it came from instead of listing nothing.
  (tmp_path / "agents").mkdir()
  (tmp_path / "agents" / "__init__.py").write_text("")
  monkeypatch.setattr(registry, "_AGENTS", {})
  monkeypatch.delitem(sys.modules, "agents")
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(ValueError) as e:
    registry.lookup("mdqn")
  message = str(e.value)
  assert "\n" not in message
  assert "Known agents: none ('agents' came from " in message
  assert str(tmp_path / "agents") in message and "ahead of haikurl" in message


def test_a_module_that_is_not_an_agent_is_named(tmp_path, monkeypatch):
  (tmp_path / "not_an_agent.py").write_text("x = 1\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(ValueError, match="has no Settings, HParams, make"):
    registry.lookup("not_an_agent")


@pytest.mark.parametrize("name", ["ppo", "dqn"])
def test_learn_refuses_a_trajectory_of_the_wrong_shape_in_one_line(name):
  c = minimal(name=name, num_envs=2, rollout_length=4)
  s, hp = haikurl.agent_settings(c)
  env = haikurl.make_env(c)
  agent = registry.lookup(name).make(s, env.spec)
  state = agent.init(jax.random.key(0), hp)
  env_state, ts = env.reset(jax.random.key(1))
  action, extras = agent.act(state, ts.observation, jax.random.key(2), hp,
                             False)
  _, nts = env.step(env_state, action, jax.random.key(3))
  one_step = haikurl.Transition(
      ts.observation, action, nts.reward, nts.discount, nts.terminated,
      nts.truncated, nts.next_observation, extras)
  # [1, 2] where [4, 2] is expected: [B] fields with a time axis of 1.
  trajectory = jax.tree.map(lambda x: x[None], one_step)
  with pytest.raises(ValueError) as e:
    agent.learn(state, trajectory, jax.random.key(4), hp)
  assert "\n" not in str(e.value)
  assert "[rollout_length, num_envs] = [4, 2]" in str(e.value)
  assert "[1, 2]" in str(e.value)
