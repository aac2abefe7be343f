"""Sweeps: member construction (grid, random) checked by hand, static keys
refused, and the layout-independence of results: a member of a vmapped,
chunked or 4-device sharded sweep equals its solo run."""
import csv
import json
import os
import subprocess
import sys
import textwrap

import chex
import jax
import numpy as np
import pytest

import haikurl
from agents import ppo
from configs import ppo as ppo_config
from haikurl import settings as settings_lib
from haikurl import batch
from haikurl import experiment
from haikurl import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def small_config():
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 16
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 2, 2
  cfg.total_env_steps = 4 * 16 * 4
  cfg.eval_every = 4 * 16 * 2
  cfg.num_eval_episodes = 4
  return cfg


def default_hparams(cfg):
  return settings_lib.split(cfg.agent, ppo)[1]


def test_grid_is_settings_major_with_common_seed_keys():
  cfg = small_config()
  cfg.num_seeds = 2
  cfg.sweep.entropy_coef = (0.0, 0.01)
  cfg.sweep.learning_rate = (1e-3, 3e-4)
  m = sweep.make_members(cfg, default_hparams(cfg))
  assert m.size == 8
  # HParams field order: learning_rate varies slowest, then entropy_coef.
  np.testing.assert_allclose(
      m.hparams.learning_rate, [1e-3] * 4 + [3e-4] * 4, rtol=1e-7)
  np.testing.assert_allclose(
      m.hparams.entropy_coef, [0, 0, .01, .01] * 2, rtol=1e-7)
  np.testing.assert_array_equal(m.seeds, [0, 1] * 4)
  np.testing.assert_array_equal(m.settings, [0, 0, 1, 1, 2, 2, 3, 3])
  assert m.swept["learning_rate"].tolist() == [1e-3] * 4 + [3e-4] * 4
  # Unswept fields keep the config's value; seed j has one key everywhere.
  np.testing.assert_allclose(m.hparams.discount, 0.99, rtol=1e-7)
  seed_keys = jax.random.key_data(
      jax.random.split(jax.random.key(cfg.seed), 2))
  np.testing.assert_array_equal(jax.random.key_data(m.keys),
                                np.tile(seed_keys, (4, 1)))
  assert sweep.labels(m, 5) == {"member": 5, "seed": 1, "setting": 2,
                                "learning_rate": 3e-4, "entropy_coef": 0.0}


def test_no_sweep_is_num_seeds_members_with_the_config_values():
  cfg = small_config()
  cfg.num_seeds = 3
  m = sweep.make_members(cfg, default_hparams(cfg))
  assert m.size == 3 and m.swept == {}
  np.testing.assert_allclose(m.hparams.learning_rate, [2.5e-3] * 3)
  np.testing.assert_array_equal(
      jax.random.key_data(m.keys),
      jax.random.key_data(jax.random.split(jax.random.key(0), 3)))


def test_random_search_draws_from_config_seed_by_hand():
  cfg = small_config()
  cfg.seed = 7
  cfg.num_seeds = 2
  cfg.sweep.method = "random"
  cfg.sweep.num_samples = 5
  cfg.sweep.learning_rate = ("log_uniform", 1e-4, 1e-2)
  cfg.sweep.gae_lambda = ("uniform", 0.9, 1.0)
  cfg.sweep.clip_epsilon = (0.1, 0.3)
  m = sweep.make_members(cfg, default_hparams(cfg))
  assert m.size == 10
  # By hand: keys drawn in HParams field order from one generator.
  rng = np.random.default_rng([7, 0x5EED])
  lr = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 5))
  lam = rng.uniform(0.9, 1.0, 5)
  clip = np.asarray([0.1, 0.3])[rng.integers(0, 2, 5)]
  for name, want in (("learning_rate", lr), ("gae_lambda", lam),
                     ("clip_epsilon", clip)):
    got = np.asarray(getattr(m.hparams, name))
    np.testing.assert_array_equal(got, np.repeat(want.astype(np.float32), 2))
    np.testing.assert_array_equal(m.swept[name].astype(np.float32), got)
  assert np.all((lr >= 1e-4) & (lr <= 1e-2))
  again = sweep.make_members(cfg, default_hparams(cfg))
  chex.assert_trees_all_equal(again.hparams, m.hparams)


@pytest.mark.parametrize("key, value, message", [
    ("num_envs", (8, 16), "static setting"),
    ("hidden_sizes", ((32,), (64,)), "static setting"),
])
def test_sweeping_a_static_setting_is_refused_before_compiling(
    key, value, message):
  cfg = small_config()
  setattr(cfg.sweep, key, value)
  with pytest.raises(ValueError, match=message):
    sweep.make_members(cfg, default_hparams(cfg))


