"""The vision torsos and augmentations in agents: parameter counts by hand,
augmentations jittable and key-deterministic, `torso='auto'` is today's
choice bit for bit, and a PPO agent with the IMPALA torso and DrQ's shift
builds, acts and learns on a MinAtar env."""
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import ppo, ppo_rnn, r2d2
from configs import ppo as ppo_config
from haikurl import augment
from haikurl import networks
from haikurl import testing
from tests import presets
from tests.agents import ppo_test


def _encoder_params_and_features(kind):
  obs = jnp.ones((2, 10, 10, 4))          # MinAtar Breakout: 10 x 10 x 4
  net = hk.without_apply_rng(hk.transform(
      lambda o: networks.encode(o, networks.Encoder(kind, (16, 32, 32), 2))))
  params = net.init(jax.random.key(0), obs)
  return hk.data_structures.tree_size(params), net.apply(params, obs)


def test_impala_parameter_count_and_output_shape_by_hand():
  # A 3x3 conv from c_in to c has 9 c_in c + c parameters. Per section: one
  # conv, then 2 residual blocks of two 3x3 convs c -> c (4 convs):
  #   16 from 4:  9*4*16 + 16 = 592,   4 * (9*16*16 + 16) = 9_280
  #   32 from 16: 9*16*32 + 32 = 4_640, 4 * (9*32*32 + 32) = 36_992
  #   32 from 32: 9*32*32 + 32 = 9_248, 36_992
  # total 97_744; the SAME pools halve 10 -> 5 -> 3 -> 2: 2 * 2 * 32 = 128.
  size, features = _encoder_params_and_features("impala")
  assert size == 592 + 9_280 + 4_640 + 36_992 + 9_248 + 36_992 == 97_744
  chex.assert_shape(features, (2, 128))


def test_resnet_parameter_count_and_output_shape_by_hand():
  # stem 3x3 4 -> 16: 592; stage 0 (stride 1): 2 blocks of 16: 9_280;
  # stage 1 (16 -> 32, stride 2): 1x1 projection 16*32 + 32 = 544, the
  # strided 3x3 conv 4_640, its second conv 9_248, 1 more block 18_496;
  # stage 2 (32 -> 32): projection 32*32 + 32 = 1_056, 9_248, 9_248, 18_496.
  # Total 80_848; strides 10 -> 10 -> 5 -> 3: 3 * 3 * 32 = 288 features.
  size, features = _encoder_params_and_features("resnet")
  assert size == (592 + 9_280 + 544 + 4_640 + 9_248 + 18_496 + 1_056 + 9_248
                  + 9_248 + 18_496) == 80_848
  chex.assert_shape(features, (2, 288))


@pytest.mark.parametrize("kind", ["shift", "color", "shift,color"])
def test_augmentation_is_jittable_and_key_deterministic(kind):
  fn = augment.make(ppo.Settings(augmentation=kind))
  images = jax.random.uniform(jax.random.key(0), (16, 10, 10, 4))
  key = jax.random.key(1)
  eager, jitted = fn(key, images), jax.jit(fn)(key, images)
  np.testing.assert_allclose(eager, jitted, atol=1e-6)
  np.testing.assert_array_equal(jax.jit(fn)(key, images), jitted)  # same key
  other = jax.jit(fn)(jax.random.key(2), images)
  assert not np.array_equal(other, jitted)                       # new draw
  assert jitted.shape == images.shape and jitted.dtype == jnp.float32
  assert np.all((jitted >= 0.0) & (jitted <= 1.0))


def test_sequence_agents_refuse_augmentation_in_one_line():
  for module in (ppo_rnn, r2d2):
    with pytest.raises(ValueError, match="does not augment its sequences"):
      module.Settings(augmentation="shift").check()


def test_image_torso_on_flat_observations_is_refused_before_tracing():
  config = testing.tiny(ppo_config.get_config("CartPole-v1"), torso="impala")
  with pytest.raises(ValueError, match="needs image observations"):
    haikurl.make_train(config)


def _tiny_run(config):
  train = haikurl.make_train(config)
  return jax.device_get(jax.jit(train)(jax.random.key(7)))


@pytest.mark.parametrize("agent,preset,explicit", [
    ("ppo", "Breakout-MinAtar", "minatar_cnn"),
    ("dqn", "CartPole-v1", "mlp")])
def test_auto_torso_is_todays_choice_bit_for_bit(agent, preset, explicit):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{agent}").get_config(preset)
  auto = testing.tiny(config, iterations=2)
  assert auto.agent.torso == "auto" and auto.agent.augmentation == "none"
  runs = [_tiny_run(auto), _tiny_run(testing.tiny(config, iterations=2,
                                                  torso=explicit))]
  chex.assert_trees_all_equal(runs[0][1], runs[1][1])
  chex.assert_trees_all_equal(runs[0][0].agent_state, runs[1][0].agent_state)


def test_every_preset_keeps_the_default_torso_and_no_augmentation():
  for agent in presets.names():
    agent_config = haikurl.complete_config(presets.default_config(agent)).agent
    assert agent_config.torso == "auto", agent
    if "augmentation" in agent_config:
      assert agent_config.augmentation == "none", agent


