"""One member over several devices (`config.data_parallel`): forced CPU
devices in a subprocess (XLA_FLAGS=--xla_force_host_platform_device_count),
as the sharded sweep test does.

What is checked:
  (a) with 2 devices, one PPO (and one PQN) learn call on a rollout split
      over the devices equals the one-device learn call on the whole
      rollout (one minibatch per epoch, so the shuffles cannot differ), and
      the parameters of a data-parallel run stay the same on every device;
  (b) PPO's CartPole preset trains with data_parallel=2 to the return of one
      device over the same 98,304 env steps;
  (c) a 2-member sweep on a 2 x 2 (members x data) mesh equals each member
      run alone with data_parallel=2;
  (d) what cannot run is one line before compiling.
"""
import os
import subprocess
import sys
import textwrap

import jax
import pytest

import haikurl
from configs import dqn as dqn_config
from configs import ppo as ppo_config
from configs import ppo_rnn as ppo_rnn_config
from configs import pqn as pqn_config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def small_config(data_parallel: int = 1):
  """PPO on CartPole: 4 envs x 8 steps, 3 periods of 2 iterations."""
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 2, 2
  cfg.total_env_steps = 4 * 8 * 2 * 3
  cfg.eval_every = 4 * 8 * 2
  cfg.num_eval_episodes = 4
  cfg.data_parallel = data_parallel
  return cfg


def pqn_config(data_parallel: int = 1):
  """PQN on CartPole, 4 envs x 8 steps, one minibatch per epoch."""
  cfg = pqn_config_lib.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 8
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 1, 2
  cfg.total_env_steps = cfg.eval_every = 4 * 8 * 2
  cfg.data_parallel = data_parallel
  return cfg


def run_forced(script: str, num_devices: int) -> str:
  """Runs `script` in a Python with `num_devices` forced CPU devices;
  returns its stdout (asserting it exited 0 and printed OK)."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform"
                      f"_device_count={num_devices}").strip()
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                       cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  assert "OK" in out.stdout, out.stdout[-3000:]
  return out.stdout


_LEARN = """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import PartitionSpec as P
    import haikurl
    from agents import ppo
    from haikurl import testing
    from tests.haikurl.data_parallel_test import small_config, pqn_config
    assert jax.device_count() == 2, jax.devices()

    def ppo_config(n):
      cfg = small_config(n)
      # One minibatch per epoch: the update does not depend on the shuffle.
      cfg.agent.num_minibatches, cfg.agent.num_epochs = 1, 3
      # Normalised advantages use each device's own minibatch statistics.
      cfg.agent.normalize_advantages = False
      return cfg

    extras = {"ppo": ppo.Extras(jax.ShapeDtypeStruct((), jnp.float32),
                                jax.ShapeDtypeStruct((), jnp.float32)),
              "pqn": ()}
    for name, make_config in (("ppo", ppo_config), ("pqn", pqn_config)):
      one = haikurl.make_train(make_config(1), callbacks={})
      two = haikurl.make_train(make_config(2), callbacks={})
      assert two.settings.num_envs == 2 and two.settings.data_axis == "data"
      assert one.settings.data_axis is None
      hp = one.default_hparams
      state = one.agent.init(jax.random.key(1), hp)
      traj = testing.random_trajectory(jax.random.key(2), one.env.spec, 8, 4,
                                       extras=extras[name])
      key = jax.random.key(3)
      want, _ = jax.jit(one.agent.learn)(state, traj, key, hp)
      # The rollout's envs split over the devices, each learning on its half.
      split = jax.shard_map(two.agent.learn, mesh=two.mesh,
                            in_specs=(P(), P(None, "data"), P(), P()),
                            out_specs=(P(), P()), check_vma=False)
      got, _ = jax.jit(split)(state, traj, key, hp)
      changed = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                             want.params, state.params)
      assert max(jax.tree.leaves(changed)) > 1e-4, changed  # Adam steps moved it
      if name == "pqn":
        # The agent's own step counter counts its device's env steps (of
        # total_env_steps / 2: the same epsilon schedule).
        assert int(got.env_steps) * 2 == int(want.env_steps) == 32
        got, want = got._replace(env_steps=()), want._replace(env_steps=())
      diff = 0.0
      for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        # Every device's copy of the updated state equals the 1-device one.
        for shard in b.addressable_shards:
          np.testing.assert_allclose(np.asarray(shard.data), np.asarray(a),
                                     rtol=1e-5, atol=1e-6, err_msg=name)
          diff = max(diff, float(np.max(np.abs(np.asarray(shard.data) - a))))
      print(name, "learn max abs diff", diff)

    # Without the gradient average the devices would drift apart: a whole
    # (default) data-parallel run keeps the parameters the same everywhere.
    cfg = small_config(2)
    with cfg.unlocked():
      cfg.check_numerics = True  # its flags from the averaged metrics
    train = haikurl.make_train(cfg, callbacks={})
    final, metrics = jax.jit(lambda k: train(k))(jax.random.key(0))
    assert train.nonfinite_message(jax.device_get(metrics)) is None
    assert (np.asarray(metrics["numerics/step"]) == -1).all()
    for leaf in jax.tree.leaves(final.agent_state.params):
      first, second = [np.asarray(s.data) for s in leaf.addressable_shards]
      np.testing.assert_array_equal(first, second)
    # The curve has the shapes and step counts of a one-device run.
    solo = haikurl.make_train(small_config(1), callbacks={})
    _, solo_metrics = jax.eval_shape(lambda k: solo(k), jax.random.key(0))
    assert set(metrics) == set(solo_metrics) | {"numerics/step",
                                                "numerics/index"}
    for k, v in solo_metrics.items():
      assert metrics[k].shape == v.shape, k
    np.testing.assert_array_equal(metrics["env_steps"], [64, 128, 192])
    assert int(metrics["train/episodes"].sum()) > 0
    # The state outside the devices' program has the one-device shapes.
    assert all(leaf.shape[0] == 4 for leaf in jax.tree.leaves(final.env_state))
    # Each device ran its own environments (keys with its index folded in).
    first, second = [np.asarray(s.data) for s in
                     final.timestep.observation.addressable_shards]
    assert first.shape == (2, 4) and not np.allclose(first, second)
    print("OK")
