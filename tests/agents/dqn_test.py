"""DQN: loss rules on hand-computed cases, one learn step, validation, learning."""
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import config_dict

import haikurl
from agents import dqn
from configs import dqn as dqn_config
from haikurl import settings as settings_lib
from haikurl import networks
from haikurl import testing
from haikurl.types import EnvSpec, Transition
from tests import presets


def settings_and_hparams(preset="CartPole-v1,dqn", total_env_steps=10_000,
                         **overrides):
  config = dqn_config.get_config(preset)
  for name, value in overrides.items():
    config.agent[name] = value
  return settings_lib.split(config.agent, dqn,
                           total_env_steps=total_env_steps)


def make_loss(settings):
  """The default loss hook as a function of (out_tm1, a_tm1, r_t,
  discount_t, out_t, selector_t): online outputs at tm1 and t (the
  selector), target outputs at t."""
  hook = dqn.default_loss(settings)
  def loss(out_tm1, a_tm1, r_t, discount_t, out_t, selector_t):
    q = dqn.QOutputs(online_tm1=out_tm1, online_t=selector_t,
                     target_tm1=None, target_t=out_t)
    batch = Transition(obs=None, action=a_tm1, reward=r_t,
                       discount=discount_t, terminated=None, truncated=None,
                       next_obs=None, extras=())
    return hook(q, batch, None, settings)
  return loss


def cartpole_spec():
  return haikurl.envs.make("gymnax:CartPole-v1", 1).spec


def q_out(q):
  return networks.QValues(jnp.asarray([q], jnp.float32))


class QLossTest(chex.TestCase):
  """The per-example rules, with implicit rank promotion an error."""

  def setUp(self):
    super().setUp()
    self.enter_context(jax.numpy_rank_promotion("raise"))

  @parameterized.parameters((True, 1.5, 2.0), (False, 4.5, 5.0))
  def test_double_q_takes_the_online_argmax(self, double_q, loss, td_abs):
    # q_tm1 = [1, 2], a = 0, r = 1, discount = 0.5, target net q_t = [10, 4],
    # online net q_t = [0, 3] (argmax 1).
    # Double Q: target = 1 + 0.5 * q_target[argmax online = 1] = 1 + 2 = 3,
    #   td = 3 - 1 = 2, Huber(2) = 0.5 + (2 - 1) = 1.5.
    # Plain Q: target = 1 + 0.5 * max q_target = 1 + 5 = 6, td = 5,
    #   Huber(5) = 0.5 + 4 = 4.5.
    settings, _ = settings_and_hparams(double_q=double_q, loss="huber")
    loss_fn = make_loss(settings)
    got, priority = loss_fn(q_out([1., 2.]), jnp.array([0]), jnp.array([1.]),
                            jnp.array([0.5]), q_out([10., 4.]), q_out([0., 3.]))
    np.testing.assert_allclose(got, [loss])
    np.testing.assert_allclose(priority, [td_abs])

  def test_l2_loss(self):
    # Same case, double Q, L2: 0.5 * td^2 = 0.5 * 2^2 = 2.
    settings, _ = settings_and_hparams(loss="l2")
    got, _ = make_loss(settings)(
        q_out([1., 2.]), jnp.array([0]), jnp.array([1.]), jnp.array([0.5]),
        q_out([10., 4.]), q_out([0., 3.]))
    np.testing.assert_allclose(got, [2.0])

  @parameterized.parameters((0.5, 1.0, 0.948560), (2.0, 1.0, 0.693147))
  def test_c51_projection(self, r_t, discount_t, loss):
    # Atoms [0, 1, 2]. The target net puts all mass of the selected action on
    # atom 1. With r = 0.5, discount = 1: Tz = 1.5, projected half on atom 1,
    # half on atom 2: target p = [0, 0.5, 0.5]. The online distribution of
    # a_tm1 is [0.2, 0.3, 0.5], so the cross-entropy is
    # -(0.5 ln 0.3 + 0.5 ln 0.5) = 0.5 * (1.203973 + 0.693147) = 0.948560.
    # With r = 2: Tz = 3, clipped to v_max = 2: p = [0, 0, 1], loss = -ln 0.5.
    settings, _ = settings_and_hparams(distributional="c51", num_atoms=3,
                                       v_min=0.0, v_max=2.0)
    atoms = jnp.array([0., 1., 2.])
    logits_tm1 = jnp.log(jnp.array([[[0.2, 0.3, 0.5], [1., 1., 1.]]]))
    logits_t = jnp.array([[[0., 0., 0.], [-1e9, 0., -1e9]]])  # action 1: atom 1
    out_tm1 = networks.CategoricalQ(jnp.zeros((1, 2)), logits_tm1, atoms)
    out_t = networks.CategoricalQ(jnp.zeros((1, 2)), logits_t, atoms)
    selector = networks.CategoricalQ(jnp.array([[0., 1.]]), logits_t, atoms)
    got, priority = make_loss(settings)(
        out_tm1, jnp.array([0]), jnp.array([r_t]), jnp.array([discount_t]),
        out_t, selector)
    np.testing.assert_allclose(got, [loss], rtol=1e-5)
    np.testing.assert_allclose(priority, got)

  def test_quantile_loss(self):
    # Two quantiles, tau = [0.25, 0.75]; predicted quantiles of a_tm1 = 0 are
    # [0, 2]; target net quantiles of the selected action are [0, 2], r = 1,
    # discount = 0.5: targets [1, 2]. L1 quantile loss (huber 0), each
    # prediction averaged over targets, summed over predictions:
    #   pred 0, tau .25: u = [1, 2] >= 0, weight .25: (.25 + .5) / 2 = .375
    #   pred 2, tau .75: u = [-1, 0]: -1 < 0 weight .25 -> .25; 0 -> 0: .125
    #   total = .5
    settings, _ = settings_and_hparams(distributional="qr", num_atoms=2,
                                       loss="l2")
    tau = jnp.array([0.25, 0.75])
    dist_tm1 = jnp.array([[[0., 5.], [2., 5.]]])            # [B, N, A]
    dist_t = jnp.array([[[0., -3.], [2., -3.]]])
    out_tm1 = networks.QuantileQ(jnp.mean(dist_tm1, 1), dist_tm1, tau)
    out_t = networks.QuantileQ(jnp.mean(dist_t, 1), dist_t, tau)
    got, _ = make_loss(settings)(
        out_tm1, jnp.array([0]), jnp.array([1.]), jnp.array([0.5]), out_t,
        out_t)
    np.testing.assert_allclose(got, [0.5], rtol=1e-6)


