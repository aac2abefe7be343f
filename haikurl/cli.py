r"""`haikurl-train`: train from a config file, with dotted overrides.

    haikurl-train --config=configs/ppo.py:CartPole-v1 \
        --config.agent.learning_rate=3e-4 --config.num_seeds=4 \
        --workdir=runs/ppo

The config file's `get_config(arg)` may set only some of the agent's keys:
the rest take the agent's defaults, and any of them can be overridden.
`config.agent.name` is a registered agent or the dotted module path of your
own (`my_agents.mdqn`), imported from the config file's directory, the
current directory or sys.path.

A bad input (unknown environment, agent or preset, an override naming no
field, an impossible value) prints one line on stderr and exits with 2.
"""
import ast
import importlib.util
import logging
import os
import re
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from haikurl import distributed

CONFIG_HELP = "Config file and preset, e.g. configs/ppo.py:CartPole-v1."
_CONFIG = None  # the config flag, defined once the file is loaded (run())
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory (default runs/<agent>-<env>).")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress lines.")
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.path.join("~", ".cache", "haikurl", "xla"),
    "Directory of JAX's persistent compilation cache: a second run of the "
    "same program skips compiling. Empty to turn it off.")
_WANDB = flags.DEFINE_bool(
    "wandb", None, "Also log to Weights & Biases (needs `pip install wandb`); "
    "default: config.wandb.")
_CHECK_NUMERICS = flags.DEFINE_bool(
    "check_numerics", False, "Stop at the first NaN/inf in a learn metric or "
    "the agent's parameters, naming it and its env step (in-graph flags, "
    "read once per period); same as config.check_numerics = True.")
_CPU_THREADS = flags.DEFINE_enum(
    "cpu_threads", "auto", ["auto", "one", "all"],
    "Threads of XLA's CPU runtime: 'one' (small programs run faster without "
    "hand-offs between threads: haikurl/cpu.py), 'all' (one per core), or "
    "'auto': one when a call trains at most 8 members on one CPU device of "
    "one process, with no GPU/TPU backend installed.")
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", None, "Evaluation periods between checkpoints; 0: "
    "only at the end. Default: config.checkpoint_every. Running the same "
    "command again on a workdir with a checkpoint resumes from it.")


def _message(error: BaseException, argv=None) -> str:
  """One line from an exception: its root cause's text, unquoted."""
  chain = [error]
  while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
    chain.append(chain[-1].__cause__ or chain[-1].__context__)
  hinted = [e for e in chain if "Did you mean" in str(e)]
  error = hinted[-1] if hinted else chain[-1]
  if (not hinted and isinstance(chain[0], flags.Error) and
      str(chain[0]).startswith("flag --") and "\n" not in str(chain[0])):
    # A value that does not parse: the flag's own line names the flag.
    return str(chain[0]).strip()
  text = str(error).strip()
  if isinstance(error, OSError) and "No such file" in text:
    return "config file not found: " + text.split(": ")[-1].strip("'")
  if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
    try:
      text = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      pass
  text = " ".join(part.strip(" '\"") for part in text.splitlines() if part.strip())
  if isinstance(error, (AttributeError, KeyError)):
    text = _typo_message(text, argv if argv is not None else sys.argv)
  return text or type(error).__name__


def _typo_message(text: str, argv) -> str:
  """'config.agent has no field learning_rte (--config.agent.learning_rte=1);
  did you mean config.agent.learning_rate?' from config_flags' KeyError."""
  match = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
  if not match:
    # No close field name: still say which override named no field.
    for arg in argv:
      name = arg.split("=", 1)[0]
      if name.startswith("--config.") and name.endswith(f".{text}"):
        parent = name[2:-len(text) - 1]
        return f"{parent} has no field {text!r} (in {name})."
    return f"the config has no field {text}"
  good, bad = match.groups()
  for arg in argv:
    name = arg.split("=", 1)[0]
    if not name.startswith("--config."):
      continue
    parts = name[2:].split(".")
    if bad in parts:
      parent = ".".join(parts[:parts.index(bad)])
      return (f"{parent} has no field {bad!r} (in {name}); did you mean "
              f"{parent}.{good}?")
  return f"the config has no field {bad!r}; did you mean {good!r}?"


def fail(message: str) -> None:
  print(f"haikurl-train: error: {message}", file=sys.stderr)
  sys.exit(2)


def _enable_compilation_cache(path: str) -> None:
  """JAX's own persistent cache; JAX_COMPILATION_CACHE_DIR wins if set."""
  if not path or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))


def _config_arg(argv):
  """(the value of --config, argv without it); value None if absent."""
  rest, value = [argv[0]], None
  i = 1
  while i < len(argv):
    arg = argv[i]
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value, i = argv[i + 1], i + 1
    else:
      rest.append(arg)
    i += 1
  return value, rest


def load_config(spec: str):
  """The config `path[:arg]` names, every agent key filled in and locked.

  The file's directory goes on sys.path first (a dotted agent name finds a
  module beside its config file), then `get_config(arg)` runs and the
  agent's defaults fill the keys it left out.
  """
  path, sep, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise ValueError(f"config file not found: {path}")
  directory = os.path.dirname(os.path.abspath(path))
  if directory not in sys.path:
    sys.path.insert(0, directory)
  name = "haikurl_config_" + re.sub(r"\W", "_", os.path.abspath(path))
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"config file {path} has no get_config().")
  config = module.get_config(arg) if sep else module.get_config()
  if "agent" not in config or "name" not in config.agent:
    raise ValueError(f"config file {path}: config.agent.name must name an "
                     "agent, e.g. 'ppo'.")
  from haikurl import registry  # pylint: disable=g-import-not-at-top
  from haikurl import settings  # pylint: disable=g-import-not-at-top
  config = settings.complete(config, registry.lookup(config.agent.name))
  config.lock()
  return config


