"""The shared harness of the side-by-side benchmarks.

Every benchmark that puts haikurl beside a peer (rejax, PureJaxRL) prints,
as its last line, one JSON line built by `report`:

- each side's steps/s: the median over `--repeats` runs of one compiled
  program (each repeat's figure listed), compile (lower + compile) apart,
  and their ratio;
- the evaluation protocol of each side: by default evaluation is off on
  both sides (`EVAL_OFF`; ours: no callback, rejax: `--no_eval` of
  benchmarks/rejax_side.py). With each side's own evaluation (`--with_eval`)
  the two sides do unequal work: an evaluation episode lasts as long as the
  policy survives, so the better learner is charged more (REFERENCE.md);
- the 1-minute load average at the start and at the end;
- our loop's ceilings measured in the same process (`ceilings`): the env
  alone, the agent's `act` alone and its `learn` alone, and the loop ceiling
  they imply, with each side's share of it.

    start = common.loadavg()
    ours = common.time_haikurl(common.without_evaluation(config), 1, 3,
                               callbacks={})
    theirs = common.run_rejax("ppo", 1, 3, "--no_eval")
    rows = [common.row(ours, theirs, common.ceilings(config))]
    print(json.dumps(common.report("ppo_cartpole", rows, start,
                                   common.evaluation_off())))
"""
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

# pylint: disable=g-import-not-at-top,wrong-import-position
import dots  # benchmarks/dots.py
import haikurl
from haikurl import cpu
from haikurl import offline
from haikurl import offpolicy
from haikurl import types
# pylint: enable=g-import-not-at-top,wrong-import-position

# The benchmark venv's Python (rejax, PureJaxRL); HAIKURL_BENCH_PYTHON
# points at another (e.g. a worktree using the main checkout's venv).
REJAX_PYTHON = os.environ.get(
    "HAIKURL_BENCH_PYTHON", os.path.join(ROOT, "bench_venv", "bin", "python"))

# Env steps per seed that each ceiling measures (rounded up to whole
# iterations of the loop).
CEILING_STEPS = 16_384

EVAL_OFF = "off on both sides"
EVAL_OWN = ("each side's own evaluation (unequal work: evaluation episodes "
            "last as long as the policy survives, so the better learner is "
            "charged more)")
OURS_OFF = "none (no callback; one period as long as the run)"
REJAX_OFF = ("none (eval_freq = total_timesteps, no initial evaluation, a "
             "callback that does no work)")


def loadavg() -> float:
  """The 1-minute load average, rounded."""
  return round(os.getloadavg()[0], 2)


def add_flags(parser, peer: str = "rejax", repeats: Optional[int] = 3,
              repeats_help: str = "", with_eval: bool = True) -> None:
  """The flags every side-by-side benchmark takes (`--no_<peer>` unless
  `peer` is empty, `--with_eval` where the peer has an evaluation)."""
  parser.add_argument("--repeats", type=int, default=repeats,
                      help="timed runs per side (steps/s is their median)" +
                      (f"; {repeats_help}" if repeats_help else ""))
  if peer:
    parser.add_argument(f"--no_{peer}", action="store_true",
                        help=f"our side only (no {peer} run)")
  if with_eval:
    parser.add_argument("--with_eval", action="store_true",
                        help="each side with its own evaluation, UNEQUAL "
                        "work (default: evaluation off on both sides)")
  parser.add_argument("--ceiling_steps", type=int, default=CEILING_STEPS,
                      help="env steps per seed of each ceiling (0: none)")
  parser.add_argument("--cpu_threads", choices=("auto", "one", "all"),
                      default="auto",
                      help="our side's XLA CPU pool, as haikurl-train's "
                      "flag: 'auto' is one thread for at most 8 members "
                      "(haikurl/cpu.py)")
  if peer:
    parser.add_argument("--peer_cpu_threads", choices=("all", "one"),
                        default="all",
                        help=f"{peer}'s XLA CPU pool: 'all' as it ships "
                        "(one thread per core), 'one' as ours (the same "
                        "start-up as haikurl/cpu.py)")


