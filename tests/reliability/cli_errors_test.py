"""Every bad input to `haikurl-train` gets one line on stderr and status 2,
before anything of ours is compiled.

Each case runs the real CLI in a subprocess with JAX's compile log on
(`JAX_LOG_COMPILES=1`). The only compilations allowed are JAX's eager
dispatch of single operations while the environment, the default
hyperparameters and the members' keys are built (and gymnax's own at
import): no jitted program
(init, period, train, an agent's act or learn) is ever compiled. Speed is
not asserted here (it depends on the machine); docs/reliability.md records
the times measured.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# JAX's eager dispatch of one primitive compiles a one-op program named after
# it; these are the only ones building a config may trigger.
EAGER_OPS = {
    "convert_element_type", "stage", "_threefry_seed", "_threefry_split",
    "broadcast_in_dim", "iota", "concatenate", "reshape", "squeeze",
    "random_bits", "random_seed", "random_wrap", "random_unwrap", "full",
    "_where", "clip", "add", "mul", "sub", "div", "neg", "exp", "log",
    "select_n", "asarray", "array", "_reduce_max", "_reduce_min", "_mean",
    "_reduce_sum", "copy", "integer_pow", "pow", "sqrt", "_linspace",
    "linspace", "zeros_like", "_uniform", "_normal", "_split", "_fold_in",
    "dynamic_slice", "gather", "transpose", "dot_general", "eq", "ne", "lt",
    "gt", "le", "ge", "max", "min", "tanh", "abs", "cos", "sin", "log1p",
}
# Our programs, by the name jit gives them: none may be compiled.
OUR_PROGRAMS = {"init", "period", "train", "__call__", "_iteration", "act",
                "learn", "evaluate", "update", "step", "reset"}
_JAX_LOG = re.compile(r"(Finished tracing|Compiling |Finished jaxpr|"
                      r"Finished XLA compilation|Persistent compilation|"
                      r"compilation cache|Not writing persistent cache)")
_COMPILED = re.compile(r"Compiling (?:jit\()?([^\s)]+)\)?")


def run_cli(args, workdir=None, python_prefix=None, tmp_path=None,
            platforms="cpu"):
  """Runs haikurl-train; returns (rc, error lines, compiled names, seconds,
  stdout). `platforms=None` leaves JAX_PLATFORMS unset, so JAX probes its
  backends as on a user's machine."""
  env = dict(os.environ, JAX_LOG_COMPILES="1")
  env.pop("JAX_PLATFORMS", None)
  if platforms:
    env["JAX_PLATFORMS"] = platforms
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  argv = list(args) + ["--quiet", "--compilation_cache="]
  if workdir is not None:
    argv.append(f"--workdir={workdir}")
  code = (python_prefix or "") + (
      "import sys; from haikurl import cli; sys.argv = ['haikurl-train'] + "
      f"{argv!r}; cli.run()")
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  seconds = time.perf_counter() - start
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  compiled = [m.group(1) for l in lines for m in [_COMPILED.search(l)]
              if "Compiling " in l and m]
  errors = [l for l in lines if not _JAX_LOG.search(l)]
  return proc.returncode, errors, compiled, seconds, proc.stdout


def _checkpoint_of_other_config(workdir):
  """A workdir holding a checkpoint of PPO with another learning rate."""
  sys.path.insert(0, ROOT)
  import numpy as np  # pylint: disable=g-import-not-at-top
  from configs import ppo as ppo_config  # pylint: disable=g-import-not-at-top
  from haikurl import checkpoint  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  config = ppo_config.get_config("CartPole-v1")
  config.agent.learning_rate = 1e-4
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(config.to_dict(), f)
  checkpoint.save(workdir, 1, {"x": np.zeros(3, np.float32)},
                  {"rows": [], "train_seconds": 0.0, "wall_seconds": 0.0},
                  meta={"num_members": 1})


