"""Every script in examples/ runs with its small budget (`--small`)."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.py")))


def test_examples_are_scripts_not_a_package():
  # dm-haiku installs a top-level package named `examples`.
  assert not os.path.exists(os.path.join(ROOT, "examples", "__init__.py"))
  assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_runs_with_a_small_budget(path, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
  result = subprocess.run([sys.executable, path, "--small"], cwd=tmp_path,
                          env=env, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, (result.stdout[-2000:] +
                                  result.stderr[-4000:])
  assert "Traceback" not in result.stderr
  assert result.stdout.strip()


def test_own_loop_learns_cartpole(tmp_path):
  # examples/own_loop.py with the CartPole preset's budget (98,304 steps):
  # the mean greedy return over 32 episodes reaches 400 (of 500). About
  # 18 s on a loaded 2-core CPU, most of it compiling.
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  path = os.path.join(ROOT, "examples", "own_loop.py")
  result = subprocess.run([sys.executable, path], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-4000:]
  greedy = float(result.stdout.rsplit("greedy return", 1)[1].strip())
  assert greedy >= 400, result.stdout
