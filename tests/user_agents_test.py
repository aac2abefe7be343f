"""Agents from a user's own files, outside the repository, through
`haikurl-train`: examples/munchausen (a DQN loss with two traced
coefficients) and examples/upgo (a PPO advantage with one).

Each test copies the example's two files (the agent module and its config)
into a fresh directory, runs the CLI there, and sweeps the variant's own
coefficient in one program.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(cwd, *args, timeout=900):
  env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
  return subprocess.run(
      [sys.executable, "-m", "haikurl.cli", "--config=config.py",
       "--compilation_cache=", "--quiet", *args],
      cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def copy_example(name, tmp_path):
  where = tmp_path / "elsewhere"
  shutil.copytree(os.path.join(ROOT, "examples", name), where)
  return where


@pytest.mark.slow
@pytest.mark.parametrize("example,key,values,steps", [
    ("munchausen", "alpha", "(0.0, 0.9)", 32_768),
    ("upgo", "upgo_coef", "(0.0, 0.5)", 16_384),
])
def test_a_variant_in_its_own_file_trains_and_sweeps_its_coefficient(
    example, key, values, steps, tmp_path):
  cwd = copy_example(example, tmp_path)
  result = run_cli(cwd, f"--config.sweep.{key}={values}",
                   f"--config.total_env_steps={steps}",
                   f"--config.eval_every={steps // 2}",
                   "--config.num_eval_episodes=8", "--workdir=run")
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads((cwd / "run" / "summary.json").read_text())
  assert summary["num_members"] == 2       # one program, two settings
  with open(cwd / "run" / "sweep.csv") as f:
    rows = list(csv.DictReader(f))
  assert sorted(float(r[key]) for r in rows) == sorted(eval(values))
  # Both settings learn: CartPole's random policy scores about 22.
  returns = [float(r["final_eval_return"]) for r in rows]
  assert min(returns) > 60, rows


def test_a_misspelt_key_in_a_user_config_is_one_line(tmp_path):
  cwd = copy_example("munchausen", tmp_path)
  config = (cwd / "config.py").read_text().replace("alpha=", "alpah=")
  (cwd / "config.py").write_text(config)
  result = run_cli(cwd, "--workdir=run", timeout=300)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("haikurl-train: error: agent 'mdqn' has no "
                              "setting 'alpah'"), result.stderr
  assert "did you mean 'alpha'?" in lines[-1]


def test_an_override_of_a_key_the_user_config_left_out_works(tmp_path):
  # The config lists three keys; the override names one of DQN's defaults.
  cwd = copy_example("munchausen", tmp_path)
  result = run_cli(cwd, "--config.agent.discount=0.9",
                   "--config.agent.learning_rte=1", "--workdir=run",
                   timeout=300)
  assert result.returncode == 2
  assert "did you mean config.agent.learning_rate" in result.stderr, \
      result.stderr
