"""The loop: shapes of the curve, agreement of vmapped and solo runs,
determinism, and PPO learning CartPole."""
import types
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import config_dict

import haikurl
from agents import ppo
from haikurl import loop
from configs import ppo as ppo_config
from haikurl import testing


def small_config():
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 16
  cfg.agent.num_minibatches = 2
  cfg.agent.num_epochs = 2
  cfg.total_env_steps = 4 * 64 * 3
  cfg.eval_every = 4 * 64
  cfg.num_eval_episodes = 4
  return cfg


def test_metrics_have_a_leading_num_evals_axis():
  train = haikurl.make_train(small_config())
  assert (train.num_evals, train.iterations_per_eval) == (3, 4)
  state, metrics = jax.jit(train)(jax.random.key(0))
  np.testing.assert_array_equal(metrics["env_steps"], [256, 512, 768])
  for name, value in metrics.items():
    assert value.shape == (3,), name
  assert int(state.env_steps) == 768
  # CartPole pays 1 per step: every episode's return equals its length, in
  # training and in the greedy evaluation episodes (at most 500 steps).
  for prefix in ("train", "eval"):
    np.testing.assert_allclose(metrics[f"{prefix}/episode_return"],
                               metrics[f"{prefix}/episode_length"], rtol=1e-6)
  assert np.all(np.asarray(metrics["eval/episode_length"]) <= 500)
  assert np.sum(metrics["train/episodes"]) > 0


def test_vmapped_members_equal_solo_runs_and_same_key_same_result():
  train = haikurl.make_train(small_config())
  keys = jax.random.split(jax.random.key(42), 2)
  lr = jnp.array([1e-3, 3e-4], jnp.float32)
  hp = train.default_hparams._replace(learning_rate=lr)
  hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), hp)
  _, batched = jax.jit(jax.vmap(train))(keys, hp)
  solo = jax.jit(train)
  for i in range(2):
    member_hp = jax.tree.map(lambda x, i=i: x[i], hp)
    _, single = solo(keys[i], member_hp)
    chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], batched),
                                single, rtol=1e-5, atol=1e-5)
  _, again = solo(keys[0], jax.tree.map(lambda x: x[0], hp))
  _, once = solo(keys[0], jax.tree.map(lambda x: x[0], hp))
  chex.assert_trees_all_equal(again, once)
  # Different learning rates really give different runs.
  assert not np.allclose(batched["loss/total"][0], batched["loss/total"][1])


def test_period_by_period_equals_whole_train():
  train = haikurl.make_train(small_config())
  key = jax.random.key(1)
  _, whole = jax.jit(train)(key)
  state = jax.jit(train.init)(key)
  period = jax.jit(train.period)
  rows = []
  for _ in range(train.num_evals):
    state, m = period(state)
    rows.append(m)
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *rows)
  chex.assert_trees_all_close(stacked, whole, rtol=1e-5, atol=1e-5)


def test_compiler_options_keep_the_result_and_respect_xla_flags(monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)  # conftest sets level 1
  assert haikurl.compiler_options("gpu") == {}
  assert haikurl.compiler_options("cpu") == {
      "xla_backend_optimization_level": 1}
  monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
  assert haikurl.compiler_options("cpu") == {}
  monkeypatch.delenv("XLA_FLAGS")
  train = haikurl.make_train(small_config())
  key = jax.random.key(3)
  _, plain = jax.jit(  # XLA's default level, whatever XLA_FLAGS says
      train, compiler_options={"xla_backend_optimization_level": 2})(key)
  _, fast = jax.jit(
      train, compiler_options=haikurl.compiler_options("cpu"))(key)
  chex.assert_trees_all_close(fast, plain, rtol=1e-5, atol=1e-5)


def test_run_lengths_that_do_not_divide_are_refused_with_the_nearest():
  # Iterations of 4 x 16 = 64 steps, periods of 256.
  cfg = small_config()
  cfg.total_env_steps = 700   # 2 periods = 512, 3 = 768
  with pytest.raises(ValueError, match=r"total_env_steps=700 .* 512 or 768"):
    haikurl.make_train(cfg)
  cfg = small_config()
  cfg.eval_every = 100        # 1 iteration = 64, 2 = 128
  with pytest.raises(ValueError, match=r"eval_every=100 .* 64 or 128"):
    haikurl.make_train(cfg)
  cfg.eval_every = 30         # below one iteration: only 64
  with pytest.raises(ValueError, match=r"nearest valid values: 64\.$"):
    loop.run_length(cfg)


@pytest.mark.slow
def test_ppo_learns_cartpole():
  # The shipped preset, 2 seeds, 64k steps: mean greedy return >= 450.
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.total_env_steps = 65_536
  cfg.eval_every = 16_384
  train = haikurl.make_train(cfg)
  keys = jax.random.split(jax.random.key(0), 2)
  hp = haikurl.hparams.broadcast(train.default_hparams, 2)
  _, metrics = jax.jit(jax.vmap(train))(keys, hp)
  final = np.asarray(metrics["eval/episode_return"])[:, -1]
  assert final.mean() >= 450, final