"""


def test_learn_on_two_devices_equals_one_device_and_params_stay_replicated():
  print(run_forced(_LEARN, 2))


_CARTPOLE = """
    import jax, numpy as np
    import haikurl
    from configs import ppo as ppo_config
    assert jax.device_count() == 2, jax.devices()
    finals = {}
    for n in (1, 2):
      cfg = ppo_config.get_config("CartPole-v1")
      cfg.data_parallel = n
      train = haikurl.make_train(cfg)
      _, metrics = jax.jit(lambda k: train(k))(jax.random.key(0))
      finals[n] = float(metrics["eval/episode_return"][-1])
      assert int(metrics["env_steps"][-1]) == 98_304
    print("final greedy returns", finals)
    assert finals[1] >= 475 and finals[2] >= 475, finals
    print("OK")
"""


@pytest.mark.slow
def test_ppo_cartpole_on_two_devices_learns_as_one_device():
  print(run_forced(_CARTPOLE, 2))


_SWEEP = """
    import json, os, sys, tempfile
    import jax, numpy as np
    import haikurl
    from haikurl import experiment
    from tests.haikurl.data_parallel_test import small_config
    assert jax.device_count() == 4, jax.devices()
    cfg = small_config(2)
    cfg.sweep.learning_rate = (2.5e-3, 1e-3)
    workdir = tempfile.mkdtemp()
    summary = experiment.run(cfg, workdir, quiet=True, tensorboard=False)
    # 2 members x 2 devices each: the members x data mesh of 4 devices.
    assert (summary["num_devices"], summary["data_parallel"]) == (4, 2)
    assert summary["num_members"] == 2 and summary["env_steps"] == 192
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      history = [json.loads(line) for line in f]
    batched = {k: np.asarray([r[k] for r in history], np.float64)
               for k in history[0] if isinstance(history[0][k], list)}
    train = haikurl.make_train(cfg)
    members = experiment.make_members(cfg, train)
    solo = jax.jit(train)  # data_parallel=2 on the first 2 devices
    worst = 0.0
    for i in range(2):
      _, one = solo(members.keys[i], jax.tree.map(lambda x: x[i],
                                                  members.hparams))
      for k, v in one.items():
        np.testing.assert_allclose(batched[k][:, i], v, rtol=1e-5, atol=1e-5,
                                   err_msg=k)
        worst = max(worst, float(np.nanmax(np.abs(batched[k][:, i] - v))))
    assert not np.allclose(batched["loss/total"][:, 0],
                           batched["loss/total"][:, 1])
    print("OK max abs diff", worst)
"""


def test_sweep_on_a_2x2_mesh_equals_members_run_alone():
  print(run_forced(_SWEEP, 4))


def test_data_parallel_one_is_the_plain_loop():
  train = haikurl.make_train(small_config(1))
  assert train.data_parallel == 1 and train.mesh is None
  assert train.settings.data_axis is None and train.env.num_envs == 4


@pytest.mark.parametrize("change, message", [
    (dict(data_parallel=0), "config.data_parallel must be a positive integer"),
    (dict(data_parallel=True), "config.data_parallel must be a positive"),
    (dict(data_parallel=3), "config.agent.num_envs=4 is not a multiple of "
                            "config.data_parallel=3"),
    (dict(normalize_observations=True), "config.normalize_observations "
                                        "needs config.data_parallel=1"),
    (dict(num_minibatches=32), "(per device, with config.data_parallel=2: "
                               "num_envs 4 / 2 = 2)"),
])
def test_bad_data_parallel_settings_are_one_line(change, message):
  cfg = small_config(2)
  for key, value in change.items():
    if key in cfg.agent:
      cfg.agent[key] = value
    else:
      cfg[key] = value
  with pytest.raises(ValueError) as e:
    haikurl.make_train(cfg)
  assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize("make_config", [
    lambda: dqn_config.get_config("CartPole-v1"),
    lambda: ppo_rnn_config.get_config("CartPole-v1"),
])
def test_agents_that_cannot_split_a_member_refuse(make_config):
  cfg = make_config()
  cfg.data_parallel = 2
  with pytest.raises(ValueError) as e:
    haikurl.make_train(cfg)
  text = str(e.value)
  assert "cannot split one member over devices" in text, text
  assert "a2c, ppo, pqn" in text and "\n" not in text, text


def test_too_few_devices_is_one_line():
  n = jax.device_count() + 1
  cfg = small_config(n)
  cfg.agent.num_envs, cfg.agent.num_minibatches = 2 * n, 1
  cfg.total_env_steps = cfg.eval_every = 2 * n * 8
  with pytest.raises(ValueError) as e:
    haikurl.make_train(cfg)
  text = str(e.value)
  assert f"config.data_parallel={n} needs {n} devices, found {n - 1}" in text
  assert "--xla_force_host_platform_device_count" in text, text
