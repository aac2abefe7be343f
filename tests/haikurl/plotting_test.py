"""Aggregates over seeds (IQM and rliable's stratified-bootstrap CI, mean and
min-max below 3 seeds), grouping by setting, the log-axis rule, the progress
line of a sweep and haikurl-plot, on hand-computed cases."""
import json
import os

import numpy as np
import pytest

from haikurl import aggregate
from haikurl import logging as hlog
from haikurl import plotting
from haikurl import sweep as sweep_lib


def test_iqm_of_known_arrays():
  # n = 8: floor(0.25 * 8) = 2 runs trimmed at each end of the sorted runs
  # [1, 2, 3, 4, 5, 6, 7, 100] -> mean(3, 4, 5, 6) = 4.5 (the 100 is gone).
  x = np.array([7., 1., 100., 3., 5., 2., 6., 4.])
  assert aggregate.iqm(x) == 4.5
  est = aggregate.estimate(x)
  assert est.kind == "iqm" and est.num_runs == 8
  assert float(est.point) == 4.5          # rliable's aggregate_iqm agrees
  # n = 4: one trimmed at each end: [0, 10, 20, 1000] -> mean(10, 20) = 15.
  assert aggregate.estimate(np.array([1000., 0., 20., 10.])).point == 15.0
  # n = 3: floor(0.75) = 0 trimmed: the plain mean, (1 + 2 + 9) / 3 = 4.
  assert aggregate.estimate(np.array([1., 2., 9.])).point == 4.0


def test_bootstrap_interval_holds_the_iqm_within_the_data_and_repeats():
  rng = np.random.default_rng(0)
  x = rng.normal(100.0, 30.0, size=8)
  a = aggregate.estimate(x)
  b = aggregate.estimate(x)
  assert (a.low, a.high) == (b.low, b.high)           # fixed random state
  assert x.min() <= a.low < a.point < a.high <= x.max()
  # The state of numpy's global generator is left as it was.
  np.random.seed(5)
  expected = np.random.rand()
  np.random.seed(5)
  aggregate.estimate(x)
  assert np.random.rand() == expected
  # No spread: a point, no band.
  flat = aggregate.estimate(np.full(5, 3.0))
  assert flat.point == flat.low == flat.high == 3.0


def test_below_three_runs_is_mean_and_min_max():
  est = aggregate.estimate(np.array([2.0, 5.0]))
  assert est.kind == "mean"
  assert (est.point, est.low, est.high) == (3.5, 2.0, 5.0)
  one = aggregate.estimate(np.array([7.0]))
  assert (one.point, one.low, one.high) == (7.0, 7.0, 7.0)
  assert aggregate.describe(2) == "mean, min-max over 2 seeds"
  assert aggregate.describe(1) == "1 seed"
  assert aggregate.describe(8) == ("IQM, 95% stratified-bootstrap CI over 8 "
                                   "seeds")
  summary = aggregate.summary([2.0, 5.0])
  assert summary == {"mean": 3.5, "min": 2.0, "max": 5.0, "num_runs": 2}


def test_curve_aggregates_per_period_and_skips_missing_runs():
  # [P=2, n=4]; period 1 has a NaN run (no finished episode): 3 runs left.
  curve = np.array([[0., 10., 20., 1000.],
                    [np.nan, 1., 2., 9.]])
  est = aggregate.estimate(curve, axis=1)
  assert est.point.shape == (2,)
  np.testing.assert_array_equal(est.point, [15.0, 4.0])
  assert est.low[1] >= 1.0 and est.high[1] <= 9.0


def test_members_are_grouped_by_setting():
  # A 2-setting x 3-seed sweep, setting-major (haikurl.sweep's order).
  settings = [0, 0, 0, 1, 1, 1]
  seeds = [0, 1, 2, 0, 1, 2]
  swept = {"learning_rate": [1e-3] * 3 + [3e-4] * 3}
  groups = aggregate.group_by_setting(settings, seeds, swept)
  assert [g.members for g in groups] == [[0, 1, 2], [3, 4, 5]]
  assert [g.values for g in groups] == [{"learning_rate": 1e-3},
                                        {"learning_rate": 3e-4}]
  assert aggregate.setting_label(groups[1].values) == "learning_rate=0.0003"
  members = sweep_lib.Members(None, None, np.array(seeds),
                              np.array(settings),
                              {k: np.asarray(v) for k, v in swept.items()})
  # Final returns: setting 0 -> [10, 20, 30], setting 1 -> [1, 2, 60].
  table = sweep_lib.best_setting(members, np.array([10., 20., 30., 1., 2.,
                                                    60.]))
  first, second = table["settings"]
  assert first["members"] == [0, 1, 2] and second["members"] == [3, 4, 5]
  assert second["final_eval_return_per_member"] == [1.0, 2.0, 60.0]
  assert first["final_eval_return_mean"] == 20.0      # (10 + 20 + 30) / 3
  assert second["final_eval_return_mean"] == 21.0     # (1 + 2 + 60) / 3
  assert second["final_eval_return_iqm"] == 21.0      # n = 3: nothing trimmed
  assert (second["final_eval_return_min"],
          second["final_eval_return_max"]) == (1.0, 60.0)
  lo, hi = second["final_eval_return_ci95"]
  assert 1.0 <= lo <= 21.0 <= hi <= 60.0
  assert table["best"]["setting"] == 1


