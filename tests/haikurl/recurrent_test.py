"""The actor carry (types.ActorCarry through the loop) and recurrent networks.

- The loop resets the carry exactly where an episode ended (termination or
  truncation), before the next action, and fills in the previous action and
  reward: checked step by step on real CartPole episodes cut by a short time
  limit, with an agent whose carry counts the steps of its episode.
- Unrolling a sequence from its stored carry, resets included, reproduces
  what acting computed (GRU and LSTM, with previous inputs).
- ObservationSubset hides exactly the components it should.
"""
import dataclasses
import types as pytypes
from typing import NamedTuple

import chex
import haiku as hk
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from haikurl import loop
from haikurl import recurrent
from haikurl import settings as s
from haikurl import types
from haikurl import envs
from haikurl.types import ActorCarry, Agent


# An agent whose core counts the steps of the current episode; learn keeps
# the last trajectory as its state, so the test can read every step.

@dataclasses.dataclass(frozen=True)
class CounterSettings(s.Settings):
  num_envs: int = s.setting(3, "envs", s.positive_int)
  rollout_length: int = s.setting(7, "steps", s.positive_int)


class CounterHParams(NamedTuple):
  CHECKS = {}


def make_counter(settings, spec):
  def initial_carry(key, num_envs):
    del key
    return jnp.zeros((num_envs,), jnp.int32)

  def act(state, carry, obs, key, hp, evaluation):
    del state, hp, evaluation
    action = jax.random.randint(key, (obs.shape[0],), 0, spec.num_actions)
    return action, carry.core + 1, carry

  def init(key, hp):
    del key, hp
    shape = (settings.rollout_length, settings.num_envs)
    return dict(
        carry=ActorCarry(jnp.zeros(shape, jnp.int32),
                         jnp.zeros(shape, jnp.int32),
                         jnp.zeros(shape, jnp.float32)),
        action=jnp.zeros(shape, jnp.int32), reward=jnp.zeros(shape),
        done=jnp.zeros(shape, bool))

  def learn(state, trajectory, key, hp):
    del state, key, hp
    return dict(carry=trajectory.extras, action=trajectory.action,
                reward=trajectory.reward,
                done=trajectory.terminated | trajectory.truncated), {}

  return Agent(init, act, learn, initial_carry=initial_carry)


COUNTER = pytypes.SimpleNamespace(Settings=CounterSettings,
                                  HParams=CounterHParams, make=make_counter)


def test_the_loop_resets_the_carry_exactly_at_episode_ends():
  from configs import ppo  # pylint: disable=g-import-not-at-top
  config = ppo.get_config("CartPole-v1")
  with config.unlocked():
    config.agent = dict(name="counter")
    # A time limit of 12 with random actions: episodes end by termination
    # (the pole falls) and by truncation.
    config.env_kwargs.max_steps_in_episode = 12
    config.total_env_steps = 21
    config.eval_every = 21
  train = loop.make_train(config, agent=COUNTER, callbacks={})
  state = train.init(jax.random.key(0))
  iteration = jax.jit(train._iteration)  # pylint: disable=protected-access
  steps = []
  for _ in range(12):
    state, _ = iteration(state, train.default_hparams)
    steps.append(jax.device_get(state.agent_state))
  cat = lambda f: np.concatenate([f(x) for x in steps])
  core = cat(lambda x: x["carry"].core)
  prev_action = cat(lambda x: x["carry"].prev_action)
  prev_reward = cat(lambda x: x["carry"].prev_reward)
  action, reward, done = (cat(lambda x, k=k: x[k])
                          for k in ("action", "reward", "done"))
  ended = np.concatenate([np.ones((1, 3), bool), done[:-1]])
  expected = np.zeros_like(core)
  for t in range(1, len(core)):
    expected[t] = np.where(ended[t], 0, expected[t - 1] + 1)
  np.testing.assert_array_equal(core, expected)
  np.testing.assert_array_equal(prev_action[1:],
                                np.where(ended[1:], 0, action[:-1]))
  np.testing.assert_array_equal(prev_reward[1:],
                                np.where(ended[1:], 0.0, reward[:-1]))
  assert done.sum() >= 6 and core.max() == 11  # both kinds of end happened
  # The episode lengths the counter saw are those the env reported.
  assert (core[done] + 1 <= 12).all()