# Extra arguments of the peer's side script (`--cpu_threads one`), set by
# `start_runtime`.
PEER_ARGS = []


def start_runtime(args, max_members: int) -> int:
  """Starts JAX's backend with the CPU pool `args.cpu_threads` asks
  (haikurl-train's policy for 'auto', with `max_members` the largest batch
  the benchmark runs); call it right after parsing, before any JAX array
  exists. Returns the pool's thread count."""
  cpu.start_backend(getattr(args, "cpu_threads", "auto"), max_members)
  jax.devices()
  if getattr(args, "peer_cpu_threads", "all") == "one":
    PEER_ARGS[:] = ["--cpu_threads", "one"]
  return cpu.pool_threads()


def without_evaluation(config):
  """A copy of `config` with one evaluation period as long as the run
  (pass `callbacks={}` to `make_train` too: no evaluation at all)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.eval_every = config.total_env_steps
  return config


def time_haikurl(config, num_seeds: int, repeats: int, callbacks=None):
  """Compiles jit(vmap(train)) once and times `repeats` runs.

  Returns:
    dict with compile_seconds, seconds (per repeat), steps_per_second
    (median), the evaluation done (in words), and with evaluation
    final_eval_return (mean over seeds of the last repeat) and the eval
    curve [seeds, num_evals] of the last repeat.
  """
  train = haikurl.make_train(config, callbacks=callbacks)
  keys = jax.random.split(jax.random.key(0), num_seeds)
  hp = haikurl.hparams.broadcast(train.default_hparams, num_seeds)
  start = time.perf_counter()
  compiled = jax.jit(jax.vmap(train)).lower(keys, hp).compile(
      compiler_options=haikurl.compiler_options())
  compile_seconds = time.perf_counter() - start
  times, cpu_times, metrics = [], [], None
  for r in range(repeats):
    keys = jax.random.split(jax.random.key(r), num_seeds)
    start, cpu_start = time.perf_counter(), time.process_time()
    _, metrics = compiled(keys, hp)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  steps = train.total_env_steps * num_seeds
  evaluated = "eval" in train.callbacks
  out = {"impl": "haikurl", "seeds": num_seeds,
         "total_timesteps": train.total_env_steps,
         "compile_seconds": compile_seconds, "seconds": times,
         # This process's CPU time (all its threads): steadier than wall
         # time on a shared machine.
         "cpu_seconds": cpu_times,
         "steps_per_second": steps / statistics.median(times),
         "evaluation": (f"greedy evaluation ({train.eval_protocol}) every "
                        f"{train.steps_per_eval:,} env steps" if evaluated
                        else OURS_OFF if not train.callbacks
                        else f"callbacks {sorted(train.callbacks)}")}
  if "eval/episode_return" in metrics:
    curve = np.asarray(metrics["eval/episode_return"])
    out["final_eval_return"] = float(curve[:, -1].mean())
    out["curve"] = curve
    out["env_steps"] = np.asarray(metrics["env_steps"])[0]
  return out


def time_side(config, num_seeds: int, repeats: int, evaluation: bool):
  """Our side: `time_haikurl` with the run's own evaluation, or with none
  (`without_evaluation`, no callbacks)."""
  if evaluation:
    return time_haikurl(config, num_seeds, repeats)
  return time_haikurl(without_evaluation(config), num_seeds, repeats,
                      callbacks={})


def run_peer(script: str, *args: str):
  """Runs benchmarks/<script> in the benchmark venv and returns its last
  JSON line; None (and a line on stderr) without the venv or on failure."""
  if not os.path.exists(REJAX_PYTHON):
    print(f"(no {REJAX_PYTHON}: skipping {script}; create it with `python3 "
          "-m venv bench_venv && bench_venv/bin/pip install rejax "
          "gymnax==0.0.9`, or set HAIKURL_BENCH_PYTHON)", file=sys.stderr)
    return None
  cmd = [REJAX_PYTHON, os.path.join(ROOT, "benchmarks", script), *args,
         *PEER_ARGS]
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if out.returncode != 0:
    print(out.stderr[-2000:], file=sys.stderr)
    return None
  return json.loads(out.stdout.strip().splitlines()[-1])


def run_rejax(algo: str, seeds: int, repeats: int, *extra: str):
  """Runs benchmarks/rejax_side.py in the benchmark venv; None without it."""
  return run_peer("rejax_side.py", "--algo", algo, "--seeds", str(seeds),
                  "--repeats", str(repeats), *extra)


def rejax_side(algo: str, seeds: int, repeats: int, total_timesteps: int,
               evaluation: bool, skip: bool = False, eval_every: int = 0):
  """rejax on `total_timesteps` per seed, its evaluation off unless
  `evaluation` (then every `eval_every` env steps: ours, or its config's);
  None when `skip` or without bench_venv."""
  if skip:
    return None
  extra = ["--total_timesteps", str(total_timesteps)]
  if not evaluation:
    extra.append("--no_eval")
  elif eval_every:
    extra += ["--eval_freq", str(eval_every)]
  return run_rejax(algo, seeds, repeats, *extra)


def warmup_iterations(train) -> int:
  """Iterations before `learn` learns: an off-policy agent's
  `learning_starts` (and a full batch in its buffer); 0 for the others."""
  settings = train.settings
  starts = getattr(settings, "learning_starts", None)
  if starts is None:
    return 0
  starts = max(int(starts), int(getattr(settings, "batch_size", 0)))
  return -(-starts // train.steps_per_iteration)


def _compile_and_time(fn, args, repeats: int):
  """(compile seconds, median seconds, median CPU seconds of this process)
  of `jax.jit(fn)(*args)`."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile(
      compiler_options=haikurl.compiler_options())
  compile_seconds = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))  # a first call, not timed
  times, cpu_times = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  return (compile_seconds, statistics.median(times),
          statistics.median(cpu_times))


