"""Fuzz tests (hypothesis) over every registered agent.

- Random *valid* tiny configs build and train a few iterations (with
  `check_numerics` on) without error, the env-step count right and every
  learn metric and parameter finite.
- Random *invalid* configs (one bad field in a valid one) raise a one-line
  ValueError from our checks in `make_train` / the sweep, before anything is
  compiled: never an error from inside JAX.

Bounded for CI: valid examples compile (a few seconds each), so each agent
gets VALID_EXAMPLES of them; invalid ones compile nothing. Examples are
derandomized (the same in every CI run); set HAIKURL_FUZZ_EXAMPLES=<n> to
draw n fresh random examples per test instead.
"""
import math
import os
import traceback

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import haikurl
from haikurl import sweep as sweep_lib
from tests import presets

AGENTS = presets.names()
_FRESH = int(os.environ.get("HAIKURL_FUZZ_EXAMPLES", "0"))
VALID_EXAMPLES = _FRESH or 2
INVALID_EXAMPLES = _FRESH or 25
COUNTS = {"valid": 0, "invalid": 0}


def _settings(n):
  return settings(max_examples=n, deadline=None, derandomize=not _FRESH,
                  database=None,
                  suppress_health_check=[HealthCheck.too_slow,
                                         HealthCheck.function_scoped_fixture])


ENVS = {  # env names each agent accepts
    "ppo": ["gymnax:CartPole-v1", "gymnax:Pendulum-v1"],
    "ppo_rnn": ["gymnax:CartPole-v1", "gymnax:Pendulum-v1"],
    "dqn": ["gymnax:CartPole-v1", "gymnax:Acrobot-v1"],
    "r2d2": ["gymnax:CartPole-v1", "gymnax:MemoryChain-bsuite"],
    "sac": ["gymnax:Pendulum-v1", "gymnax:CartPole-v1"],
    "td3": ["gymnax:Pendulum-v1", "gymnax:MountainCarContinuous-v0"],
    "ddpg": ["gymnax:Pendulum-v1", "gymnax:MountainCarContinuous-v0"],
    "a2c": ["gymnax:CartPole-v1", "gymnax:Pendulum-v1"],
    "pqn": ["gymnax:CartPole-v1", "gymnax:Acrobot-v1"],
    "iqn": ["gymnax:CartPole-v1", "gymnax:Acrobot-v1"],
}
ON_POLICY = ("ppo", "ppo_rnn", "a2c", "pqn")
LR = st.floats(1e-5, 1e-2)


@st.composite
def valid_configs(draw, agent):
  num_envs = draw(st.sampled_from([1, 2, 4]))
  rollout_length = draw(st.sampled_from([1, 2, 4, 8]))
  samples = num_envs * rollout_length
  kwargs = dict(num_envs=num_envs, rollout_length=rollout_length,
                hidden=draw(st.sampled_from([4, 8, 16])),
                iterations=draw(st.integers(1, 3)),
                env=draw(st.sampled_from(ENVS[agent])))
  overrides = {}
  if agent in ON_POLICY:
    # ppo_rnn's minibatches are sets of whole environments' sequences.
    units = num_envs if agent == "ppo_rnn" else samples
    kwargs["num_minibatches"] = draw(st.sampled_from(
        [d for d in range(1, units + 1) if units % d == 0]))
    kwargs["num_epochs"] = draw(st.integers(1, 2))
    overrides.update(learning_rate=draw(LR))
    if agent == "pqn":
      overrides.update(q_lambda=draw(st.floats(0.0, 1.0)),
                       layer_norm=draw(st.booleans()))
    else:
      overrides.update(gae_lambda=draw(st.floats(0.8, 1.0)),
                       entropy_coef=draw(st.floats(0.0, 0.05)))
  else:
    batch = draw(st.integers(1, 16))
    n_step = draw(st.integers(1, 3)) if agent in ("dqn", "iqn") else 1
    if agent == "r2d2":  # rows hold two of tiny's 4-step sequences
      low = max(batch, num_envs * max(2 * 4, rollout_length), 8)
    else:
      low = max(batch, 2 * n_step * num_envs, 8)
    buffer = draw(st.integers(low, 256))
    kwargs.update(batch_size=batch, buffer_size=buffer,
                  # below the run's length (a longer one is refused)
                  learning_starts=draw(st.integers(
                      0, min(16, samples * kwargs["iterations"] - 1))))
  if agent in ("dqn", "iqn"):
    overrides.update(
        learning_rate=draw(LR), n_step=n_step,
        dueling=draw(st.booleans()), double_q=draw(st.booleans()),
        prioritised=draw(st.booleans()),
        replay_ratio=draw(st.sampled_from([1, 2])) / samples)
    if agent == "dqn":
      overrides["distributional"] = draw(st.sampled_from(["none", "c51",
                                                          "qr"]))
  elif agent == "r2d2":
    overrides.update(
        learning_rate=draw(LR), n_step=draw(st.integers(1, 3)),
        burn_in=draw(st.integers(0, 3)), double_q=draw(st.booleans()),
        dueling=draw(st.booleans()), value_rescaling=draw(st.booleans()),
        prioritised=draw(st.booleans()),
        core=draw(st.sampled_from(["gru", "lstm"])),
        previous_inputs=draw(st.booleans()),
        replay_ratio=draw(st.sampled_from([1, 2])) / samples)
  elif agent in ("sac", "td3", "ddpg"):
    overrides.update(actor_learning_rate=draw(LR), critic_learning_rate=draw(LR),
                     tau=draw(st.floats(0.001, 1.0)))
  overrides["discount"] = draw(st.floats(0.8, 0.999))
  return presets.with_numerics(presets.tiny(agent, **kwargs, **overrides))