def random_trajectory(spec, num_steps, num_envs, key):
  """A [T, B] trajectory of a real env under random actions."""
  env = haikurl.envs.make(spec.name, num_envs)
  reset_key, key = jax.random.split(key)
  env_state, timestep = env.reset(reset_key)

  def step(carry, key):
    env_state, timestep = carry
    action_key, step_key = jax.random.split(key)
    action = jax.random.randint(action_key, (num_envs,), 0, spec.num_actions)
    obs = timestep.observation
    env_state, timestep = env.step(env_state, action, step_key)
    return (env_state, timestep), Transition(
        obs, action, timestep.reward, timestep.discount, timestep.terminated,
        timestep.truncated, timestep.next_observation, ())

  _, trajectory = jax.lax.scan(step, (env_state, timestep),
                               jax.random.split(key, num_steps))
  return trajectory


class LearnStepTest(parameterized.TestCase):

  @parameterized.parameters("", "rainbow", "qr")
  def test_target_moves_only_at_its_period_and_online_params_move(
      self, variant):
    preset = "CartPole-v1," + (variant or "dqn")
    settings, hp = settings_and_hparams(
        preset, num_envs=4, rollout_length=8, replay_ratio=1 / 32,
        learning_starts=0, batch_size=16, buffer_size=256, target_period=3)
    hp = hp._replace(tau=jnp.float32(1.0))                # hard copy
    spec = cartpole_spec()
    agent = dqn.make(settings, spec)
    state = agent.init(jax.random.key(0), hp)
    learn = jax.jit(agent.learn)
    trajectory = random_trajectory(spec, 8, 4, jax.random.key(1))
    # flashbax broadcasts by rank promotion: no "raise" scope around learn.
    for step in range(1, 4):
      previous = state
      state, metrics = learn(state, trajectory, jax.random.key(step), hp)
      self.assertEqual(int(state.num_updates), step)    # one update each
      for name, value in metrics.items():
        self.assertTrue(np.isfinite(value), name)
      # Online parameters move at every gradient step.
      moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                           state.params, previous.params)
      self.assertTrue(all(jax.tree.leaves(moved)))
      if step < 3:
        chex.assert_trees_all_equal(state.target_params,
                                    previous.target_params)
      else:  # period 3 with tau = 1: the target becomes the online net
        chex.assert_trees_all_equal(state.target_params, state.params)
    self.assertEqual(int(state.env_steps), 3 * 32)

  def test_no_learning_and_random_actions_before_learning_starts(self):
    settings, hp = settings_and_hparams(num_envs=4, rollout_length=8,
                                        learning_starts=64, batch_size=16)
    spec = cartpole_spec()
    agent = dqn.make(settings, spec)
    state = agent.init(jax.random.key(0), hp)
    trajectory = random_trajectory(spec, 8, 4, jax.random.key(1))
    new_state, metrics = jax.jit(agent.learn)(state, trajectory,
                                              jax.random.key(2), hp)
    chex.assert_trees_all_equal(new_state.params, state.params)
    self.assertEqual(int(new_state.num_updates), 0)
    self.assertEqual(float(metrics["train/epsilon"]), 1.0)
    # Varied observations on which the untrained net prefers either action.
    obs = 3.0 * jax.random.normal(jax.random.key(4), (4000,) + spec.obs_shape)
    q = dqn.make_network(settings, spec).apply(new_state.params, obs).q_values
    greedy, _ = agent.act(new_state, obs, jax.random.key(3), hp, True)
    np.testing.assert_array_equal(greedy, jnp.argmax(q, axis=-1))
    greedy = np.asarray(greedy)
    self.assertGreater(min(np.sum(greedy == 0), np.sum(greedy == 1)), 200)
    # With epsilon 1, actions are uniform whatever the Q-values: about half
    # are 1 among the states whose greedy action is 0, and among the others
    # (within 4 standard errors, 4 * 0.5 / sqrt(200) = 0.14).
    actions, _ = agent.act(new_state, obs, jax.random.key(3), hp, False)
    actions = np.asarray(actions)
    for a in (0, 1):
      self.assertAlmostEqual(np.mean(actions[greedy == a]), 0.5, delta=0.14)


