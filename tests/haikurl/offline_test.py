"""The offline loop keeps `train(key, hparams)`'s contract: one jittable
function, the same key gives the same bits, vmap over members agrees with
solo runs, evaluation keys never change training, no training-episode
metrics (no NaN), and the member / sweep machinery, checkpoints and the CLI
work unchanged on an offline agent."""
import json
import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from configs import bc as bc_config
from configs import cql as cql_config
from configs import iql as iql_config
from haikurl import experiment
from haikurl import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONFIGS = {"bc": bc_config, "iql": iql_config, "cql": cql_config}


def uniform_policy(obs, key):
  return jax.random.randint(key, obs.shape[:1], 0, 2)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  """64 one-step episodes of probe:action_reward under uniform actions."""
  path = str(tmp_path_factory.mktemp("data") / "probe-uniform-v0")
  return testing.write_dataset(path, "probe:action_reward", uniform_policy,
                               64)


def tiny(agent, dataset_path, **overrides):
  return testing.tiny(CONFIGS[agent].get_config("CartPole-v1"),
                      env="probe:action_reward", dataset=dataset_path,
                      **overrides)


def stacked(hp, n):
  return jax.tree.map(lambda x: jnp.stack([x] * n), hp)


def bits(tree):
  """`tree` with PRNG keys as their raw data (comparable as arrays)."""
  return jax.tree.map(
      lambda x: jax.random.key_data(x)
      if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
def test_same_key_same_bits_and_vmap_agrees_with_solo(agent, dataset):
  train = haikurl.make_train(tiny(agent, dataset, iterations=3, periods=2))
  hp = train.default_hparams
  k0, k1 = jax.random.split(jax.random.key(7))
  solo = jax.jit(lambda k: train(k, hp))
  first, again = bits(solo(k0)), bits(solo(k0))
  chex.assert_trees_all_equal(first, again)            # bit for bit
  batch = jax.jit(jax.vmap(train))
  both = bits(batch(jnp.stack([k0, k1]), stacked(hp, 2)))
  swapped = bits(batch(jnp.stack([k1, k0]), stacked(hp, 2)))
  # Batches of two are bitwise consistent with each other ...
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[1], both),
                              jax.tree.map(lambda x: x[0], swapped))
  # ... and agree with the solo runs up to rounding.
  for i, key in enumerate((k0, k1)):
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], both[1]),
                                bits(solo(key))[1], rtol=1e-4, atol=1e-5)
  # Different keys sample different minibatches: different parameters.
  leaf = lambda out: jax.tree.leaves(out[0].agent_state)[0]
  assert not np.allclose(leaf(both)[0], leaf(both)[1])


def test_metrics_are_the_offline_ones(dataset):
  train = haikurl.make_train(tiny("iql", dataset, iterations=3, periods=2))
  _, metrics = jax.jit(lambda k: train(k))(jax.random.key(0))
  assert not [k for k in metrics if k.startswith("train/episode")]
  # env_steps counts gradient steps: 3 per period.
  np.testing.assert_array_equal(metrics["env_steps"], [3, 6])
  np.testing.assert_array_equal(metrics["train/gradient_steps"], [3, 3])
  for name, value in metrics.items():
    assert np.all(np.isfinite(value)), name
  assert metrics["eval/episode_return"].shape == (2,)


def test_evaluation_never_changes_training(dataset):
  config = tiny("cql", dataset, iterations=3, periods=2)
  with_eval = haikurl.make_train(config)
  without = haikurl.make_train(config, callbacks={})
  key = jax.random.key(3)
  state_eval, _ = jax.jit(lambda k: with_eval(k))(key)
  state_none, _ = jax.jit(lambda k: without(k))(key)
  chex.assert_trees_all_close(state_eval.agent_state, state_none.agent_state,
                              rtol=1e-6, atol=1e-7)


def test_member_rerun_is_bitwise_the_member_of_a_sweep(dataset, tmp_path):
  config = tiny("iql", dataset, iterations=2, periods=2)
  with config.unlocked():
    config.num_seeds = 2
    config.sweep.expectile = (0.6, 0.9)
  whole = experiment.run(config, str(tmp_path / "all"), quiet=True,
                         tensorboard=False)
  assert whole["num_members"] == 4 and whole["num_settings"] == 2
  with config.unlocked():
    config.member = 3
  rerun = experiment.run(config, str(tmp_path / "m3"), quiet=True,
                         tensorboard=False)
  assert rerun["rerun_of_member"]["expectile"] == pytest.approx(0.9)
  rows = lambda d: [json.loads(l) for l in open(tmp_path / d /
                                                "metrics.jsonl")]
  for want, got in zip(rows("all"), rows("m3")):
    for key, value in want.items():
      if isinstance(value, list):
        assert got[key] == [value[3]], key
  # The checkpoint loads back as a policy (it acts greedily, action 1 or 0).
  act = haikurl.load_policy(str(tmp_path / "m3"))
  assert act.num_members == 1
  action = act(jnp.ones((1, 1, 1)), jax.random.key(0))
  assert action.shape == (1, 1)