def test_a_feed_forward_agent_carries_nothing():
  from configs import ppo  # pylint: disable=g-import-not-at-top
  from haikurl import testing  # pylint: disable=g-import-not-at-top
  train = loop.make_train(testing.tiny(ppo.get_config()), callbacks={})
  state = train.init(jax.random.key(0))
  assert state.actor_carry == ()
  assert not jax.tree.leaves(state.actor_carry)


class _Settings(NamedTuple):
  core: str
  core_size: int = 8
  previous_inputs: bool = True
  static_unroll: bool = False
  unroll_steps: int = 4  # dynamic_unroll's scan unroll (4 does not divide 6)
  fused_gru: bool = False
  hidden_sizes: tuple = (8,)
  activation: str = "relu"


class UnrollTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(
      dict(core="gru", static_unroll=False, fused_gru=True),
      dict(core="gru", static_unroll=False, fused_gru=False),
      dict(core="gru", static_unroll=True, fused_gru=False),
      dict(core="lstm", static_unroll=False, fused_gru=False),
      dict(core="lstm", static_unroll=True, fused_gru=False))
  def test_unrolling_from_the_stored_carry_reproduces_acting(
      self, core, static_unroll, fused_gru):
    spec = envs.make("gymnax:CartPole-v1").spec
    settings = _Settings(core=core, static_unroll=static_unroll,
                         fused_gru=fused_gru)
    head = lambda x: jax.nn.tanh(x[:, :2])
    net = recurrent.make(settings, spec, head)
    params = net.init(jax.random.key(0))
    t_len, b = 6, 3
    key = jax.random.key(1)
    obs = jax.random.normal(key, (t_len, b, 4))
    action = jax.random.randint(jax.random.key(2), (t_len, b), 0, 2)
    reward = jax.random.uniform(jax.random.key(3), (t_len, b))
    first = jnp.zeros((t_len, b), bool).at[2, 0].set(True).at[4, 2].set(True)
    # Act step by step, resetting the carry where an episode began.
    fresh = types.initial_carry(
        Agent(None, None, None, lambda key, n: net.initial_state(n)), None,
        b, spec)
    carry, stored, outs = fresh, [], []
    for t in range(t_len):
      carry = types.reset_where(first[t], fresh, carry)
      stored.append(carry)
      out, core_state = net.step(params, carry, obs[t])
      outs.append(out)
      carry = ActorCarry(core_state, action[t], reward[t])
    stored = jax.tree.map(lambda *x: jnp.stack(x), *stored)
    inputs = recurrent.SequenceInputs(obs, stored.prev_action,
                                      stored.prev_reward, first)
    start = jax.tree.map(lambda x: x[0], stored.core)
    out, cores = self.variant(net.unroll)(params, start, inputs)
    np.testing.assert_allclose(out, jnp.stack(outs), rtol=1e-5, atol=1e-6)
    # The unroll's state after step t is the stored carry of step t + 1
    # wherever no episode began there.
    after = jax.tree.map(lambda x: x[:-1], cores)
    before = jax.tree.map(lambda x: x[1:], stored.core)
    keep = ~first[1:]
    for a, c in zip(jax.tree.leaves(after), jax.tree.leaves(before)):
      np.testing.assert_allclose(a[keep], c[keep], rtol=1e-5, atol=1e-6)


