"""The evaluation protocol: its own key stream (the evaluation schedule
cannot change training), named policies, sticky actions on MinAtar."""
import chex
import jax
import jax.numpy as jnp
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
  chex.assert_trees_all_equal(coarse_state.agent_state, fine_state.agent_state)
  chex.assert_trees_all_equal(coarse_state.key, fine_state.key)


def _minatar(env, hidden=16, **overrides):
  c = ppo_config.get_config("Breakout-MinAtar")
  c.env = f"gymnax:{env}"
  a = c.agent
  a.num_envs, a.rollout_length, a.num_minibatches = 2, 8, 2
  a.hidden_sizes = (hidden,)
  c.total_env_steps = c.eval_every = 16
  c.num_eval_episodes = 8
  for name, value in overrides.items():
    c[name] = value
  return c


def _one_evaluation(config, seed=0):
  """Per-episode (returns, lengths) of one evaluation of the untrained
  agent of `seed`, as the default callback plays them."""
  train = haikurl.make_train(config)
  state = train.init(jax.random.key(seed))
  max_steps = train.eval_env.spec.max_episode_steps
  run = jax.jit(lambda s, k: haikurl.evaluation.run_episodes(
      train.agent, train.eval_env, s.agent_state, train.default_hparams, k,
      max_steps, s.env_state, policy=train.protocol.policy))
  return train, jax.device_get(run(state, state.eval_key))


def _outcomes(returns, lengths):
  return set(zip(returns.tolist(), lengths.tolist()))


@pytest.mark.parametrize("env,hidden,seed", [
    ("SpaceInvaders-MinAtar", 16, 0), ("Breakout-MinAtar", 64, 3)])
def test_minatar_greedy_episodes_differ_with_sticky_actions(env, hidden, seed):
  # Untrained agents whose greedy actions depend on what they see: most
  # random inits act the same in every state (64 units, seeds 0, 1, 4 lose
  # every Breakout episode in 6 steps; seed 3 on SpaceInvaders plays one
  # 18-step episode), and repeating a constant action changes nothing under
  # any protocol. Same agent and eval key with p = 0 and 0.1.
  train, (returns, lengths) = _one_evaluation(_minatar(env, hidden), seed)
  assert train.eval_protocol == "greedy, sticky actions p=0.1, 8 episodes"
  assert isinstance(train.eval_env, haikurl.envs.StickyActions)
  assert np.std(returns) > 0 or np.std(lengths) > 0, (returns, lengths)
  _, (returns0, lengths0) = _one_evaluation(
      _minatar(env, hidden, sticky_actions=0.0), seed)
  # Without sticky actions SpaceInvaders plays one episode and Breakout at
  # most one per start (2); the repeats make more distinct episodes.
  assert len(_outcomes(returns0, lengths0)) <= 2
  assert (len(_outcomes(returns, lengths)) >
          len(_outcomes(returns0, lengths0))), (returns, lengths)


def test_without_sticky_actions_spaceinvaders_greedy_episodes_are_one():
  # SpaceInvaders resets deterministically: p = 0 plays one episode 8 times.
  train, (returns, lengths) = _one_evaluation(
      _minatar("SpaceInvaders-MinAtar", sticky_actions=0.0))
  assert train.eval_protocol == "greedy, no sticky actions, 8 episodes"
  np.testing.assert_array_equal(returns, returns[0])
  np.testing.assert_array_equal(lengths, lengths[0])


def test_sticky_actions_repeat_the_executed_action_and_restart_at_noop():
  # p = 0.5 over 4 envs; agent alternates 1, 2, 1, 2, ...: where the wrapper
  # repeats, the executed action is the previous executed one (0 at the
  # start), so executed != chosen exactly where it repeated something else.
  env = haikurl.envs.make("gymnax:Breakout-MinAtar", 4, sticky_actions=0.5)
  state, _ = env.reset(jax.random.key(0))
  np.testing.assert_array_equal(state.previous_action, [0, 0, 0, 0])
  repeats = 0
  for t in range(40):
    chosen = jnp.full((4,), 1 + t % 2, jnp.int32)
    before = state.previous_action
    state, ts = env.step(state, chosen, jax.random.key(t))
    # executed is `before` (repeat) or `chosen`; after an episode end, 0.
    executed = np.where(ts.done, -1, state.previous_action)
    ok = (executed == -1) | (executed == chosen) | (executed == before)
    assert np.all(ok), (t, before, chosen, executed)
    repeats += int(np.sum((executed == before) & (before != chosen)))
  # 40 steps x 4 envs at p = 0.5: about 80 repeats of a different action.
  assert 40 < repeats < 120, repeats
  with pytest.raises(ValueError, match="discrete"):
    haikurl.envs.make("gymnax:Pendulum-v1", 2, sticky_actions=0.1)
  assert not isinstance(haikurl.envs.make("gymnax:CartPole-v1", 2),
                        haikurl.envs.StickyActions)


@pytest.mark.parametrize("overrides,words", [
    (dict(sticky_actions=1.0), ["sticky_actions", "[0, 1)"]),
    (dict(eval_policy="argmax"), ["eval_policy", "greedy"]),
    (dict(eval_policy="epsilon", eval_epsilon=2.0), ["eval_epsilon", "[0, 1]"]),
])
def test_bad_protocol_settings_are_one_line_errors(overrides, words):
  with pytest.raises(ValueError) as error:
    haikurl.make_train(_minatar("Breakout-MinAtar", **overrides))
  message = str(error.value)
  assert "\n" not in message and all(w in message for w in words), message


def test_epsilon_needs_discrete_actions():
  from configs import sac as sac_config  # pylint: disable=g-import-not-at-top
  c = sac_config.get_config("Pendulum-v1")
  c.eval_policy = "epsilon"
  with pytest.raises(ValueError, match="discrete actions"):
    haikurl.make_train(c)


def test_protocols_play_as_named():
  # Untrained DQN on CartPole, 8 episodes, same eval key: "epsilon" with
  # eps = 0 is exactly greedy; eps = 1 and "sampled" (epsilon 1.0 before
  # learning_starts) act uniformly and end differently from greedy.
  def episodes(**overrides):
    c = _dqn(32)
    c.num_eval_episodes = 8
    for name, value in overrides.items():
      c[name] = value
    train = haikurl.make_train(c)
    state = train.init(jax.random.key(1))
    ctx = haikurl.evaluation.CallbackContext(
        c, train.env, train.eval_env, train.agent, train.default_hparams,
        train.protocol)
    out = jax.jit(lambda s, k: haikurl.evaluation.evaluate(ctx, s, k))(
        state, state.eval_key)
    return train.eval_protocol, jax.device_get(out)
  name, greedy = episodes()
  assert name == "greedy, no sticky actions, 8 episodes"
  name, eps0 = episodes(eval_policy="epsilon", eval_epsilon=0.0)
  assert name.startswith("epsilon-greedy eps=0,")
  chex.assert_trees_all_equal(eps0, greedy)
  name, eps1 = episodes(eval_policy="epsilon", eval_epsilon=1.0)
  name_sampled, sampled = episodes(eval_policy="sampled")
  assert name_sampled.startswith("sampled (behaviour policy)")
  for other in (eps1, sampled):
    assert other["eval/episode_return_std"] > 0
    assert other["eval/episode_return"] != greedy["eval/episode_return"]
