"""The loop: shapes of the curve, agreement of vmapped and solo runs,
determinism, and PPO learning CartPole."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from haikurl import loop
from configs import ppo as ppo_config


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
  assert np.all(np.asarray(metrics["eval/episode_return"]) > 0)


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
  assert haikurl.compiler_options("gpu") == {}
  assert haikurl.compiler_options("cpu") == {
      "xla_backend_optimization_level": 1}
  monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
  assert haikurl.compiler_options("cpu") == {}
  monkeypatch.delenv("XLA_FLAGS")
  train = haikurl.make_train(small_config())
  key = jax.random.key(3)
  _, plain = jax.jit(train)(key)
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
