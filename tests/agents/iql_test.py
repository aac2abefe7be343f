"""IQL: the expectile value loss and the advantage weights against
hand-computed values, and on uniform data of a probe the learned value is
the expectile of Q over the dataset's actions and the extracted policy is
the better action (where behaviour cloning can only copy 50/50)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import iql
from configs import iql as iql_config
from haikurl import evaluation
from haikurl import testing


class ExpectileTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_expectile_loss_by_hand(self):
    # u = q - v = [1, -2], tau = 0.7: weights 0.7 (q above v) and 0.3
    # (below): mean(0.7 * 1, 0.3 * 4) = (0.7 + 1.2) / 2 = 0.95.
    loss = self.variant(iql.expectile_value_loss)(
        jnp.zeros(2), jnp.array([1.0, -2.0]), 0.7)
    np.testing.assert_allclose(loss, 0.95, rtol=1e-6)
    # tau = 0.5 is half the squared error: (1 + 4) / 2 * 0.5 = 1.25.
    np.testing.assert_allclose(
        self.variant(iql.expectile_value_loss)(
            jnp.zeros(2), jnp.array([1.0, -2.0]), 0.5), 1.25, rtol=1e-6)

  def test_the_minimiser_is_the_expectile(self):
    # Targets {0, 1} equally often: the tau-expectile v solves
    # tau * (1 - v) = (1 - tau) * v, so v = tau (0.9 here), above the
    # mean 0.5 that an L2 loss would give.
    q = jnp.array([0.0, 1.0])
    grad = jax.grad(lambda v: iql.expectile_value_loss(
        jnp.full(2, v), q, 0.9))
    v = jax.lax.fori_loop(0, 2000, lambda _, v: v - 0.5 * grad(v), 0.0)
    np.testing.assert_allclose(v, 0.9, atol=1e-4)
    # No gradient flows into the target Q.
    dq = jax.grad(lambda q: iql.expectile_value_loss(jnp.zeros(2), q, 0.9))(q)
    np.testing.assert_array_equal(dq, 0.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_advantage_weights_by_hand(self):
    # exp(3 * [0, 1, 10]) = [1, 20.0855, 1.07e13], clipped at 100.
    w = self.variant(iql.awr_weights)(jnp.array([0.0, 1.0, 10.0]), 3.0, 100.0)
    np.testing.assert_allclose(w, [1.0, np.exp(3.0), 100.0], rtol=1e-6)


def uniform(obs, key):
  """Actions 0 and 1 in alternate envs: exactly half the dataset each."""
  del key
  return jnp.arange(obs.shape[0], dtype=jnp.int32) % 2


def test_uniform_data_of_a_probe(tmp_path):
  # probe:action_reward: one step, reward +1 for action 1, -1 for action 0.
  # Uniform data: Q(s, 1) = 1, Q(s, 0) = -1 (terminal, no bootstrap), and
  # V(s) is the 0.7-expectile of {1, -1}: 0.7 (1 - v) = 0.3 (v + 1), v = 0.4.
  path = testing.write_dataset(str(tmp_path / "uniform-v0"),
                               "probe:action_reward", uniform, 64)
  config = testing.tiny(iql_config.get_config("CartPole-v1"),
                        env="probe:action_reward", dataset=path,
                        iterations=400, hidden=32, batch_size=64,
                        actor_learning_rate=3e-3, critic_learning_rate=3e-3,
                        value_learning_rate=3e-3, tau=0.05, expectile=0.7)
  with config.unlocked():
    config.num_eval_episodes = 4
  train, state, metrics = testing.run(
      config, callbacks={"eval": evaluation.evaluate})
  _, critic_net, value_net, _ = iql.make_networks(train.settings,
                                                  train.env.spec)
  obs = jnp.ones((1, 1))
  q = critic_net.apply(state.agent_state.critic, obs, None)[:, 0]   # [2, A]
  np.testing.assert_allclose(q, [[-1.0, 1.0]] * 2, atol=0.1)
  v = value_net.apply(state.agent_state.value, obs)[0]
  np.testing.assert_allclose(v, 0.4, atol=0.1)
  # The extracted policy takes the better action: return 1 (BC: 0 on
  # average, whichever action its 50/50 data tips it to).
  np.testing.assert_allclose(metrics["eval/episode_return"][-1], 1.0)


@pytest.mark.parametrize("name", iql_config.PRESETS)
def test_presets_resolve(name):
  config = iql_config.get_config(name)
  assert config.agent.name == "iql" and config.dataset is None
