"""IQN: the cosine embedding, the head's shapes, the quantile Huber loss by
hand, one probe learned."""
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

import haikurl
from agents import dqn
from agents import iqn
from configs import iqn as iqn_config
from haikurl import networks
from haikurl import settings as settings_lib
from haikurl import testing
from haikurl.types import Transition


class NetworkTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_cosine_embedding_values_and_shape(self):
    # cos(pi * i * tau) for i = 0, 1, 2: tau = 0.5 -> [1, cos(pi/2), cos(pi)]
    # = [1, 0, -1]; tau = 0 -> [1, 1, 1].
    emb = self.variant(networks.cosine_embedding, static_argnums=1)(
        jnp.array([[0.5, 0.0]]), 3)
    chex.assert_shape(emb, (1, 2, 3))
    np.testing.assert_allclose(emb, [[[1., 0., -1.], [1., 1., 1.]]],
                               atol=1e-6)

  def test_head_shapes_and_fresh_fractions_per_key(self):
    settings, _ = settings_lib.split(
        iqn_config.get_config("CartPole-v1").agent, iqn, total_env_steps=10_000)
    settings = settings.replace(num_atoms=7, num_cosines=5)
    spec = haikurl.envs.make("gymnax:CartPole-v1", 1).spec
    net = iqn.make_network(settings, spec)
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    chex.assert_shape(params["tau_embedding"]["w"], (5, 64))
    obs = jnp.ones((3, 4))
    out = net.apply(params, obs, jax.random.key(1))
    chex.assert_shape([out.q_values, out.q_dist, out.tau],
                      [(3, 2), (3, 7, 2), (3, 7)])
    np.testing.assert_allclose(out.q_values, out.q_dist.mean(axis=1),
                               rtol=1e-6)
    assert np.all((out.tau >= 0) & (out.tau < 1))
    # Rows of one call hold different fractions; another key others still;
    # the same key the same values.
    assert not np.allclose(out.tau[0], out.tau[1])
    other = net.apply(params, obs, jax.random.key(2))
    assert not np.allclose(out.q_dist, other.q_dist)
    chex.assert_trees_all_equal(out, net.apply(params, obs, jax.random.key(1)))


class QuantileHuberLossTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    self.enter_context(jax.numpy_rank_promotion("raise"))

  def test_sampled_fractions_per_example(self):
    # Two transitions, N = N' = 2 fractions, A = 2, a_tm1 = 0, r = 1,
    # discount = 0.5. Z(s_tm1, 0) = [0, 5] for both; the selector (online
    # net at s_t) means [0, 1] pick a_t = 1 (the target net's means [9, 4]
    # would pick 0); target Z(s_t, 1) = [2, 6], so the targets are
    # 1 + 0.5 * [2, 6] = [2, 4].
    # delta[i, j] = target_j - z_i = [[2, 4], [-3, -1]];
    # Huber(1) = [[1.5, 3.5], [2.5, 0.5]].
    # Example 0, tau = [0.25, 0.75]: weights |tau_i - 1(delta < 0)| =
    #   [[.25, .25], [.25, .25]]: sum_i mean_j = .25 * 2.5 + .25 * 1.5 = 1.0
    # Example 1, tau = [0.5, 0.5]: .5 * 2.5 + .5 * 1.5 = 2.0
    settings, _ = settings_lib.split(
        iqn_config.get_config("CartPole-v1").agent, iqn, total_env_steps=10_000)
    assert settings.double_q and settings.loss == "huber"
    z_tm1 = jnp.array([[[0., 0.], [5., 0.]]] * 2)                 # [B, N, A]
    tau = jnp.array([[0.25, 0.75], [0.5, 0.5]])
    selector = jnp.array([[[0., 1.], [0., 1.]]] * 2)
    target = jnp.array([[[9., 2.], [9., 6.]]] * 2)
    q = lambda d, t: networks.QuantileQ(d.mean(axis=1), d, t)
    outputs = dqn.QOutputs(online_tm1=q(z_tm1, tau), online_t=q(selector, tau),
                           target_tm1=None, target_t=q(target, tau))
    batch = Transition(obs=None, action=jnp.array([0, 0]),
                       reward=jnp.array([1., 1.]),
                       discount=jnp.array([0.5, 0.5]), terminated=None,
                       truncated=None, next_obs=None, extras=())
    loss, priority = dqn.quantile_loss(outputs, batch, None, settings)
    np.testing.assert_allclose(loss, [1.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(priority, loss)


class ProbeTest(absltest.TestCase):

  def test_action_reward_quantiles_and_greedy_action(self):
    # One step, reward +1 for action 1 and -1 for action 0, deterministic:
    # every quantile of Z(s, 1) is +1 and of Z(s, 0) is -1.
    config = testing.tiny(
        iqn_config.get_config("CartPole-v1"), env="probe:action_reward",
        num_envs=8, rollout_length=4, hidden=16, iterations=50,
        buffer_size=1024, batch_size=32, learning_starts=64,
        replay_ratio=0.25, tau=0.1, discount=0.9, num_atoms=16,
        exploration_fraction=0.5, learning_rate=2e-3)
    train, state, _ = testing.run(config)
    net = iqn.make_network(train.settings, train.env.spec)
    out = net.apply(state.agent_state.params, jnp.ones((1, 1)),
                    jax.random.key(3))
    np.testing.assert_allclose(out.q_values[0], [-1.0, 1.0], atol=0.2)
    np.testing.assert_allclose(out.q_dist[0, :, 1], 1.0, atol=0.3)
    np.testing.assert_array_equal(
        testing.greedy_actions(train, state, jnp.ones((1, 1))), [1])


if __name__ == "__main__":
  absltest.main()