class ConnectingCodeTest(parameterized.TestCase):
  """The code between the buffer and the loss: which next_obs an n-step
  window bootstraps from, and the priorities written back."""

  def test_n_step_bootstrap_observation_and_priority_write_back(self):
    # A linear Q net without hidden layers, Q(o) = [o, -o] (w = [[1, -1]],
    # b = 0), so each TD error names the observation it bootstrapped from.
    # obs[t, b] = 10 + t + 100 b, the pre-reset next_obs = obs + 0.5 (the
    # next step acts on obs[t + 1] = obs + 1, or on a reset's), a = (t + b)
    # mod 2, r = 0.1 t. Env 0 terminates at t = 5 and is truncated at 10;
    # env 1 is truncated at 3 and terminates at 12. With 3-step windows
    # from t0, double Q and the target net equal to the online one:
    #   j = first step of the window that ended an episode, else 2,
    #   R = sum_{k <= j} 0.99^k r[t0 + k],
    #   d = 0.99^(j + 1) (0 if step t0 + j terminated),
    #   td = R + d * max(Q(next_obs[t0 + j])) - Q(obs[t0])[a[t0]],
    # and the prioritised buffer (exponent 1) holds |td| + 1e-6 for every
    # window the learn step sampled.
    n, steps, batch, gamma = 3, 16, 2, 0.99
    settings, hp = settings_and_hparams(
        num_envs=batch, rollout_length=steps, n_step=n, prioritised=True,
        priority_exponent=1.0, hidden_sizes=(), learning_starts=0,
        batch_size=32, buffer_size=64, replay_ratio=1 / 32, dueling=False,
        distributional="none", loss="l2", double_q=True)
    hp = hp._replace(discount=jnp.float32(gamma))
    spec = testing.make_probe("one_step").spec          # obs [1], 2 actions
    agent = dqn.make(settings, spec)
    state = agent.init(jax.random.key(0), hp)
    params = jax.tree.map(
        lambda x: (jnp.array([[1.0, -1.0]]) if x.ndim == 2
                   else jnp.zeros_like(x)), state.params)
    state = state._replace(params=params, target_params=params)
    t = np.arange(steps)[:, None] + np.zeros((1, batch))
    b = np.zeros((steps, 1)) + np.arange(batch)[None]
    obs = 10.0 + t + 100.0 * b
    terminated = np.zeros((steps, batch), bool)
    truncated = np.zeros((steps, batch), bool)
    terminated[5, 0] = terminated[12, 1] = True
    truncated[10, 0] = truncated[3, 1] = True
    action = ((t + b) % 2).astype(np.int32)
    reward = 0.1 * t
    trajectory = haikurl.Transition(
        obs=jnp.asarray(obs[..., None], jnp.float32),
        action=jnp.asarray(action), reward=jnp.asarray(reward, jnp.float32),
        discount=jnp.asarray(1.0 - terminated, jnp.float32),
        terminated=jnp.asarray(terminated), truncated=jnp.asarray(truncated),
        next_obs=jnp.asarray(obs[..., None] + 0.5, jnp.float32), extras=())
    new_state, _ = jax.jit(agent.learn)(state, trajectory, jax.random.key(1),
                                        hp)
    self.assertEqual(int(new_state.num_updates), 1)

    from flashbax.buffers import sum_tree  # pylint: disable=g-import-not-at-top
    tree = new_state.buffer.sum_tree_state
    max_length = 64 // batch                 # time steps per env row
    expected, ends_inside, got = {}, set(), {}
    for env in range(batch):
      for t0 in range(steps - n + 1):
        done = terminated[t0:t0 + n, env] | truncated[t0:t0 + n, env]
        j = int(np.argmax(done)) if done.any() else n - 1
        ret = sum(gamma**k * reward[t0 + k, env] for k in range(j + 1))
        d = gamma**(j + 1) * (0.0 if terminated[t0 + j, env] else 1.0)
        q_t = obs[t0 + j, env] + 0.5            # max(o, -o) for o > 0
        q_tm1 = obs[t0, env] * (1.0 if action[t0, env] == 0 else -1.0)
        expected[(env, t0)] = abs(ret + d * q_t - q_tm1) + 1e-6
        if j < n - 1:
          ends_inside.add((env, t0, bool(terminated[t0 + j, env])))
        got[(env, t0)] = float(sum_tree.get(tree, env * max_length + t0))
    untouched = float(sum_tree.get(state.buffer.sum_tree_state, 0)) or 1.0
    written = {k for k, v in got.items() if v != untouched}
    self.assertGreater(len(written), 8)
    for key in written:
      self.assertAlmostEqual(got[key], expected[key], delta=1e-4 *
                             expected[key], msg=key)
    # The windows written include ones cut by a termination and by a
    # truncation inside the window (where a wrong index would show).
    kinds = {term for env, t0, term in ends_inside if (env, t0) in written}
    self.assertEqual(kinds, {True, False})


