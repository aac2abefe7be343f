"""The evaluation protocol: its own key stream (the evaluation schedule
cannot change training), named policies, sticky actions on MinAtar."""
import chex
import jax
import numpy as np
import pytest

import haikurl
from configs import dqn as dqn_config
from configs import ppo as ppo_config


def _ppo(eval_every):
  c = ppo_config.get_config("CartPole-v1")
  a = c.agent
  a.num_envs, a.rollout_length = 4, 16
  a.num_minibatches, a.num_epochs = 2, 1
  a.hidden_sizes = (16, 16)
  c.eval_every = eval_every
  c.total_env_steps = 4 * 64 * 4   # 4 periods of 4 iterations at eval_every 256
  c.num_eval_episodes = 3
  return c


def _dqn(eval_every):
  c = dqn_config.get_config("CartPole-v1")
  a = c.agent
  a.num_envs, a.rollout_length = 4, 8
  a.hidden_sizes = (16, 16)
  a.buffer_size, a.batch_size, a.learning_starts = 256, 16, 16
  a.replay_ratio = 2 / 32          # 2 gradient steps per learn call
  c.eval_every = eval_every
  c.total_env_steps = 32 * 16
  c.num_eval_episodes = 3
  return c


def _learn_metric_names(metrics):
  return [k for k in metrics
          if k.startswith(("loss/", "train/")) and
          not k.startswith("train/episode")]


@pytest.mark.slow
@pytest.mark.parametrize("make_config,every", [(_ppo, 64 * 2), (_dqn, 32 * 4)])
def test_eval_every_does_not_change_training(make_config, every):
  # Run `fine` evaluates every `every` steps, run `coarse` every 2 * every;
  # the same key and total. A coarse period is two fine ones: its episode
  # count is their sum, its mean return their count-weighted mean, its
  # learn metrics (every call learns here) the mean of theirs, and the
  # final agents are the same.
  key = jax.random.key(3)
  fine_train = haikurl.make_train(make_config(every))
  coarse_train = haikurl.make_train(make_config(2 * every))
  fine_state, fine = jax.device_get(jax.jit(fine_train)(key))
  coarse_state, coarse = jax.device_get(jax.jit(coarse_train)(key))
  assert fine_train.num_evals == 2 * coarse_train.num_evals
  np.testing.assert_array_equal(coarse["env_steps"], fine["env_steps"][1::2])
  count = fine["train/episodes"].reshape(-1, 2)
  np.testing.assert_array_equal(coarse["train/episodes"], count.sum(1))
  assert np.all(count > 0)
  returns = fine["train/episode_return"].reshape(-1, 2)
  np.testing.assert_allclose(coarse["train/episode_return"],
                             (returns * count).sum(1) / count.sum(1),
                             rtol=1e-6)
  lengths = fine["train/episode_length"].reshape(-1, 2)
  np.testing.assert_allclose(coarse["train/episode_length"],
                             (lengths * count).sum(1) / count.sum(1),
                             rtol=1e-6)
  names = _learn_metric_names(fine)
  assert len(names) >= 2, names
  for name in names:
    pairs = fine[name].reshape(-1, 2)
    expected = (pairs.sum(1) if name in ("train/gradient_steps",
                                         "train/updates")
                else pairs.mean(1))
    np.testing.assert_allclose(coarse[name], expected, rtol=1e-5, atol=1e-6,
                               err_msg=name)
  chex.assert_trees_all_equal(coarse_state.agent, fine_state.agent)
  chex.assert_trees_all_equal(coarse_state.key, fine_state.key)