def test_cli_trains_a_sweep_from_a_dataset(dataset, tmp_path):
  workdir = str(tmp_path / "cli")
  args = ["--config=configs/iql.py:CartPole-v1",
          "--config.env=probe:action_reward", f"--config.dataset={dataset}",
          "--config.total_env_steps=8", "--config.eval_every=4",
          "--config.num_eval_episodes=2", "--config.agent.batch_size=8",
          "--config.agent.actor_hidden_sizes=(8,8)",
          "--config.agent.critic_hidden_sizes=(8,8)",
          "--config.num_seeds=2", "--config.sweep.expectile=(0.6,0.9)",
          f"--workdir={workdir}", "--compilation_cache="]
  code = ("import sys; from haikurl import cli; sys.argv = ['haikurl-train']"
          f" + {args!r}; cli.run()")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "[2/2]" in proc.stdout and "nan" not in proc.stdout.lower()
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  assert summary["num_members"] == 4 and summary["num_settings"] == 2
  assert np.all(np.isfinite(summary["final_eval_return_per_member"]))


@pytest.fixture(scope="module")
def minatar_dataset(tmp_path_factory):
  """Two episodes of Breakout-MinAtar (3 actions) under uniform actions."""
  path = str(tmp_path_factory.mktemp("minatar") / "breakout-uniform-v0")
  return testing.write_dataset(
      path, "gymnax:Breakout-MinAtar",
      lambda obs, key: jax.random.randint(key, obs.shape[:1], 0, 3), 2)


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
def test_offline_agents_take_the_vision_torsos(agent, minatar_dataset):
  config = testing.tiny(CONFIGS[agent].get_config("Breakout-MinAtar"),
                        dataset=minatar_dataset, torso="impala",
                        torso_channels=(4, 4), torso_blocks=1)
  train = haikurl.make_train(config)
  hp = train.default_hparams
  obs = train.dataset.transitions.obs[:3]
  assert obs.shape == (3, 10, 10, 4)

  def init_and_act(key):
    state = train.agent.init(key, hp)
    return state, train.agent.act(state, obs, key, hp, True)[0]

  state, action = jax.jit(init_and_act)(jax.random.key(0))
  names = [name for name in jax.tree_util.tree_flatten_with_path(state)[0]
           if "impala" in jax.tree_util.keystr(name[0])]
  assert names, "no impala parameters"
  assert action.shape == (3,) and np.all((action >= 0) & (action < 3))


@pytest.fixture(scope="module")
def continuous_dataset(tmp_path_factory):
  """16 episodes of probe:action_reward_continuous, uniform in [-1, 1]."""
  path = str(tmp_path_factory.mktemp("cdata") / "probe-cuniform-v0")
  return testing.write_dataset(
      path, "probe:action_reward_continuous",
      lambda obs, key: jax.random.uniform(key, obs.shape[:1] + (1,),
                                          minval=-1.0, maxval=1.0), 16)


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
@pytest.mark.parametrize("discrete", [True, False])
def test_float32_and_no_implicit_rank_promotion(agent, discrete, dataset,
                                                continuous_dataset):
  # As tests/reliability/numerics_test.py checks the online agents: the
  # whole run traced with rank promotion raising in our code, every float
  # of the state and the metrics float32.
  from tests.reliability.numerics_test import rank_promotion_raise_in_our_code  # pylint: disable=g-import-not-at-top
  env = "probe:action_reward" + ("" if discrete else "_continuous")
  extra = {"lagrange": True} if agent == "cql" and not discrete else {}
  config = testing.tiny(CONFIGS[agent].get_config("CartPole-v1"), env=env,
                        dataset=dataset if discrete else continuous_dataset,
                        **extra)
  with rank_promotion_raise_in_our_code():
    train = haikurl.make_train(config)
    state, metrics = jax.eval_shape(train, jax.random.key(0))
  leaves = [x for x in jax.tree.leaves((state, metrics))
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  assert leaves and all(x.dtype == jnp.float32 for x in leaves)


_SHARDED = textwrap.dedent("""
    import sys
    import jax, numpy as np
    import haikurl
    from configs import bc as bc_config
    from haikurl import batch, experiment, testing
    assert jax.device_count() == 4, jax.devices()
    cfg = testing.tiny(bc_config.get_config("CartPole-v1"),
                       env="probe:action_reward", dataset=sys.argv[1],
                       iterations=3, periods=2)
    with cfg.unlocked():
      cfg.num_seeds = 3                     # padded to 4 devices
    train = haikurl.make_train(cfg)
    members = experiment.make_members(cfg, train)
    runner = batch.Runner(train, members)
    assert runner.num_devices == 4
    state = runner.init()
    rows = []
    for _ in range(train.num_evals):
      state, metrics = runner.period(state)
      rows.append(metrics)
    sharded = jax.tree.map(lambda *xs: np.stack(xs), *rows)
    solo = jax.jit(train)
    for i in range(3):
      _, one = solo(members.keys[i], jax.tree.map(lambda x: x[i],
                                                   members.hparams))
      for k, v in one.items():
        np.testing.assert_allclose(sharded[k][:, i], v, rtol=1e-5,
                                   atol=1e-5, err_msg=k)
    print("OK")
""")


def test_sharded_over_4_cpu_devices_equals_solo_runs(dataset):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                      " --xla_force_host_platform_device_count=4").strip()
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run([sys.executable, "-c", _SHARDED, dataset], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  assert "OK" in out.stdout
