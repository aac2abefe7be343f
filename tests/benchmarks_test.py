"""The benchmarks' shared harness (benchmarks/common.py) on tiny configs,
our side only (no peer: rejax lives in bench_venv, not in this venv)."""
import importlib.util
import json
import os

import pytest

from configs import dqn as dqn_config
from configs import ppo_rnn as ppo_rnn_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _harness():
  spec = importlib.util.spec_from_file_location(
      "benchmarks_common", os.path.join(ROOT, "benchmarks", "common.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


common = _harness()


def tiny_dqn():
  config = dqn_config.get_config("CartPole-v1,rejax")
  with config.unlocked():
    a = config.agent
    a.num_envs, a.rollout_length = 8, 4   # 32 gradient steps per learn
    a.hidden_sizes = (32,)
    a.buffer_size, a.batch_size, a.learning_starts = 1_024, 64, 256
    config.total_env_steps, config.eval_every = 2_048, 1_024
    config.num_eval_episodes = 2
  return config


def _check_ceilings(ceiling, seeds):
  for name in ("env", "act", "learn", "learning_loop", "loop"):
    assert ceiling[f"{name}_steps_per_second"] > 0, name
  # The learning loop ceiling is below each of its parts (1 / a sum of
  # their times); the run's is not below it (its warm-up, if any, does not
  # learn) and below the env and act alone (every step costs both).
  for name in ("env", "act", "learn"):
    assert (ceiling["learning_loop_steps_per_second"] <
            ceiling[f"{name}_steps_per_second"]), name
  assert (ceiling["learning_loop_steps_per_second"] <=
          ceiling["loop_steps_per_second"])
  for name in ("env", "act"):
    assert (ceiling["loop_steps_per_second"] <
            ceiling[f"{name}_steps_per_second"]), name
  assert ceiling["seeds"] == seeds
  assert set(ceiling["compile_seconds"]) == {"env", "act", "learn"}
  floor = ceiling["dots"]  # learn's matrix products alone
  assert floor["products"] > 0 and floor["mflop_per_env_step"] > 0
  assert floor["dots_alone_steps_per_second"] > 0


def test_report_line_evaluation_off_two_seeds():
  """Our side without evaluation, the ceilings (an off-policy agent: its
  warm-up first) and the report's JSON line, over 2 vmapped seeds."""
  config, seeds = tiny_dqn(), 2
  start = common.loadavg()
  ours = common.time_side(config, seeds, repeats=3, evaluation=False)
  assert ours["evaluation"] == common.OURS_OFF
  assert "curve" not in ours  # no evaluation ran
  ceiling = common.ceilings(config, seeds, steps=1_000, repeats=3)
  assert ceiling["warmup_iterations"] == 256 // 32
  assert ceiling["env_steps_per_seed"] == 1_024  # whole iterations of 32
  _check_ceilings(ceiling, seeds)
  assert (ceiling["learning_loop_steps_per_second"] <
          ceiling["loop_steps_per_second"])  # 256 of 2,048 steps not learning
  rows = [common.row(ours, None, ceiling)]
  line = json.loads(json.dumps(common.report(
      "tiny", rows, start, common.evaluation(False, ours))))
  assert set(line) == {"benchmark", "evaluation", "median_of", "compile",
                       "loadavg_1min", "cpu_pool_threads", "rows"}
  # pytest's process keeps the default pool; the peer runs as it ships.
  assert line["cpu_pool_threads"]["haikurl"] >= 1
  assert line["cpu_pool_threads"]["peer"] == "one per core"
  assert line["evaluation"] == {"protocol": "off on both sides",
                                "haikurl": common.OURS_OFF,
                                "rejax": common.REJAX_OFF}
  assert line["median_of"] == 3
  assert set(line["loadavg_1min"]) == {"start", "end"}
  (r,) = line["rows"]
  assert set(r) == {"seeds", "haikurl", "rejax", "ratio_haikurl_over_rejax",
                    "ceilings", "share_of_loop_ceiling"}
  assert r["seeds"] == seeds
  assert r["rejax"] is None and r["ratio_haikurl_over_rejax"] is None
  mine = r["haikurl"]
  assert len(mine["steps_per_second_each"]) == 3
  assert sorted(mine["steps_per_second_each"])[1] == mine["steps_per_second"]
  assert mine["total_timesteps_per_seed"] == 2_048
  share = r["share_of_loop_ceiling"]
  assert share["rejax"] is None
  assert share["haikurl"] > 0
  # A timing is reported, never bounded here: speed lives in benchmarks/,
  # and CPU time on a shared 2-core machine swings past any fixed bound
  # (CI stop 26 measured this share at 1.63).
  assert 0 < share["haikurl_cpu_time"] < float("inf"), r


def test_row_with_a_peer():
  """A peer's result (as benchmarks/rejax_side.py prints it): steps/s per
  repeat over all seeds, their median, the ratio and the shares."""
  ours = {"seeds": 2, "total_timesteps": 1_000, "compile_seconds": 4.0,
          "seconds": [1.0, 0.5, 0.4]}
  peer = {"seeds": 2, "total_timesteps": 1_000, "compile_seconds": 6.0,
          "seconds": [2.0, 4.0, 1.0], "evaluation": "its own, 128 episodes"}
  ceiling = {"loop_steps_per_second": 8_000.0}
  r = common.row(ours, peer, ceiling, peer_name="purejaxrl")
  assert r["haikurl"]["steps_per_second_each"] == [2_000.0, 4_000.0, 5_000.0]
  assert r["haikurl"]["steps_per_second"] == 4_000.0
  assert r["purejaxrl"]["steps_per_second"] == 1_000.0
  assert r["ratio_haikurl_over_purejaxrl"] == 4.0
  assert r["share_of_loop_ceiling"] == {"haikurl": 0.5, "purejaxrl": 0.125}
  protocol = common.evaluation(True, {"evaluation": "greedy"}, peer,
                               "purejaxrl")
  assert protocol == {"protocol": common.EVAL_OWN, "haikurl": "greedy",
                      "purejaxrl": "its own, 128 episodes"}
  line = common.report("x", [r], 0.5, protocol, extra=1)
  assert line["median_of"] == 3 and line["extra"] == 1


@pytest.mark.slow
def test_ceilings_of_a_recurrent_agent():
  """act threads the actor carry (PPO with a GRU core): every part runs and
  the loop ceiling of an on-policy agent (no warm-up) is 1 / the sum."""
  config = ppo_rnn_config.get_config("CartPole-v1")
  with config.unlocked():
    a = config.agent
    a.num_envs, a.rollout_length = 4, 16
    a.num_epochs, a.num_minibatches = 1, 2
    a.hidden_sizes, a.head_sizes, a.core_size = (16,), (16,), 16
    config.total_env_steps, config.eval_every = 1_024, 1_024
  ceiling = common.ceilings(config, 1, steps=256, repeats=3)
  assert ceiling["warmup_iterations"] == 0
  _check_ceilings(ceiling, 1)
  parts = sum(1.0 / ceiling[f"{name}_steps_per_second"]
              for name in ("env", "act", "learn"))
  assert ceiling["loop_steps_per_second"] == pytest.approx(1.0 / parts,
                                                           rel=1e-3)


def test_dot_table_counts_scans_and_the_costliest_branch():
  """Products counted with their repeats: 3 in a scan of 5, a cond's
  costlier branch (two products against none), a while body once."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import dots  # pylint: disable=g-import-not-at-top  (benchmarks/, via common)

  def fn(x, w, v):
    def body(x, _):
      y = jax.lax.dot_general(x @ w, w, (((1,), (1,)), ((), ())))  # x w w^T
      return jnp.tanh(y @ w), None
    x, _ = jax.lax.scan(body, x, None, length=5)
    x = jax.lax.cond(x.sum() > 0, lambda x: (x @ w) @ w, lambda x: x, x)
    x = jax.lax.while_loop(lambda c: c[1] < 3,
                           lambda c: (c[0] @ w, c[1] + 1), (x, 0))[0]
    return jnp.einsum("bi,bj->ij", x, v)      # the batch axis contracted

  x, w, v = jnp.ones((4, 6)), jnp.ones((6, 6)), jnp.ones((4, 2))
  counts, flags = dots.table(fn, x, w, v)
  square = ((4, 6), (6, 6), "float32", (((1,), (0,)), ((), ())))
  transposed = ((4, 6), (6, 6), "float32", (((1,), (1,)), ((), ())))
  weight_grad = ((4, 6), (4, 2), "float32", (((0,), (0,)), ((), ())))
  assert dict(counts) == {square: 5 * 2 + 2 + 1, transposed: 5,
                          weight_grad: 1}
  assert dots.flops(square) == 2 * 4 * 6 * 6
  assert dots.flops(weight_grad) == 2 * 4 * 6 * 2
  assert any(f.startswith("cond") for f in flags)
  assert any(f.startswith("while") for f in flags)
  floor = dots.learn_floor(fn, (x, w, v), env_steps=10, seconds=1.0)
  assert floor["products"] == 3 and floor["calls"] == 19
  assert floor["mflop_per_env_step"] == pytest.approx(
      (13 * 288 + 5 * 288 + 96) / 10 / 1e6, abs=1e-4)
  assert floor["dots_alone_steps_per_second"] > 0
  assert floor["best_gflops_alone"] > 0