class ValidateTest(parameterized.TestCase):

  def test_continuous_actions_are_refused_with_a_suggestion(self):
    settings, _ = settings_and_hparams()
    spec = EnvSpec("gymnax:Pendulum-v1", (3,), jnp.float32, None, (1,),
                   np.array([-2.]), np.array([2.]), 200)
    with self.assertRaisesRegex(ValueError, "discrete actions.*SAC or TD3"):
      dqn.validate(settings, spec)

  def test_batch_larger_than_buffer_is_refused(self):
    # Checked when the Settings record is built, before any agent code.
    with self.assertRaisesRegex(ValueError, "batch_size=512.*buffer_size"):
      settings_and_hparams(batch_size=512, buffer_size=256)

  def test_fractional_updates_per_learn_are_refused(self):
    # 1 * 1 * 0.5 = half a gradient step per learn call: refused, not rounded.
    with self.assertRaisesRegex(ValueError, "0.5 must be a positive whole"):
      settings_and_hparams(num_envs=1, rollout_length=1, replay_ratio=0.5)

  def test_unknown_torso_init_is_refused_with_the_known_ones(self):
    config = dqn_config.get_config("CartPole-v1")
    config.agent.torso_init = "xavier"
    with self.assertRaisesRegex(ValueError, "torso_init must be one of.*"
                                "orthogonal.*lecun.*xavier"):
      haikurl.agent_settings(config)
    with self.assertRaisesRegex(ValueError, "torso_init.*orthogonal.*lecun"):
      haikurl.make_train(config)

  def test_learning_starts_beyond_the_run_is_refused(self):
    with self.assertRaisesRegex(ValueError, "learning_starts=20,000 is not "
                                "below the run's 10,000 env steps"):
      settings_and_hparams(learning_starts=20_000, total_env_steps=10_000)

  @parameterized.parameters(("orthogonal", 2.0), ("lecun", 1.0))
  def test_torso_init(self, init, gain):
    # 256 x 256 hidden layer. orthogonal(sqrt 2): W^T W = 2 I exactly.
    # lecun: i.i.d. entries of variance 1 / fan_in = 1/256 (flax's
    # lecun_normal, a truncated normal rescaled to keep that variance), so
    # the mean of diag(W^T W) is 1 within a few 1/sqrt(256 * 256) and the
    # off-diagonal entries are ~N(0, 1/256).
    settings, _ = settings_and_hparams(torso_init=init, hidden_sizes=(256, 256))
    net = dqn.make_network(settings, cartpole_spec())
    params = net.init(jax.random.key(0), jnp.zeros((1, 4), jnp.float32))
    w = np.asarray(params["torso/mlp/~/linear_1"]["w"], np.float64)
    gram = w.T @ w
    if init == "orthogonal":
      np.testing.assert_allclose(gram, gain * np.eye(256), atol=1e-4)
    else:
      self.assertAlmostEqual(np.mean(np.diag(gram)), gain, delta=0.03)
      # Truncated at two standard deviations of the underlying normal,
      # whose stddev is (1/16) / 0.8796 (the truncation's correction).
      self.assertLess(np.abs(w).max(), 2 * (1 / 16) / 0.87962566 + 1e-6)
      off = gram[~np.eye(256, dtype=bool)]
      self.assertAlmostEqual(np.std(off), 1 / np.sqrt(256), delta=0.01)

  def test_cartpole_tuning_stays_on_cartpole(self):
    # A variant elsewhere adds its option to the env's own preset; the
    # rates, buffers, targets and lengths tuned on CartPole stay there.
    for env in ("Acrobot-v1", "Breakout-MinAtar"):
      preset = dqn_config.get_config(env)
      for variant in ("dqn", "dueling", "nstep", "qr", "rainbow"):
        config = dqn_config.get_config(f"{env},{variant}")
        for name in ("learning_rate", "buffer_size", "tau", "target_period",
                     "replay_ratio"):
          self.assertEqual(config.agent[name], preset.agent[name],
                           (env, variant, name))
        self.assertEqual(config.total_env_steps, preset.total_env_steps)
    rainbow = dqn_config.get_config("Breakout-MinAtar,rainbow").agent
    self.assertEqual((rainbow.n_step, rainbow.distributional), (3, "c51"))
    self.assertEqual(
        dqn_config.get_config("CartPole-v1,dueling").agent.target_period, 128)

  @parameterized.parameters(*dqn_config.ENVS)
  def test_every_preset_builds(self, env):
    variants = ([""] + list(dqn_config.VARIANTS) + ["fast", "rejax"]
                if env == "CartPole-v1" else ("",))
    for variant in variants:
      config = dqn_config.get_config(f"{env},{variant}" if variant else env)
      before = config.to_json()
      train = haikurl.make_train(config)
      self.assertEqual(config.to_json(), before)       # make_train is pure
      self.assertIsInstance(train.agent, haikurl.Agent)