def _members_per_call(config) -> int:
  """How many members one compiled call of `config` trains (0: unknown)."""
  from haikurl import registry  # pylint: disable=g-import-not-at-top
  from haikurl import sweep  # pylint: disable=g-import-not-at-top
  try:
    hparams_cls = registry.lookup(config.agent.name).HParams
    members = len(sweep.settings(config, hparams_cls)) * int(config.num_seeds)
  except Exception:  # pylint: disable=broad-except
    return 0  # a bad sweep: experiment.run says why, in one line
  if config.get("member", -1) not in (None, -1):
    members = 2  # a rerun of one member trains it in a batch of 2
  chunk = int(config.get("chunk_size", 0) or 0)
  return min(members, chunk) if chunk > 0 else members


def _start_backend(config) -> None:
  """Starts JAX's backend with the CPU thread pool --cpu_threads asks."""
  from haikurl import cpu  # pylint: disable=g-import-not-at-top
  from haikurl import loop  # pylint: disable=g-import-not-at-top
  choice = _CPU_THREADS.value
  try:
    data_parallel = loop.data_parallel(config)
  except ValueError:
    return  # experiment.run says why, in one line
  started = cpu.start_backend(choice, _members_per_call(config),
                              data_parallel,
                              2 if distributed.requested() else 1)
  if not started and choice == "one" and cpu.pool_threads() > 1:
    print("haikurl-train: --cpu_threads=one has no effect here (JAX's backend "
          "had started, or one core only); the pool has "
          f"{cpu.pool_threads()} thread(s).", file=sys.stderr, flush=True)


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  if _CONFIG is None:
    fail("--config is required, e.g. --config=configs/ppo.py:CartPole-v1")
  config = _CONFIG.value
  if _CHECK_NUMERICS.value:
    with config.unlocked():
      config.check_numerics = True
  workdir = _WORKDIR.value or os.path.join(
      "runs", f"{config.agent.name}-{config.env.split(':')[-1]}")
  from haikurl import checkpoint  # pylint: disable=g-import-not-at-top
  from haikurl import interrupts  # pylint: disable=g-import-not-at-top
  _enable_compilation_cache(_CACHE.value)
  _start_backend(config)
  from haikurl import experiment  # pylint: disable=g-import-not-at-top
  try:
    summary = experiment.run(config, workdir, quiet=_QUIET.value,
                             wandb=_WANDB.value,
                             checkpoint_every=_CHECKPOINT_EVERY.value)
  except interrupts.Interrupted as e:
    print(f"haikurl-train: {e}", file=sys.stderr, flush=True)
    sys.exit(130)
  except (ValueError, checkpoint.CheckpointError) as e:
    fail(str(e))
  except FloatingPointError as e:  # config.check_numerics found a NaN/inf
    print(f"haikurl-train: error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  line = (f"done: {summary['env_steps']:,} "
          f"{summary.get('step_unit', 'env steps')} x "
          f"{summary['num_members']} member(s) in "
          f"{summary['wall_seconds']:.1f} s "
          f"(compile {summary['compile_seconds']:.1f} s, "
          f"{summary['steps_per_second']:,.0f} steps/s)")
  if "best_setting" in summary:
    best = summary["best_setting"]
    line += (f"; best setting {best['values']}: final eval return "
             f"{best['final_eval_return_mean']:.1f} (mean of "
             f"{best['num_seeds']} seed(s))")
  elif "final_eval_return_mean" in summary:
    line += (f"; final eval return {summary['final_eval_return_mean']:.1f} "
             f"per member {[round(x, 1) for x in summary['final_eval_return_per_member']]}")
  if summary.get("eval_protocol"):
    line += f" (evaluation: {summary['eval_protocol']})"
  print(line, flush=True)
  print(f"results in {workdir}", flush=True)


def run():
  """Console-script entry point."""
  # Config files are given by path; make the current directory importable so
  # `configs/...` files find their siblings.
  sys.path.insert(0, os.getcwd())
  global _CONFIG
  if any(a in ("-h", "-?", "--help", "--helpshort") for a in sys.argv[1:]):
    print(__doc__)
    print(f"  --config: {CONFIG_HELP}")
    print(flags.FLAGS.module_help(__name__))
    sys.exit(0)
  # JAX logs at INFO that it found no TPU ("Unable to initialize backend
  # 'tpu'") when it picks a backend; absl's handler would print it beside
  # the one line an error gets.
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
  app.define_help_flags()  # --helpfull, which app.run would define
  spec, argv = _config_arg(sys.argv)
  # A multi-process run (HAIKURL_DISTRIBUTED=1, haikurl.distributed) starts
  # jax.distributed before the config's agent and envs start JAX's backend.
  distributed.initialize_distributed()
  try:
    if spec is not None:
      # Loaded before the overrides are parsed, so that they may name any
      # of the agent's settings, also those the file left out.
      _CONFIG = config_flags.DEFINE_config_dict(
          "config", load_config(spec), CONFIG_HELP, lock_config=True,
          sys_argv=argv)
    remaining = flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    # A flag error, a config file that fails to load, a preset it rejects or
    # an override naming no field: one line, no traceback.
    fail(_message(e, argv))
  app.run(main, argv=argv, flags_parser=lambda _: remaining)


if __name__ == "__main__":
  run()
