"""`config.member=i` reruns member i of a run alone, bitwise as it trained in
the whole batch (it runs in a batch of 2, itself twice: a batch of 1
compiles differently)."""
import json
import os

import numpy as np
import pytest

import haikurl
from configs import ppo as ppo_config
from haikurl import experiment


def small_config():
  cfg = ppo_config.get_config("CartPole-v1")
  cfg.agent.num_envs, cfg.agent.rollout_length = 4, 16
  cfg.agent.num_minibatches, cfg.agent.num_epochs = 2, 2
  cfg.total_env_steps = 4 * 16 * 4
  cfg.eval_every = 4 * 16 * 2          # 2 periods
  cfg.num_eval_episodes = 4
  return cfg


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _member_curves(rows, member):
  """metric -> [P] of one member, for every per-member metric."""
  return {k: np.asarray([r[k][member] for r in rows], np.float32)
          for k, v in rows[0].items() if isinstance(v, list)}


@pytest.mark.slow
def test_member_rerun_is_bitwise_the_member_of_the_batch(tmp_path):
  cfg = small_config()
  cfg.num_seeds = 2
  whole = experiment.run(cfg, str(tmp_path / "all"), quiet=True,
                         tensorboard=False)
  assert whole["num_members"] == 2
  cfg.member = 1
  rerun = experiment.run(cfg, str(tmp_path / "member1"), quiet=True,
                         tensorboard=False)
  assert rerun["num_members"] == 1
  assert rerun["rerun_of_member"] == {"member": 1, "seed": 1, "setting": 0}
  batch_rows, solo_rows = _rows(tmp_path / "all"), _rows(tmp_path / "member1")
  assert len(solo_rows[0]["eval/episode_return"]) == 1   # one member written
  want, got = _member_curves(batch_rows, 1), _member_curves(solo_rows, 0)
  assert set(want) == set(got) and len(want) > 3
  for key in want:   # every metric, every period, bit for bit
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert rerun["final_eval_return_per_member"] == [
      whole["final_eval_return_per_member"][1]]
  # The rerun's checkpoint loads as a one-member policy.
  act = haikurl.load_policy(str(tmp_path / "member1"))
  assert act.num_members == 1


@pytest.mark.slow
def test_member_of_a_sweep_keeps_its_setting(tmp_path):
  cfg = small_config()
  cfg.num_seeds = 2
  cfg.sweep.learning_rate = (1e-3, 2.5e-3)
  cfg.member = 2                       # setting 1 (lr 2.5e-3), seed 0
  summary = experiment.run(cfg, str(tmp_path), quiet=True, tensorboard=False)
  assert summary["rerun_of_member"] == {"member": 2, "seed": 0, "setting": 1,
                                        "learning_rate": 2.5e-3}
  assert [s["values"] for s in summary["settings"]] == [
      {"learning_rate": 2.5e-3}]


@pytest.mark.parametrize("member", [2, -2])
def test_member_out_of_range_is_one_line_before_compiling(tmp_path, member):
  cfg = small_config()
  cfg.num_seeds = 2
  cfg.member = member
  with pytest.raises(ValueError, match=r"config.member=-?2 is not a member "
                     r"of this run: it has 2 member\(s\), 0 to 1"):
    experiment.run(cfg, str(tmp_path), quiet=True, tensorboard=False)
  assert not os.path.exists(tmp_path / "config.json")   # nothing written