GAMMA = 0.9


def probe_q_values(env, observations, iterations=50, **overrides):
  """Q(o, .) [N, A] and greedy actions [N] of plain double DQN trained on
  the probe `env` (8 envs x 4 steps x `iterations`, 8 gradient steps of 32
  per learn call, gamma 0.9)."""
  settings = dict(num_envs=8, rollout_length=4, hidden=16,
                  iterations=iterations, buffer_size=1024, batch_size=32,
                  learning_starts=64, replay_ratio=0.25, tau=0.1,
                  discount=GAMMA)
  settings.update(overrides)
  config = testing.tiny(dqn_config.get_config("CartPole-v1,dqn"), env=env,
                        **settings)
  train, state, _ = testing.run(config)
  obs = jnp.asarray(observations, jnp.float32)
  net = dqn.make_network(train.settings, train.env.spec)
  q = np.asarray(net.apply(state.agent_state.params, obs).q_values)
  return q, np.asarray(testing.greedy_actions(train, state, obs))


class ProbeTest(parameterized.TestCase):
  """DQN reaches the probes' closed-form values (haikurl.testing)."""

  def test_two_step_discounts_the_second_reward(self):
    # V(s1) = 1, V(s0) = 0 + 0.9 * 1 = 0.9: max_a Q (the greedy value; the
    # other action's Q is rarely sampled once epsilon is low).
    q, _ = probe_q_values("probe:two_step", [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(q.max(-1), [GAMMA, 1.0], atol=0.1)

  def test_obs_reward_values_follow_the_observation(self):
    # V(+1) = +1, V(-1) = -1 (one step, reward = observation).
    q, _ = probe_q_values("probe:obs_reward", [[1.0], [-1.0]])
    np.testing.assert_allclose(q.max(-1), [1.0, -1.0], atol=0.1)

  def test_action_reward_q_values_and_greedy_action(self):
    # Q(s, 1) = +1, Q(s, 0) = -1: both actions are sampled while exploring.
    q, greedy = probe_q_values("probe:action_reward", [[1.0]])
    np.testing.assert_allclose(q[0], [-1.0, 1.0], atol=0.2)
    np.testing.assert_array_equal(greedy, [1])

  def test_time_limit_bootstraps_through_truncation(self):
    # Reward 1 per step, a constant observation, cut after 5 steps: the
    # true value is 1 / (1 - 0.9) = 10. The same learner on a copy of the
    # probe that reports the limit as a termination must learn
    # 1 / (1 - 0.9 * 4 / 5) = 3.57 instead, so a learner that stopped
    # bootstrapping at truncations would fail the first assertion. (Rate
    # 3e-3 so that the net gets to 10 in time: measured 9.99 and 3.63.)
    probe = testing.TimeLimit(1)
    q, _ = probe_q_values("probe:time_limit", [[1.0]], iterations=100,
                          learning_rate=3e-3)
    np.testing.assert_allclose(q.max(), probe.value(jnp.ones((1, 1)), GAMMA),
                               rtol=0.1)
    q_term, _ = probe_q_values("probe:time_limit", [[1.0]], iterations=100,
                               learning_rate=3e-3,
                               env_kwargs=config_dict.ConfigDict(
                                   dict(as_termination=True)))
    np.testing.assert_allclose(q_term.max(), probe.terminating_value(GAMMA),
                               rtol=0.1)
    self.assertGreater(q.max() - q_term.max(), 4.0)


def eval_returns(preset, total_env_steps, num_seeds=4, **overrides):
  """[num_seeds, periods] evaluation returns of `preset`, seeds vmapped in
  one program (keys split from the config's seed)."""
  config = dqn_config.get_config(preset)
  config.total_env_steps = total_env_steps
  for name, value in overrides.items():
    config.agent[name] = value
  return presets.eval_returns(config, num_seeds)


@pytest.mark.slow
class LearningTest(parameterized.TestCase):
  """CartPole, 4 seeds in one program, within about a minute of CPU each.

  Over several seeds, not one: a single seed's curve is chaotic in float
  rounding, so another CPU (CI's) can draw a different curve from the same
  key (measured: seed 0 of plain DQN peaked at 500 here and at 311 on CI).
  A learner with a broken target or loss stays below ~250 on every seed.
  """

  def test_dqn_reaches_400_on_cartpole(self):
    # Plain double DQN reaches 500 within 65k steps but may fall off again
    # afterwards, so this asserts that most seeds get there (measured, 4
    # seeds: peaks 500, 500, 500, 500; finals 500, 500, 500, 500).
    returns = eval_returns("CartPole-v1,dqn", 65_536)
    self.assertGreaterEqual(np.median(returns.max(axis=1)), 400, returns)
    self.assertGreaterEqual(returns[:, -1].mean(), 300, returns)

  def test_rainbow_solves_cartpole(self):
    # The preset's own length (32,768 steps); measured finals 500, 499, 500,
    # 494 over 4 seeds (XLA's LLVM level 2), 488, 431, 500, 500 (level 1,
    # what the suite compiles at). Four seeds, not two: two of them end at
    # 431-488, too near the bar for another CPU's rounding.
    returns = eval_returns("CartPole-v1,rainbow", 32_768)
    self.assertGreaterEqual(returns[:, -1].mean(), 400, returns)


if __name__ == "__main__":
  import absl.testing.absltest
  absl.testing.absltest.main()
