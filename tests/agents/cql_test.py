"""CQL: the penalty and the Lagrange multiplier's loss against hand-computed
values, the importance-sampled candidates of continuous CQL, one learn step
of each flavour (CQL-Lagrange's multiplier moves the right way), and on
uniform data of a probe the greedy action is the better one."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import cql
from agents import sac
from configs import cql as cql_config
from haikurl import envs
from haikurl import evaluation
from haikurl import testing


class PenaltyTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_discrete_penalty_by_hand(self):
    # Q(s, .) = [1, 2, 3], dataset action 0:
    # log(e + e^2 + e^3) = 3 + log(1 + e^-1 + e^-2) = 3 + log(1.503215)
    # = 3.407606; minus Q(s, 0) = 1: 2.407606.
    # Temperature 2, action 2: 2 * logsumexp([0.5, 1, 1.5]) - 3
    # = 2 * (1.5 + log(1 + e^-0.5 + e^-1)) - 3 = 2 * 2.1802693 - 3 = 1.3605386.
    q = jnp.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    out = self.variant(cql.penalty)(q, jnp.array([1.0, 3.0]), 1.0)
    np.testing.assert_allclose(out[0], 2.407606, rtol=1e-6)
    out = self.variant(cql.penalty)(q, jnp.array([1.0, 3.0]), 2.0)
    np.testing.assert_allclose(out[1], 1.3605386, rtol=1e-5)

  def test_penalty_is_zero_only_when_the_data_action_dominates(self):
    # logsumexp >= max >= Q(s, a): the penalty is never negative, and it
    # tends to 0 as Q(s, a) dominates the others.
    q = jnp.array([[0.0, 30.0]])
    np.testing.assert_allclose(cql.penalty(q, jnp.array([30.0]), 1.0), 0.0,
                               atol=1e-6)
    # Equal values: log 2 whatever the data action.
    np.testing.assert_allclose(
        cql.penalty(jnp.zeros((1, 2)), jnp.zeros(1), 1.0), np.log(2.0),
        rtol=1e-6)

  def test_the_penalty_gradient_lowers_other_actions(self):
    # d/dQ of penalty = softmax(Q) - onehot(a): Q = [0, 0], a = 1:
    # [0.5, -0.5]: descent lowers Q(s, 0) and raises Q(s, 1).
    grad = jax.grad(lambda q: cql.penalty(q[None], q[1:2], 1.0)[0])(
        jnp.zeros(2))
    np.testing.assert_allclose(grad, [0.5, -0.5], rtol=1e-6)

  def test_lagrange_loss_by_hand(self):
    # alpha' = exp(log 2) = 2, gap = 3: loss = -2 * 3 = -6; its gradient
    # in log alpha' is -alpha' * gap = -6 (descent raises alpha').
    loss, grad = jax.value_and_grad(cql.lagrange_loss)(
        jnp.log(2.0), jnp.float32(3.0))
    np.testing.assert_allclose([loss, grad], [-6.0, -6.0], rtol=1e-6)
    # Clipped at MAX_LAGRANGE.
    np.testing.assert_allclose(cql.lagrange_weight(jnp.float32(100.0)),
                               cql.MAX_LAGRANGE)


def continuous_settings(**overrides):
  values = dict(actor_hidden_sizes=(8,), critic_hidden_sizes=(8,),
                num_action_samples=3, batch_size=4, total_env_steps=10)
  values.update(overrides)
  return cql.Settings(**values)


def hparams(**overrides):
  hp = cql.HParams()._replace(**overrides)
  return jax.tree.map(jnp.float32, hp)


def batch_for(spec, key, n=4):
  keys = jax.random.split(key, 3)
  obs = jax.random.normal(keys[0], (n,) + spec.obs_shape)
  if spec.discrete:
    action = jax.random.randint(keys[1], (n,), 0, spec.num_actions)
  else:
    action = jax.random.uniform(keys[1], (n,) + spec.action_shape,
                                minval=-1.0, maxval=1.0)
  return haikurl.Transition(
      obs=obs, action=action, reward=jax.random.normal(keys[2], (n,)),
      discount=jnp.ones((n,)), terminated=jnp.zeros((n,), bool),
      truncated=jnp.zeros((n,), bool), next_obs=obs + 0.1, extras=())


def test_sampled_candidates_subtract_the_proposals_log_density():
  # With a critic that is 0 everywhere, every candidate is minus its
  # proposal's log-density: log 2 for the uniform ones (density 1/2 on
  # [-1, 1]), -log pi(a|s) for the policy's.
  spec = envs.make("gymnax:Pendulum-v1", 1).spec
  settings = continuous_settings()
  parts = sac.make_parts(settings, spec)
  state = parts.init(jax.random.key(0), hparams())
  zero_critic = jax.tree.map(jnp.zeros_like, state.critic)
  batch = batch_for(spec, jax.random.key(1))
  candidates = cql.sampled_candidates(parts, zero_critic, state.actor, batch,
                                      jax.random.key(2), 3, 1)
  assert candidates.shape == (2, 4, 9)              # [critics, N, 3K]
  np.testing.assert_allclose(candidates[:, :, :3], np.log(2.0), rtol=1e-6)
  assert np.all(np.isfinite(candidates))
  # The policy's samples carry no gradient into the actor.
  grad = jax.grad(lambda actor: jnp.sum(cql.sampled_candidates(
      parts, zero_critic, actor, batch, jax.random.key(2), 3, 1)))(
          state.actor)
  assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grad))


@pytest.mark.parametrize("target_gap,direction", [(-100.0, 1), (100.0, -1)])
def test_lagrange_multiplier_follows_the_gap(target_gap, direction):
  # Penalty above the target (gap -100): alpha' grows; below: it shrinks.
  spec = envs.make("gymnax:Pendulum-v1", 1).spec
  agent = cql.make(continuous_settings(lagrange=True), spec)
  hp = hparams(target_action_gap=target_gap, lagrange_learning_rate=1e-2)
  state = agent.init(jax.random.key(0), hp)
  new, metrics = jax.jit(agent.learn)(state, batch_for(spec,
                                                      jax.random.key(1)),
                                      jax.random.key(2), hp)
  change = float(new.log_lagrange - state.log_lagrange)
  assert np.sign(change) == direction
  np.testing.assert_allclose(metrics["train/cql_alpha"], 1.0, rtol=1e-6)
  for name in ("actor", "critic", "log_alpha"):
    assert not np.allclose(jax.tree.leaves(getattr(new, name))[0],
                           jax.tree.leaves(getattr(state, name))[0]), name
  for name, value in metrics.items():
    assert np.isfinite(value), name


def test_discrete_learn_step_adds_the_penalty_to_dqns_loss():
  spec = envs.make("gymnax:CartPole-v1", 1).spec
  settings = cql.Settings(hidden_sizes=(8,), batch_size=4, total_env_steps=10)
  agent = cql.make(settings, spec)
  batch = batch_for(spec, jax.random.key(1))
  losses = {}
  for alpha in (0.0, 2.0):
    hp = hparams(cql_alpha=alpha)
    state = agent.init(jax.random.key(0), hp)
    new, metrics = jax.jit(agent.learn)(state, batch, jax.random.key(2), hp)
    losses[alpha] = metrics
    assert int(new.num_updates) == 1
  # loss/td (DQN's mean loss) grows by alpha * the mean penalty.
  np.testing.assert_allclose(
      losses[2.0]["loss/td"] - losses[0.0]["loss/td"],
      2.0 * losses[2.0]["train/cql_penalty"], rtol=1e-5)
  np.testing.assert_allclose(losses[2.0]["loss/cql"],
                             2.0 * losses[2.0]["train/cql_penalty"], rtol=1e-6)


def uniform(obs, key):
  """Actions 0 and 1 in alternate envs: exactly half the dataset each."""
  del key
  return jnp.arange(obs.shape[0], dtype=jnp.int32) % 2


def test_uniform_data_of_a_probe_gives_the_better_action(tmp_path):
  # probe:action_reward, uniform data: Q(s, 1) - Q(s, 0) stays positive
  # under the penalty (it pushes both towards their dataset frequency,
  # equal here), so the greedy action is 1 and the return 1.
  path = testing.write_dataset(str(tmp_path / "uniform-v0"),
                               "probe:action_reward", uniform, 64)
  config = testing.tiny(cql_config.get_config("CartPole-v1"),
                        env="probe:action_reward", dataset=path,
                        iterations=300, hidden=32, batch_size=64,
                        learning_rate=3e-3, tau=0.05)
  with config.unlocked():
    config.num_eval_episodes = 4
  _, _, metrics = testing.run(config,
                              callbacks={"eval": evaluation.evaluate})
  np.testing.assert_allclose(metrics["eval/episode_return"][-1], 1.0)
  assert metrics["train/cql_penalty"][-1] > 0


def test_lagrange_on_discrete_actions_is_one_line(tmp_path):
  path = testing.write_dataset(str(tmp_path / "u-v0"), "probe:action_reward",
                               uniform, 4)
  config = testing.tiny(cql_config.get_config("CartPole-v1"),
                        env="probe:action_reward", dataset=path,
                        lagrange=True)
  with pytest.raises(ValueError, match="lagrange is for continuous") as e:
    haikurl.make_train(config)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", cql_config.PRESETS)
def test_presets_resolve(name):
  config = cql_config.get_config(name)
  assert config.agent.name == "cql" and config.dataset is None


def test_bc_warmup_actor_ignores_q_then_follows_it():
  # During the warm-up the actor's step does not depend on the critics (it
  # maximises log pi(a_data | s)); after it, it does (SAC's objective).
  spec = envs.make("gymnax:Pendulum-v1", 1).spec
  agent = cql.make(continuous_settings(bc_warmup_steps=1), spec)
  hp = hparams()
  state = agent.init(jax.random.key(0), hp)
  batch = batch_for(spec, jax.random.key(1))
  other = state._replace(critic=jax.tree.map(lambda x: 3.0 * x + 0.1,
                                             state.critic))
  learn = jax.jit(agent.learn)
  actors = [learn(s, batch, jax.random.key(2), hp)[0].actor
            for s in (state, other)]
  chex.assert_trees_all_equal(*actors)          # step 0: in the warm-up
  later = [s._replace(num_updates=jnp.ones((), jnp.int32))
           for s in (state, other)]
  actors = [learn(s, batch, jax.random.key(2), hp)[0].actor for s in later]
  # (Adam's first step is lr * sign(g): the critics change it slightly.)
  assert any(not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(actors[0]), jax.tree.leaves(actors[1])))


@pytest.mark.parametrize("deterministic", [True, False])
def test_deterministic_backup_leaves_the_temperature_out_of_the_target(
    deterministic):
  # The critics' step depends on SAC's temperature only through the soft
  # target's entropy term: without it (CQL's D4RL setting) two temperatures
  # give bitwise the same critics.
  spec = envs.make("gymnax:Pendulum-v1", 1).spec
  agent = cql.make(continuous_settings(deterministic_backup=deterministic),
                   spec)
  hp = hparams()
  state = agent.init(jax.random.key(0), hp)
  batch = batch_for(spec, jax.random.key(1))
  learn = jax.jit(agent.learn)
  critics = [learn(s, batch, jax.random.key(2), hp)[0].critic
             for s in (state, state._replace(log_alpha=state.log_alpha + 2.0))]
  same = all(np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(critics[0]), jax.tree.leaves(critics[1])))
  assert same == deterministic


@pytest.mark.parametrize("decay", ["cosine", "constant"])
def test_cosine_actor_decay_stops_the_actor_at_the_end_of_the_run(decay):
  # With actor_decay="cosine" the actor's rate reaches 0 at the run's last
  # gradient step (total_env_steps = 3 here), so a learn call after it
  # leaves the actor where it is while the critics still move; with a
  # constant rate both move.
  spec = envs.make("gymnax:Pendulum-v1", 1).spec
  agent = cql.make(continuous_settings(actor_decay=decay, total_env_steps=3),
                   spec)
  hp = hparams()
  state = agent.init(jax.random.key(0), hp)
  learn = jax.jit(agent.learn)
  for k in range(3):
    state, _ = learn(state, batch_for(spec, jax.random.key(k)),
                     jax.random.key(10 + k), hp)
  after, _ = learn(state, batch_for(spec, jax.random.key(5)),
                   jax.random.key(20), hp)
  moved = lambda a, b: any(not np.array_equal(x, y) for x, y in
                           zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert moved(state.critic, after.critic)
  assert moved(state.actor, after.actor) == (decay == "constant")