def test_log_axis_for_rates_and_wide_positive_ranges():
  assert plotting.use_log_axis("learning_rate", [1e-3, 2e-3])  # a rate
  assert plotting.use_log_axis("critic_learning_rate", [1e-3, 2e-3])
  assert plotting.use_log_axis("tau", [1e-3, 2e-2])            # 20x > 10x
  assert not plotting.use_log_axis("tau", [1e-3, 1e-2])        # 10x exactly
  assert not plotting.use_log_axis("discount", [0.9, 0.99])
  assert not plotting.use_log_axis("entropy_coef", [0.0, 0.01])  # has a 0
  assert plotting.label("eval/episode_return") == (
      "evaluation return")
  assert plotting.label("env_steps") == "env steps"


def test_progress_line_reports_best_and_worst_setting():
  metrics = {"eval/episode_return": np.array([10., 30., 100., 200., 1., 3.])}
  settings = [("lr=0.01", [0, 1]), ("lr=0.001", [2, 3]),
              ("lr=0.0001", [4, 5])]
  line = hlog.progress_line(1, 4, 100, 400, metrics, 1000.0, 3.0,
                            settings=settings)
  # Means per setting: 20, 150, 2.
  assert "eval best 150.0 (lr=0.001) worst 2.0 (lr=0.0001) of 3 settings" \
      in line
  plain = hlog.progress_line(1, 4, 100, 400, metrics, 1000.0, 3.0)
  assert "best" not in plain and "eval 57.3" in plain


def _fake_run(workdir, env, finals, settings=None):
  """A run directory with metrics.jsonl (2 periods) and summary.json."""
  os.makedirs(workdir)
  finals = list(finals)
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for period, scale in ((1, 0.5), (2, 1.0)):
      f.write(json.dumps({
          "period": period, "env_steps": [100.0 * period] * len(finals),
          "eval/episode_return": [scale * x for x in finals]}) + "\n")
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump({"env": env}, f)
  if settings:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump({"settings": settings}, f)


def test_haikurl_plot_draws_curves_per_setting_and_a_profile(tmp_path,
                                                             capsys):
  a, b, c = (str(tmp_path / n) for n in "abc")
  _fake_run(a, "gymnax:CartPole-v1", [100., 200., 300., 400.])
  _fake_run(b, "gymnax:CartPole-v1", [10., 20., 30., 40., 50., 60.], [
      {"setting": 0, "values": {"learning_rate": 1e-3}, "members": [0, 1, 2],
       "seeds": [0, 1, 2]},
      {"setting": 1, "values": {"learning_rate": 3e-4}, "members": [3, 4, 5],
       "seeds": [0, 1, 2]}])
  _fake_run(c, "gymnax:Acrobot-v1", [-500., -100., -90., -80.])
  groups = plotting.run_groups(b, 6)
  assert [g.members for g in groups] == [[0, 1, 2], [3, 4, 5]]
  assert [g.members for g in plotting.run_groups(a, 4)] == [[0, 1, 2, 3]]
  out = str(tmp_path / "curves.png")
  assert plotting.main([a, b, "--out", out]) == 0
  assert os.path.getsize(out) > 0
  profile = str(tmp_path / "profile.png")
  # Two envs: one method ("x") labels a run on each; min-max normalised.
  assert plotting.main([a, c, "--labels", "x,x", "--profile", "--out",
                        profile]) == 0
  assert os.path.getsize(profile) > 0
  # A method with different run counts on its envs cannot be stacked.
  d = str(tmp_path / "d")
  _fake_run(d, "gymnax:Acrobot-v1", [-500., -100.])
  capsys.readouterr()
  with pytest.raises(SystemExit):
    plotting.main([a, d, "--labels", "x,x", "--profile", "--out", profile])
  assert "same number of runs on every env" in capsys.readouterr().err
