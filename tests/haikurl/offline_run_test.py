"""The member / sweep machinery, checkpoints, the CLI and sharding over
devices work unchanged on an offline agent (tests/haikurl/offline_test.py
has the loop's contract)."""
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from configs import bc as bc_config
from haikurl import experiment
from haikurl import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
from tests.haikurl.offline_common import (  # pylint: disable=unused-import
    dataset, tiny)  # dataset: a fixture


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
  # Offline runs count gradient steps, and say so.
  assert "done: 8 gradient steps x 4 member(s)" in proc.stdout, proc.stdout
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  assert summary["num_members"] == 4 and summary["num_settings"] == 2
  assert summary["step_unit"] == "gradient steps"
  assert np.all(np.isfinite(summary["final_eval_return_per_member"]))


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