def test_ppo_with_impala_torso_and_shift_acts_and_learns_on_minatar():
  overrides = dict(torso="impala", augmentation="shift",
                   torso_channels=(4, 8), torso_blocks=1, hidden_sizes=(16,),
                   num_epochs=1)
  presets.check_builds_and_acts(testing.tiny(
      ppo_config.get_config("Breakout-MinAtar"), **overrides))
  env, agent, hp = ppo_test.make_agent("gymnax:Breakout-MinAtar", **overrides)
  state = agent.init(jax.random.key(0), hp)
  assert any("impala" in name for name in state.params), list(state.params)
  traj = ppo_test.collect(env, agent, state, hp)
  new_state, metrics = jax.jit(agent.learn)(state, traj, jax.random.key(5),
                                            hp)
  assert int(new_state.num_updates) == 2       # 1 epoch x 2 minibatches
  assert all(np.isfinite(v) for v in metrics.values())
  moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state.params,
                       new_state.params)
  assert all(jax.tree.leaves(moved))


@pytest.mark.parametrize("agent", ["a2c", "pqn", "iqn", "ppo_rnn", "r2d2",
                                   "dqn", "sac"])
def test_every_torso_taking_agent_builds_the_chosen_torso(agent):
  # Init and act (init only for the recurrent ones; no learning: cheap); the torso's modules are named
  # after it, before the recurrent core for ppo_rnn and r2d2.
  import importlib  # pylint: disable=g-import-not-at-top
  env = "Breakout-MinAtar" if agent != "sac" else None
  module = importlib.import_module(f"configs.{agent}")
  config = module.get_config(env) if env else module.get_config()
  config = testing.tiny(config, env=None if env else "gymnax:Breakout-MinAtar",
                        torso="resnet", torso_channels=(4, 8), torso_blocks=1)
  if agent not in ("ppo_rnn", "r2d2"):    # act takes no carry
    presets.check_builds_and_acts(config)
  train = haikurl.make_train(config)
  state = train.agent.init(jax.random.key(0), train.default_hparams)
  names = [name for name in jax.tree_util.tree_flatten_with_path(
      state)[0] if "resnet" in jax.tree_util.keystr(name[0])]
  assert names, agent


def _shifts_of(image, pad):
  """Every DrQ shift of one [H, W, C] image (edge-replicated), as a list."""
  height, width, _ = image.shape
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
  return [padded[dy:dy + height, dx:dx + width]
          for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]


def test_transition_augmentation_shifts_obs_and_next_obs_with_own_draws():
  from haikurl.types import Transition  # pylint: disable=g-import-not-at-top
  assert augment.make_for_transitions(ppo.Settings()) is None   # 'none'
  fn = augment.make_for_transitions(ppo.Settings(augmentation="shift"))
  images = jax.random.uniform(jax.random.key(1), (16, 10, 10, 4))
  batch = Transition(obs=images, action=jnp.zeros(16, jnp.int32),
                     reward=jnp.arange(16.0), discount=jnp.ones(16),
                     next_obs=images, terminated=jnp.zeros(16, bool),
                     truncated=jnp.zeros(16, bool), extras=())
  out = jax.jit(fn)(jax.random.key(2), batch)
  np.testing.assert_array_equal(out.reward, batch.reward)   # the rest kept
  for n in range(16):      # each a shift of its own image (pad 1 on 10 x 10)
    for aug in (out.obs[n], out.next_obs[n]):
      assert any(np.array_equal(aug, s)
                 for s in _shifts_of(np.asarray(images[n]), 1))
  # obs and next_obs were given the same images but their own draws.
  assert not np.array_equal(out.obs, out.next_obs)


def test_offline_bc_with_impala_torso_and_shift_learns_from_minatar_data(
    tmp_path):
  from configs import bc as bc_config  # pylint: disable=g-import-not-at-top
  path = testing.write_dataset(
      str(tmp_path / "breakout-uniform-v0"), "gymnax:Breakout-MinAtar",
      lambda obs, key: jax.random.randint(key, obs.shape[:1], 0, 3), 4)
  runs = {}
  for kind in ("none", "shift"):
    config = testing.tiny(bc_config.get_config("Breakout-MinAtar"),
                          dataset=path, torso="impala", torso_channels=(4,),
                          torso_blocks=1, hidden_sizes=(8,), batch_size=8,
                          augmentation=kind)
    train = haikurl.make_train(config)
    state, metrics = jax.jit(train)(jax.random.key(0), train.default_hparams)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in metrics.values()
               if np.asarray(v).dtype.kind == "f")
    names = [jax.tree_util.keystr(p) for p, _ in
             jax.tree_util.tree_flatten_with_path(state.agent_state)[0]]
    assert any("impala" in n for n in names), names
    runs[kind] = state.agent_state
  # The shift changed what was learned (same keys otherwise).
  differs = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != b)),
                         jax.tree.leaves(runs["none"].params)[0],
                         jax.tree.leaves(runs["shift"].params)[0])
  assert differs