class Seen(NamedTuple):
  """What the recording agent's act saw, returned as its extras."""
  obs: jax.Array    # [B, 4] the observation act was given
  calls: jax.Array  # [B] learn calls made before this act


class TapeState(NamedTuple):
  calls: jax.Array  # [] int32 learn calls so far
  tape: Any         # Transition [I, T, B, ...]: every trajectory learn got


def recorded_policy(obs):
  """Even envs push right until the pole falls (terminations); odd ones
  push against the pole's angle, so they balance until the time limit."""
  even = (jnp.arange(obs.shape[0]) % 2) == 0
  return jnp.where(even, 1, (obs[:, 2] > 0).astype(jnp.int32))


def recording_agent(num_learns):
  """An agent whose act and learn write down what they saw: act acts by
  `recorded_policy` and returns (obs, learn calls so far) as extras; learn
  stores each trajectory it gets in its state, in call order."""
  def make(settings, spec):
    steps, batch = settings.rollout_length, settings.num_envs

    def init(key, hp):
      del key, hp
      seen = Seen(jnp.zeros((batch,) + spec.obs_shape), jnp.zeros((batch,),
                                                                 jnp.int32))
      one = haikurl.Transition(
          spec.dummy_obs, spec.dummy_action, 0.0, 0.0, False, False,
          spec.dummy_obs, jax.tree.map(lambda x: x[0], seen))
      tape = jax.tree.map(
          lambda x: jnp.zeros((num_learns, steps, batch) + jnp.shape(x),
                              jnp.result_type(x)), one)
      return TapeState(jnp.zeros((), jnp.int32), tape)

    def act(state, obs, key, hp, evaluation=False):
      del key, hp, evaluation
      calls = jnp.full(obs.shape[:1], state.calls, jnp.int32)
      return recorded_policy(obs), Seen(obs, calls)

    def learn(state, trajectory, key, hp):
      del key, hp
      tape = jax.tree.map(lambda t, x: t.at[state.calls].set(x), state.tape,
                          trajectory)
      return TapeState(state.calls + 1, tape), {}

    return haikurl.Agent(init, act, learn)
  # The contract's other parts (HParams, settings) are PPO's.
  parts = {k: getattr(ppo, k) for k in ("HParams", "Settings") if
           hasattr(ppo, k)}
  return types.SimpleNamespace(make=make, **parts)


def test_tape_learn_gets_exactly_what_was_acted_on_in_order():
  # 4 CartPoles cut at 12 steps, 3 iterations x 2 periods of 8 steps.
  num_learns, steps, batch = 6, 8, 4
  config = testing.tiny(ppo_config.get_config(), num_envs=batch,
                        rollout_length=steps, iterations=3, periods=2,
                        env_kwargs=config_dict.ConfigDict(
                            dict(max_steps_in_episode=12)))
  _, state, _ = testing.run(config, agent=recording_agent(num_learns))
  state = jax.device_get(state)
  assert int(state.agent_state.calls) == num_learns
  assert int(state.env_steps) == num_learns * steps * batch
  tape = state.agent_state.tape
  # Each rollout acted with the state left by the previous learn call.
  np.testing.assert_array_equal(
      tape.extras.calls, np.broadcast_to(
          np.arange(num_learns)[:, None, None], (num_learns, steps, batch)))
  # One stream per env, over all learn calls: [I * T, B].
  flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tape)
  # The transition's obs and action are those act saw and returned.
  np.testing.assert_array_equal(flat.obs, flat.extras.obs)
  np.testing.assert_array_equal(flat.action,
                                jax.vmap(recorded_policy)(flat.obs))
  # Rewards, discount and the end flags as CartPole gives them.
  np.testing.assert_array_equal(flat.reward, 1.0)
  np.testing.assert_array_equal(flat.discount, 1.0 - flat.terminated)
  assert not np.any(flat.terminated & flat.truncated)
  assert np.any(flat.terminated[:, 0::2]) and np.any(flat.truncated[:, 1::2])
  # Consecutive steps chain: the next step acts on next_obs, except where an
  # episode ended; there next_obs is the pre-reset observation (the pole
  # fallen, or the state at the limit) and the next obs a fresh reset.
  done = flat.terminated | flat.truncated
  chained = np.all(flat.next_obs[:-1] == flat.obs[1:], axis=-1)
  np.testing.assert_array_equal(chained, ~done[:-1])
  np.testing.assert_array_less(np.abs(flat.obs[1:][done[:-1]]), 0.05 + 1e-6)
  assert np.all(np.abs(flat.obs[0]) <= 0.05)
  fell = (np.abs(flat.next_obs[..., 0]) > 2.4) | (
      np.abs(flat.next_obs[..., 2]) > 12 * 2 * np.pi / 360)
  np.testing.assert_array_equal(fell, flat.terminated)
  # Truncations come exactly 12 steps after a reset.
  for b in range(batch):
    ends = np.flatnonzero(done[:, b])
    lengths = np.diff(np.concatenate([[-1], ends]))
    np.testing.assert_array_equal(lengths[flat.truncated[ends, b]], 12)