@pytest.mark.parametrize("agent", AGENTS)
def test_random_valid_configs_train(agent):
  @_settings(VALID_EXAMPLES)
  @given(valid_configs(agent), st.integers(0, 2**31 - 1))
  def check(config, seed):
    COUNTS["valid"] += 1
    train = haikurl.make_train(config)
    state, metrics = jax.device_get(jax.jit(train)(jax.random.key(seed)))
    assert int(state.env_steps) == train.total_env_steps
    np.testing.assert_array_equal(
        metrics["env_steps"],
        np.arange(1, train.num_evals + 1) * train.steps_per_eval)
    assert train.nonfinite_message(metrics) is None, train.nonfinite_message(metrics)
  check()


# One bad field each: (path, value) or a callable config -> None.
def _bad_env(c):
  c.env = {"dqn": "gymnax:Pendulum-v1", "iqn": "gymnax:Pendulum-v1",
           "pqn": "gymnax:Pendulum-v1", "r2d2": "gymnax:Pendulum-v1",
           "td3": "gymnax:CartPole-v1",
           "ddpg": "gymnax:CartPole-v1"}.get(c.agent.name, "gymnax:CartPol-v1")


def _bad_batch(c):
  if "buffer_size" in c.agent:
    c.agent.batch_size = c.agent.buffer_size + 1
  else:
    c.agent.num_minibatches = c.agent.num_envs * c.agent.rollout_length + 1


def _lr_key(c):
  return sorted(k for k in c.agent if k.endswith("learning_rate") and
                not isinstance(c.agent[k], bool))[0]


MUTATIONS = {
    "zero_envs": lambda c, v: setattr(c.agent, "num_envs", 0),
    "negative_envs": lambda c, v: setattr(c.agent, "num_envs", -v),
    "zero_rollout": lambda c, v: setattr(c.agent, "rollout_length", 0),
    "negative_lr": lambda c, v: c.agent.__setitem__(_lr_key(c), -v * 1e-4),
    "zero_lr": lambda c, v: c.agent.__setitem__(_lr_key(c), 0.0),
    "nan_lr": lambda c, v: c.agent.__setitem__(_lr_key(c), math.nan),
    "inf_discount": lambda c, v: setattr(c.agent, "discount", math.inf),
    "discount_above_1": lambda c, v: setattr(c.agent, "discount", 1.0 + v),
    "negative_discount": lambda c, v: setattr(c.agent, "discount", -v / 10),
    "batch_too_big": lambda c, v: _bad_batch(c),
    "zero_hidden": lambda c, v: c.agent.__setitem__(
        [k for k in c.agent if k.endswith("hidden_sizes")][0], (8, 0)),
    "zero_total_steps": lambda c, v: setattr(c, "total_env_steps", 0),
    "negative_eval_every": lambda c, v: setattr(c, "eval_every", -v),
    "zero_eval_episodes": lambda c, v: setattr(c, "num_eval_episodes", 0),
    "unknown_or_mismatched_env": lambda c, v: _bad_env(c),
    "unknown_library": lambda c, v: setattr(c, "env", "gym:CartPole-v1"),
    "unknown_agent": lambda c, v: setattr(c.agent, "name", c.agent.name + "x"),
    "sweep_structural": lambda c, v: setattr(c.sweep, "num_envs", (1, 2)),
    "sweep_negative_lr": lambda c, v: setattr(
        c.sweep, _lr_key(c), (1e-3, -v * 1e-3)),
    "zero_seeds": lambda c, v: setattr(c, "num_seeds", 0),
}


def _raised_in_our_code(error: BaseException) -> bool:
  frames = traceback.extract_tb(error.__traceback__)
  last = frames[-1].filename
  return ("/haikurl/" in last or "/agents/" in last) and "site-packages" not in last


@pytest.mark.parametrize("agent", AGENTS)
def test_random_invalid_configs_get_a_clean_error(agent):
  @_settings(INVALID_EXAMPLES)
  @given(st.sampled_from(sorted(MUTATIONS)), st.integers(1, 1000),
         st.sampled_from([1, 2, 4]), st.sampled_from([1, 2, 8]))
  def check(mutation, value, num_envs, rollout_length):
    COUNTS["invalid"] += 1
    config = presets.tiny(agent, num_envs=num_envs,
                         rollout_length=rollout_length, num_minibatches=1)
    if mutation.startswith("sweep") and "sweep" not in config:
      return
    with config.unlocked():
      MUTATIONS[mutation](config, value)
    with pytest.raises(ValueError) as info:
      train = haikurl.make_train(config)
      sweep_lib.make_members(config, train.default_hparams)
    message = str(info.value)
    assert message and "\n" not in message, message
    assert _raised_in_our_code(info.value), traceback.format_exception(info.value)
  check()


@pytest.mark.parametrize("agent", AGENTS)
def test_unmutated_base_of_the_invalid_ones_is_valid(agent):
  for num_envs in (1, 2, 4):
    for rollout_length in (1, 2, 8):
      config = presets.tiny(agent, num_envs=num_envs,
                           rollout_length=rollout_length, num_minibatches=1)
      train = haikurl.make_train(config)
      sweep_lib.make_members(config, train.default_hparams)


def test_report_counts():
  """Last in the file: how many examples ran (pytest -s shows it)."""
  print(f"\nfuzz examples run: {COUNTS}")