class FusedGRUTest(chex.TestCase):
  """`recurrent.gru_unroll` is hk.GRU under hk.ResetCore and
  hk.dynamic_unroll: same outputs and same gradients (its backward pass is
  hand-written), resets inside the sequence and at t = 0 included."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(1, 4)
  def test_values_and_gradients_equal_haiku_gru(self, unroll):
    t_len, b, f, h = 9, 3, 5, 7
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (t_len, b, f))
    h0 = jax.random.normal(keys[1], (b, h))
    first = (jnp.zeros((t_len, b), bool).at[0, 1].set(True)
             .at[3, 0].set(True).at[4, 0].set(True).at[8, 2].set(True))
    weights = jax.random.normal(keys[2], (t_len, b, h))

    def reference(x, h0):
      core = hk.ResetCore(hk.GRU(h, name="gru"))
      return hk.dynamic_unroll(core, (x, first), h0)[0]

    ref = hk.without_apply_rng(hk.transform(reference))
    params = ref.init(jax.random.key(3), x, h0)
    # Non-zero biases, so their gradient is checked through a real value.
    params = {"gru": dict(params["gru"],
                          b=0.3 * jax.random.normal(keys[3], (3 * h,)))}

    def fused(params, x, h0):
      p = params["gru"]
      return recurrent.gru_unroll(x, first, h0, p["w_i"], p["w_h"], p["b"],
                                  unroll)

    def loss(fn):
      return lambda params, x, h0: jnp.sum(jnp.sin(fn(params, x, h0))
                                           * weights)

    np.testing.assert_allclose(self.variant(fused)(params, x, h0),
                               ref.apply(params, x, h0), rtol=1e-5, atol=1e-6)
    got = self.variant(jax.grad(loss(fused), argnums=(0, 1, 2)))(params, x, h0)
    want = jax.grad(loss(ref.apply), argnums=(0, 1, 2))(params, x, h0)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      self.assertGreater(float(jnp.max(jnp.abs(w))), 1e-3)
      np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    # The state before step 0 of sequence 1 is reset: no gradient reaches it.
    np.testing.assert_array_equal(got[2][1], 0.0)

  def test_vmapped_equals_solo(self):
    t_len, b, f, h = 6, 2, 3, 4
    keys = jax.random.split(jax.random.key(1), 5)
    x = jax.random.normal(keys[0], (2, t_len, b, f))
    first = jax.random.bernoulli(keys[1], 0.3, (2, t_len, b))
    h0 = jax.random.normal(keys[2], (2, b, h))
    w_i = jax.random.normal(keys[3], (2, f, 3 * h))
    w_h = jax.random.normal(keys[4], (2, h, 3 * h))
    bias = jnp.zeros((2, 3 * h))
    grad = jax.grad(lambda *a: jnp.sum(recurrent.gru_unroll(*a) ** 2),
                    argnums=(3, 4))
    both = jax.vmap(grad)(x, first, h0, w_i, w_h, bias)
    for m in range(2):
      solo = grad(x[m], first[m], h0[m], w_i[m], w_h[m], bias[m])
      for v, o in zip(both, solo):
        np.testing.assert_allclose(v[m], o, rtol=1e-5, atol=1e-6)


def test_first_steps_follow_episode_ends_and_never_t0():
  terminated = jnp.array([[1, 0], [0, 0], [0, 1]], bool)
  truncated = jnp.array([[0, 0], [0, 1], [0, 0]], bool)
  traj = pytypes.SimpleNamespace(terminated=terminated, truncated=truncated)
  np.testing.assert_array_equal(
      recurrent.first_steps(traj), [[0, 0], [1, 0], [0, 1]])


def test_observation_subset_hides_the_velocities():
  full = envs.make("gymnax:CartPole-v1", 4)
  part = envs.make("gymnax:CartPole-v1", 4, observation_indices=(0, 2))
  assert part.spec.obs_shape == (2,)
  _, ts_full = full.reset(jax.random.key(0))
  _, ts_part = part.reset(jax.random.key(0))
  np.testing.assert_array_equal(ts_part.observation,
                                ts_full.observation[:, [0, 2]])
  raw = jnp.arange(8.0).reshape(2, 4)
  np.testing.assert_array_equal(part.observe(None, raw), raw[:, [0, 2]])
  with pytest.raises(ValueError, match="observation_indices"):
    envs.make("gymnax:CartPole-v1", 1, observation_indices=(0, 4))