@pytest.mark.parametrize("changes, message", [
    (dict(learning_rate=("log_uniform", 1e-4, 1e-2)), "ranges need"),
    (dict(method="random", learning_rate=(1e-3,)), "num_samples >= 1"),
    (dict(method="random", num_samples=2,
          learning_rate=("log_uniform", 0.0, 1e-2)), "low > 0"),
    (dict(method="random", num_samples=2,
          learning_rate=("normal", 0.0, 1e-2)), "a range is"),
    (dict(method="bayes"), "method must be one of"),
    (dict(learning_rate=(1e-3, -1e-3)), "must be positive"),
    (dict(num_samples=3, learning_rate=(1e-3,)), "for config.sweep.method"),
])
def test_bad_sweeps_are_refused_with_one_line(changes, message):
  cfg = small_config()
  for k, v in changes.items():
    setattr(cfg.sweep, k, v)
  with pytest.raises(ValueError, match=message):
    sweep.make_members(cfg, default_hparams(cfg))


def _runner_curve(runner, num_evals):
  state = runner.init()
  rows = []
  for _ in range(num_evals):
    state, metrics = runner.period(state)
    rows.append(metrics)
  return jax.tree.map(lambda *xs: np.stack(xs), *rows)   # [P, M]


def test_chunked_run_writes_sweep_files_and_equals_unchunked_and_solo(
    tmp_path):
  cfg = small_config()
  cfg.num_seeds = 2
  cfg.sweep.learning_rate = (1e-3, 2.5e-3)
  cfg.chunk_size = 3                     # 4 members -> 2 chunks of 3 (padded)
  summary = experiment.run(cfg, str(tmp_path), quiet=True, tensorboard=False)
  assert (summary["num_chunks"], summary["chunk_size"]) == (2, 3)
  assert summary["swept"] == {"learning_rate": [1e-3, 2.5e-3]}
  assert summary["best_setting"]["values"]["learning_rate"] in (1e-3, 2.5e-3)
  assert len(summary["settings"]) == 2
  with open(tmp_path / "sweep.csv") as f:
    rows = list(csv.DictReader(f))
  assert [(r["seed"], r["learning_rate"]) for r in rows] == [
      ("0", "0.001"), ("1", "0.001"), ("0", "0.0025"), ("1", "0.0025")]
  assert os.path.getsize(tmp_path / "sweep.png") > 0
  with open(tmp_path / "metrics.jsonl") as f:
    history = [json.loads(line) for line in f]
  chunked = {k: np.asarray([r[k] for r in history]) for k in history[0]
             if isinstance(history[0][k], list)}
  for r, final in zip(rows, chunked["eval/episode_return"][-1]):
    assert float(r["final_eval_return"]) == final

  train = haikurl.make_train(cfg)
  members = experiment.make_members(cfg, train)
  whole = _runner_curve(batch.Runner(train, members), train.num_evals)
  for k, v in chunked.items():
    np.testing.assert_allclose(v, whole[k], rtol=1e-5, atol=1e-5, err_msg=k)
  # Member 3 (the last, beside the padding) equals its solo run.
  _, solo = jax.jit(train)(members.keys[3],
                           jax.tree.map(lambda x: x[3], members.hparams))
  for k, v in solo.items():
    np.testing.assert_allclose(whole[k][:, 3], v, rtol=1e-5, atol=1e-5,
                               err_msg=k)


_SHARDED = textwrap.dedent("""
    import jax, numpy as np
    import haikurl
    from haikurl import batch, experiment
    from tests.haikurl.sweep_test import small_config, _runner_curve
    assert jax.device_count() == 4, jax.devices()
    cfg = small_config()
    cfg.num_seeds = 3                      # 3 members: padded to 4 devices
    cfg.sweep.learning_rate = (2.5e-3,)
    train = haikurl.make_train(cfg)
    members = experiment.make_members(cfg, train)
    runner = batch.Runner(train, members)
    assert runner.padded_size == 4 and runner.num_devices == 4
    state = runner.init()
    assert len(state.env_steps.sharding.device_set) == 4
    sharded = _runner_curve(runner, train.num_evals)
    solo = jax.jit(train)
    worst = 0.0
    for i in range(3):
      _, one = solo(members.keys[i], jax.tree.map(lambda x: x[i],
                                                   members.hparams))
      for k, v in one.items():
        np.testing.assert_allclose(sharded[k][:, i], v, rtol=1e-5, atol=1e-5,
                                   err_msg=k)
        worst = max(worst, float(np.max(np.abs(sharded[k][:, i] - v))))
    print("OK max abs diff", worst)
""")


def test_sharded_over_4_cpu_devices_equals_solo_runs():
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                      " --xla_force_host_platform_device_count=4").strip()
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run([sys.executable, "-c", _SHARDED], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  assert "OK" in out.stdout