PPO = "--config=configs/ppo.py:CartPole-v1"
DQN = "--config=configs/dqn.py:CartPole-v1"
# (id, args, words the message must contain)
CASES = [
    ("unknown_env", [PPO, "--config.env=gymnax:CartPol-v1"],
     ["unknown environment", "Did you mean gymnax:CartPole-v1", "Known"]),
    ("unknown_library", [PPO, "--config.env=gym:CartPole-v1"],
     ["unknown environment library", "gymnax:"]),
    ("unknown_preset", ["--config=configs/ppo.py:CartPole-v2"],
     ["unknown preset", "CartPole-v1"]),
    ("missing_config_file", ["--config=configs/nope.py:CartPole-v1"],
     ["not found", "nope.py"]),
    ("unknown_agent", [PPO, "--config.agent.name=ppx"],
     ["unknown agent", "'ppo'", "Known agents"]),
    ("dqn_on_continuous", [DQN, "--config.env=gymnax:Pendulum-v1"],
     ["discrete", "continuous", "SAC", "TD3"]),
    ("td3_on_discrete", ["--config=configs/td3.py:Pendulum-v1",
                         "--config.env=gymnax:CartPole-v1"],
     ["continuous", "discrete", "SAC"]),
    ("negative_learning_rate", [PPO, "--config.agent.learning_rate=-1e-3"],
     ["learning_rate", "positive", "-0.001"]),
    ("sac_negative_critic_lr", ["--config=configs/sac.py:Pendulum-v1",
                                "--config.agent.critic_learning_rate=-3e-4"],
     ["critic_learning_rate", "positive"]),
    ("nan_discount", [PPO, "--config.agent.discount=nan"],
     ["discount", "finite"]),
    ("discount_above_one", [PPO, "--config.agent.discount=1.5"],
     ["discount", "[0, 1]"]),
    ("dqn_batch_above_buffer", [DQN, "--config.agent.buffer_size=1000",
                                "--config.agent.batch_size=2000"],
     ["batch_size=2000", "buffer_size=1000"]),
    ("sac_batch_above_buffer", ["--config=configs/sac.py:Pendulum-v1",
                                "--config.agent.buffer_size=1000",
                                "--config.agent.batch_size=2000"],
     ["batch_size=2000", "buffer_size=1000"]),
    ("minibatches_not_dividing", [PPO, "--config.agent.num_minibatches=7"],
     ["num_minibatches=7", "divide", "512"]),
    ("zero_envs", [PPO, "--config.agent.num_envs=0"],
     ["num_envs", "positive integer", "0"]),
    ("zero_hidden_size", [PPO, "--config.agent.hidden_sizes=(64,0)"],
     ["hidden_sizes", "positive"]),
    ("zero_total_steps", [PPO, "--config.total_env_steps=0"],
     ["total_env_steps", "positive integer"]),
    ("override_typo", [PPO, "--config.agent.learning_rte=1e-3"],
     ["config.agent has no field 'learning_rte'",
      "did you mean config.agent.learning_rate"]),
    # DDPG has no target noise, and no field is close to it.
    ("field_of_another_agent", ["--config=configs/ddpg.py:Pendulum-v1",
                                "--config.agent.target_noise=0.1"],
     ["config.agent has no field 'target_noise'",
      "--config.agent.target_noise"]),
    ("top_level_typo", [PPO, "--config.num_seed=4"],
     ["no field 'num_seed'", "num_seeds"]),
    ("override_wrong_type", [PPO, "--config.agent.num_envs=many"],
     ["num_envs"]),
    ("sweep_structural", [PPO, "--config.sweep.num_envs=(4,8)"],
     ["num_envs", "static", "cannot be swept", "learning_rate"]),
    ("sweep_bad_method", [PPO, "--config.sweep.method=bayes",
                          "--config.sweep.learning_rate=(1e-3,3e-4)"],
     ["config.sweep.method", "grid"]),
    ("unexpected_argument", [PPO, "extra"], ["unexpected arguments"]),
    ("data_parallel_replay_agent", [DQN, "--config.data_parallel=2"],
     ["config.data_parallel=2", "cannot split one member", "a2c, ppo, pqn"]),
    ("data_parallel_too_few_devices", [PPO, "--config.data_parallel=2"],
     ["needs 2 devices, found 1",
      "--xla_force_host_platform_device_count=2"]),
    ("data_parallel_envs_not_dividing", [PPO, "--config.data_parallel=3"],
     ["num_envs=16 is not a multiple of config.data_parallel=3"]),
    # Run lengths are honoured exactly or refused (16 x 32 = 512 steps per
    # iteration, 8,192 per period): never rounded.
    ("total_not_whole_periods", [PPO, "--config.total_env_steps=100"],
     ["total_env_steps=100", "whole number of evaluation periods",
      "nearest valid values: 8,192."]),
    ("eval_every_not_whole_iterations", [PPO, "--config.eval_every=1000"],
     ["eval_every=1,000", "16 x 32 = 512", "512 or 1,024"]),
    ("total_one_on_breakout", ["--config=configs/dqn.py:Breakout-MinAtar",
                               "--config.total_env_steps=1"],
     ["total_env_steps=1 ", "102,400"]),
    ("sweep_not_numbers", [PPO, "--config.sweep.learning_rate=('a','b')"],
     ["'a', 'b' are not numbers"]),
    ("bad_eval_policy", [PPO, "--config.eval_policy=argmax"],
     ["config.eval_policy", "'greedy'", "'argmax'"]),
    ("bad_sticky_actions", ["--config=configs/dqn.py:Breakout-MinAtar",
                            "--config.sticky_actions=1.5"],
     ["config.sticky_actions", "[0, 1)", "1.5"]),
]