def _sums(tree):
  """Each floating or integer leaf summed: keeps a scan's outputs live
  without carrying them out."""
  return jax.tree.map(lambda x: jnp.sum(x.astype(jnp.float32)), tree)


def _same_over_seeds(x) -> bool:
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return bool(jnp.all(x == x[:1]))


def _unbatch(tree):
  """(tree, in_axes) for `jax.vmap`: leaves equal over the seeds (axis 0)
  given once, unmapped, as the loop's vmap has them (an off-policy
  buffer's counters, made from constants); the others mapped."""
  leaves, treedef = jax.tree.flatten(tree)
  same = [_same_over_seeds(x) for x in leaves]
  return (treedef.unflatten([x[0] if s else x for x, s in zip(leaves, same)]),
          treedef.unflatten([None if s else 0 for s in same]))


def ceilings(config, num_seeds: int = 1, steps: int = CEILING_STEPS,
             repeats: int = 3, dot_floor: bool = True) -> dict:
  """Our loop's ceilings for `config`, measured in this process.

  The run's own Train (`haikurl.make_train(config, callbacks={})`, vmapped
  over `num_seeds` as the benchmarks run it) is first brought past its
  warm-up (`warmup_iterations`, by the loop's own iterations) and rolls out
  `n = ceil(steps / steps_per_iteration)` iterations' trajectories with its
  own `rollout`; then, each in a `lax.scan` jitted apart (compile timed
  apart, median of `repeats` runs):

  - env: the env alone (`num_envs` per seed), n x rollout_length steps
    under uniform random actions;
  - act: the agent's act over those n x rollout_length batches of the
    env's observations (as many calls as the loop makes per update, n
    times), its extras kept;
  - learn: n calls of the agent's learn, one per trajectory
    [rollout_length, num_envs], as the loop gives them.

  Each is reported as env steps/s (n x steps_per_iteration x num_seeds
  over the median seconds). The learning loop ceiling is 1 / (the sum of
  the three per-step times): a loop that only stepped, acted and learned,
  with no cost of its own. The loop ceiling (`loop_steps_per_second`, what
  the shares are of) is the whole run's: its warm-up steps (an off-policy
  agent's first `learning_starts`) step and act without learning (their
  buffer writes not counted), the others cost all three. Evaluation is
  never in it (with `--with_eval` a side's share includes its evaluation).

  With `dot_floor`, "dots" is the floor under learn (benchmarks/dots.py):
  the env steps/s of its matrix products alone, each timed alone, and
  their GFLOP/s inside learn against the best any reached alone.

  Each part, scanned alone, pays the scan's own cost per iteration (a few
  microseconds on a CPU); on tiny work per step (a few envs, a small net,
  a gradient step per call) that cost is a large part of each, the sum
  counts it three times, and the loop itself can run faster than this
  "ceiling". On the benchmarks' work it is small.

  Raises:
    ValueError: for an offline agent (no env steps) or data_parallel > 1.
  """
  train = haikurl.make_train(config, callbacks={})
  if offline.is_offline(train.agent_module):
    raise ValueError("ceilings: an offline agent takes no env steps.")
  if train.data_parallel != 1:
    raise ValueError(f"ceilings need config.data_parallel=1, got "
                     f"{train.data_parallel}.")
  agent, env = train.agent, train.env
  rollout_length = train.settings.rollout_length
  calls = max(1, -(-steps // train.steps_per_iteration))
  warmup = warmup_iterations(train)
  keys = jax.random.split(jax.random.key(0), num_seeds)
  hp = haikurl.hparams.broadcast(train.default_hparams, num_seeds)

  def prepare(key, hp):
    state = train.init(key, hp)
    iteration = train._iteration  # pylint: disable=protected-access
    state, _ = jax.lax.scan(lambda s, _: iteration(s, hp), state, None,
                            length=warmup)

    def collect(state, key):
      (env_state, timestep, carry), (trajectory, _) = train.rollout(
          state, key, hp)
      return state._replace(env_state=env_state, timestep=timestep,
                            actor_carry=carry), trajectory
    return jax.lax.scan(collect, state, jax.random.split(state.key, calls))

  def env_alone(env_state, key):
    def step(env_state, key):
      act_key, step_key = jax.random.split(key)
      action = offpolicy.uniform_action(act_key, env.spec, env.num_envs)
      env_state, timestep = env.step(env_state, action, step_key)
      return env_state, _sums((timestep.reward, timestep.observation))
    return jax.lax.scan(step, env_state,
                        jax.random.split(key, calls * rollout_length))[1]

  def act_alone(agent_state, carry, obs, key, hp):
    fresh = carry

    def step(carry, xs):
      obs, key = xs
      action, core, extras = types.act(agent, agent_state, carry, obs, key,
                                       hp, False)
      no = jnp.zeros(action.shape[:1], jnp.bool_)
      carry = types.next_carry(carry, core, action, no.astype(jnp.float32),
                               no, fresh)
      return carry, _sums((action, extras))
    return jax.lax.scan(step, carry, (obs, jax.random.split(
        key, obs.shape[0])))[1]

  def learn_alone(agent_state, trajectories, key, hp):
    def step(agent_state, xs):
      trajectory, key = xs
      return agent.learn(agent_state, trajectory, key, hp)
    return jax.lax.scan(step, agent_state, (trajectories, jax.random.split(
        key, calls)))

  state, trajectories = jax.block_until_ready(jax.jit(jax.vmap(prepare))(
      keys, hp))
  # [seeds, n, T, N, ...] -> [seeds, n * T, N, ...]
  obs = jax.tree.map(lambda x: x.reshape((x.shape[0], -1) + x.shape[3:]),
                     trajectories.obs)
  env_state, agent_state, actor_carry, obs, trajectories = (
      _unbatch(x) for x in (state.env_state, state.agent_state,
                            state.actor_carry, obs, trajectories))
  seconds, cpu_seconds, compile_seconds, vmapped = {}, {}, {}, {}
  for name, fn, args in (
      ("env", env_alone, (env_state, (keys, 0))),
      ("act", act_alone, (agent_state, actor_carry, obs, (keys, 0),
                          (hp, 0))),
      ("learn", learn_alone, (agent_state, trajectories, (keys, 0),
                              (hp, 0)))):
    values, axes = zip(*args)
    vmapped[name] = (jax.vmap(fn, in_axes=axes), values)
    compile_seconds[name], seconds[name], cpu_seconds[name] = (
        _compile_and_time(*vmapped[name], repeats))
  measured = calls * train.steps_per_iteration * num_seeds
  floor = (dots.learn_floor(*vmapped["learn"], measured, seconds["learn"])
           if dot_floor else None)
  rate = {name: measured / s for name, s in seconds.items()}
  per_step = {name: 1.0 / r for name, r in rate.items()}
  # The run's warm-up steps act and step but do not learn.
  total = train.total_env_steps
  warm = min(warmup * train.steps_per_iteration, total)

  def run_rate(per_step):
    return total / (total * (per_step["env"] + per_step["act"]) +
                    (total - warm) * per_step["learn"])
  cpu_per_step = {name: s / measured for name, s in cpu_seconds.items()}
  return {"seeds": num_seeds, "env_steps_per_seed": measured // num_seeds,
          "warmup_iterations": warmup, "repeats": repeats,
          "env_steps_per_second": round(rate["env"], 1),
          "act_steps_per_second": round(rate["act"], 1),
          "learn_steps_per_second": round(rate["learn"], 1),
          "learning_loop_steps_per_second": round(
              1.0 / sum(per_step.values()), 1),
          "loop_steps_per_second": round(run_rate(per_step), 1),
          # The same of this process's CPU time: steadier than wall time on
          # a shared machine (compare with a side's steps_per_cpu_second).
          "loop_steps_per_cpu_second": round(run_rate(cpu_per_step), 1),
          "compile_seconds": {k: round(v, 2)
                              for k, v in compile_seconds.items()},
          **({"dots": floor} if floor is not None else {})}


def side(result):
  """One side's figures for a row: steps/s per repeat and their median,
  compile apart. `result` as `time_haikurl` or a peer script returns it."""
  if result is None:
    return None
  steps = result["total_timesteps"] * result.get("seeds", 1)
  each = [steps / s for s in result["seconds"]]
  out = {"steps_per_second": round(statistics.median(each), 1),
         "steps_per_second_each": [round(x, 1) for x in each],
         "repeats": len(each),
         "compile_seconds": round(result["compile_seconds"], 2),
         "seconds": [round(s, 3) for s in result["seconds"]],
         "total_timesteps_per_seed": result["total_timesteps"]}
  if result.get("cpu_seconds"):
    out["steps_per_cpu_second"] = round(statistics.median(
        [steps / s for s in result["cpu_seconds"]]), 1)
  if result.get("final_eval_return") is not None:
    out["final_eval_return"] = round(result["final_eval_return"], 1)
  return out


def row(ours, peer=None, ceiling=None, peer_name: str = "rejax",
        **fields) -> dict:
  """One comparison: both sides (`side`), our/peer ratio, our ceilings and
  each side's share of the loop ceiling; `fields` added as they are."""
  mine, theirs = side(ours), side(peer)
  out = {"seeds": ours.get("seeds", 1), "haikurl": mine, peer_name: theirs,
         f"ratio_haikurl_over_{peer_name}": (
             round(mine["steps_per_second"] / theirs["steps_per_second"], 3)
             if theirs else None)}
  if ceiling is not None:
    loop = ceiling["loop_steps_per_second"]
    out["ceilings"] = ceiling
    out["share_of_loop_ceiling"] = {
        "haikurl": round(mine["steps_per_second"] / loop, 3),
        peer_name: (round(theirs["steps_per_second"] / loop, 3)
                    if theirs else None)}
    if "steps_per_cpu_second" in mine and ceiling.get(
        "loop_steps_per_cpu_second"):
      out["share_of_loop_ceiling"]["haikurl_cpu_time"] = round(
          mine["steps_per_cpu_second"] / ceiling["loop_steps_per_cpu_second"],
          3)
  out.update(fields)
  return out


def evaluation(on: bool, ours=None, peer=None, peer_name: str = "rejax"):
  """The evaluation protocol of the benchmark, on each side: off on both
  sides unless `on`; `ours` / `peer` are result dicts (their "evaluation"
  in words, when they say)."""
  def said(result, default):
    return (result or {}).get("evaluation") or default
  if not on:
    return {"protocol": EVAL_OFF, "haikurl": said(ours, OURS_OFF),
            peer_name: said(peer, REJAX_OFF)}
  return {"protocol": EVAL_OWN, "haikurl": said(ours, "its own"),
          peer_name: said(peer, "its own")}


def report(benchmark: str, rows, load_start: float, protocol: dict,
           **fields) -> dict:
  """The JSON line of a benchmark: its rows (`row`), the evaluation
  protocol (`evaluation`), the 1-minute load average at the start and now,
  and `fields`."""
  repeats = [v["repeats"] for r in rows for v in r.values()
             if isinstance(v, dict) and "steps_per_second_each" in v]
  return {"benchmark": benchmark, "evaluation": protocol,
          "median_of": min(repeats) if repeats else None,
          "compile": "apart (lower + compile), not in steps/s",
          "loadavg_1min": {"start": load_start, "end": loadavg()},
          "cpu_pool_threads": {"haikurl": cpu.pool_threads(),
                               "peer": "one" if PEER_ARGS else "one per core"},
          **fields, "rows": rows}


def print_rows(rows, peer_name: str = "rejax", label: str = "seeds") -> None:
  """A table of `row`s: steps/s and compile of both sides, the ratio, the
  loop ceiling and each side's share of it, and the learn step's floor
  (its matrix products alone, `dots`)."""
  nan = float("nan")
  print(f"{label:>6} {'haikurl/s':>10} {'compile':>7} {peer_name + '/s':>10} "
        f"{'compile':>7} {'ratio':>6} {'env/s':>10} {'act/s':>10} "
        f"{'learn/s':>10} {'loop/s':>10} {'share ours/' + peer_name:>18} "
        f"{'dots/s':>10}")
  for r in rows:
    mine, theirs = r["haikurl"], r.get(peer_name) or {}
    c = r.get("ceilings") or {}
    share = r.get("share_of_loop_ceiling") or {}
    shares = "/".join("-" if share.get(k) is None else f"{share[k]:.2f}"
                      for k in ("haikurl", peer_name))
    ratio = r.get(f"ratio_haikurl_over_{peer_name}")
    floor = (c.get("dots") or {}).get("dots_alone_steps_per_second") or nan
    print(f"{str(r.get(label, r.get('seeds'))):>6} "
          f"{mine['steps_per_second']:>10,.0f} "
          f"{mine['compile_seconds']:>6.1f}s "
          f"{theirs.get('steps_per_second', nan):>10,.0f} "
          f"{theirs.get('compile_seconds', nan):>6.1f}s "
          f"{nan if ratio is None else ratio:>6.2f} "
          f"{c.get('env_steps_per_second', nan):>10,.0f} "
          f"{c.get('act_steps_per_second', nan):>10,.0f} "
          f"{c.get('learn_steps_per_second', nan):>10,.0f} "
          f"{c.get('loop_steps_per_second', nan):>10,.0f} {shares:>18} "
          f"{floor:>10,.0f}",
          flush=True)


def return_at(env_steps, returns, steps: int):
  """[env step, return] of the evaluation nearest `steps`."""
  i = int(np.argmin(np.abs(np.asarray(env_steps) - steps)))
  return [int(env_steps[i]), round(float(returns[i]), 1)]