def _check(rc, errors, compiled, words):
  assert rc == 2, errors
  assert len(errors) == 1, errors
  assert errors[0].startswith("haikurl-train: error: "), errors
  assert "Traceback" not in errors[0]
  for word in words:
    assert word in errors[0], (word, errors[0])
  # JAX's private helpers (_threefry_split, _broadcast_arrays, ...) are
  # dispatched eagerly too; ours are never named with a leading underscore
  # except _iteration, listed in OUR_PROGRAMS.
  programs = [name for name in compiled if name in OUR_PROGRAMS or
              not (name in EAGER_OPS or name.startswith("_"))]
  assert not programs, f"compiled {programs} before reporting {errors[0]}"


@pytest.mark.parametrize("name,args,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2_no_compile(name, args, words, tmp_path):
  del name
  rc, errors, compiled, seconds, _ = run_cli(args, workdir=tmp_path / "run")
  print(f"{seconds:.2f} s")
  _check(rc, errors, compiled, words)


@pytest.mark.parametrize("config", [PPO, "--config=configs/sac.py:hopper"])
def test_error_is_the_only_output_without_jax_platforms(config, tmp_path):
  # Without JAX_PLATFORMS JAX probes for a TPU and logs that it found none;
  # importing brax makes mujoco print "Failed to import warp" on stdout.
  # Neither may reach the terminal beside the error.
  rc, errors, compiled, _, stdout = run_cli(
      [config, "--config.total_env_steps=100"], workdir=tmp_path / "run",
      platforms=None)
  _check(rc, errors, compiled, ["total_env_steps=100"])
  assert stdout == "", stdout


def test_unwritable_workdir(tmp_path):
  # A path below a regular file cannot be created, even by root (file
  # permissions would not stop root, who runs CI containers).
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  rc, errors, compiled, _, _ = run_cli([PPO], workdir=blocker / "run")
  _check(rc, errors, compiled, ["cannot create --workdir", "a_file"])


def test_workdir_is_a_file(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  rc, errors, compiled, _, _ = run_cli([PPO], workdir=blocker)
  _check(rc, errors, compiled, ["not a directory"])


def test_full_disk(tmp_path):
  # The file system reports 1 MiB free: refused before compiling.
  prefix = ("import shutil, collections; U = collections.namedtuple('U', "
            "'total used free'); shutil.disk_usage = lambda p: "
            "U(2**30, 2**30 - 2**20, 2**20); ")
  rc, errors, compiled, _, _ = run_cli([PPO], workdir=tmp_path / "run",
                                       python_prefix=prefix)
  _check(rc, errors, compiled, ["1.0 MiB free", "--workdir"])


def test_disk_full_on_write(tmp_path):
  # Writing fails with ENOSPC: the message says the disk is full.
  prefix = (
      "import builtins, errno, os; _open = builtins.open\n"
      "def _full(path, mode='r', *a, **k):\n"
      "  if 'write-test' in str(path):\n"
      "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))\n"
      "  return _open(path, mode, *a, **k)\n"
      "builtins.open = _full\n")
  rc, errors, compiled, _, _ = run_cli([PPO], workdir=tmp_path / "run",
                                       python_prefix=prefix)
  _check(rc, errors, compiled, ["disk is full"])


def test_workdir_of_another_config_is_refused(tmp_path):
  workdir = tmp_path / "run"
  _checkpoint_of_other_config(str(workdir))
  rc, errors, compiled, _, _ = run_cli([PPO], workdir=workdir)
  _check(rc, errors, compiled, ["different config", "learning_rate"])


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_our_flags_and_exits_0(flag):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  code = ("import sys; from haikurl import cli; "
          f"sys.argv = ['haikurl-train', {flag!r}]; cli.run()")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  for words in ("--config", "--workdir", "--checkpoint_every",
                "configs/ppo.py:CartPole-v1 \\"):
    assert words in proc.stdout
