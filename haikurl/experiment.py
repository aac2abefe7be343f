"""Runs a config's batch of members (seeds) as one vmapped program, one
jitted evaluation period at a time, and writes the results to a workdir.

    summary = experiment.run(config, workdir="runs/ppo")

Files left in `workdir`: config.json, metrics.jsonl, metrics.csv,
tensorboard/, checkpoints/, curve.png and summary.json (with a sweep also
sweep.csv and sweep.png). In a multi-process run (`haikurl.distributed`)
only process 0 writes them; every process takes part in gathering the
state for a checkpoint and reads the checkpoint when resuming.

`run` is three steps, each usable alone: `open_or_resume` (checks, workdir,
compile, restore), `train_periods` (the loop: metrics, progress, ETA,
checkpoints, Ctrl-C) and `finish` (summary and plots).
"""
import dataclasses
import json
import os
import time
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from haikurl import aggregate
from haikurl import checkpoint
from haikurl import cpu
from haikurl import distributed
from haikurl import interrupts
from haikurl import batch as batch_lib
from haikurl import hparams as hparams_lib
from haikurl import logging as hlog
from haikurl import plotting
from haikurl import resume
from haikurl import sweep as sweep_lib
from haikurl import validation
from haikurl.loop import Train, make_train


Members = sweep_lib.Members


def make_members(config, train: Train) -> Members:
  """The config's sweep settings x `num_seeds` members (see haikurl.sweep);
  without a sweep, `num_seeds` members with the config's hyperparameters."""
  return sweep_lib.make_members(config, train.default_hparams)


def select_member(config, members: Members) -> Members:
  """`members` as `config.member` asks: all (-1), or member i alone.

  Raises:
    ValueError: (one line, before compiling) for a member out of range.
  """
  member = config.get("member", -1)
  if member is None or member == -1:
    return members
  if (isinstance(member, bool) or not isinstance(member, (int, np.integer))
      or not 0 <= member < members.size):
    raise ValueError(
        f"config.member={member!r} is not a member of this run: it has "
        f"{members.size} member(s), 0 to {members.size - 1} (-1 for all).")
  return members.select(np.asarray([int(member)]))


def _write_json(path: str, obj) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


@dataclasses.dataclass
class Session:
  """A run opened in its workdir: what the loop and `finish` share.

  `state`, `history`, `start` and the timings move on as periods are run.
  """
  config: Any
  workdir: str
  train: Train
  members: Members
  runner: batch_lib.Runner
  state: Any                      # the members' TrainState (batched)
  start: int                      # periods done before this session
  history: list                   # metric rows, one per period done
  writer: hlog.MetricsWriter
  wall: hlog.Timer                # this session's wall clock
  wall_offset: float              # wall seconds of earlier sessions
  train_seconds: float            # seconds spent in periods, all sessions
  compile_seconds: float
  quiet: bool
  rerun: bool                     # config.member picked one member
  writes: bool = True             # this process writes the workdir

  @property
  def num_members(self) -> int:
    return self.members.size


def run(config, workdir: str, agent: Any = None, quiet: bool = False,
        tensorboard: bool = True, wandb: Optional[bool] = None,
        checkpoint_every: Optional[int] = None) -> dict:
  """Trains every member of `config` and writes the workdir.

  If `workdir` holds a checkpoint of the same config, the run resumes from
  it (a finished run just rewrites its summary); a checkpoint of another
  config is refused. Ctrl-C saves a checkpoint at the end of the current
  period and raises `interrupts.Interrupted`. `config.member=i` trains
  member i alone (see `select_member`).

  Args:
    config: a haikurl ConfigDict.
    workdir: output directory (created).
    agent: optional agent module (default: the registry's `agent.name`).
    quiet: no console lines.
    tensorboard: also write TensorBoard event files.
    wandb: also log to Weights & Biases (default: `config.wandb`).
    checkpoint_every: periods between checkpoints, 0 for only the last
      (default: `config.checkpoint_every`, else 0).

  Returns:
    The summary dict that is written to summary.json.
  """
  if checkpoint_every is None:
    checkpoint_every = int(config.get("checkpoint_every", 0) or 0)
  session = open_or_resume(config, workdir, agent=agent, quiet=quiet,
                           tensorboard=tensorboard, wandb=wandb)
  try:
    train_periods(session, checkpoint_every)
  finally:
    session.writer.close()
  return finish(session)


def open_or_resume(config, workdir: str, agent: Any = None,
                   quiet: bool = False, tensorboard: bool = True,
                   wandb: Optional[bool] = None) -> Session:
  """Builds and checks the run, opens its workdir and compiles its period.

  Every check that can refuse the run (the config, `config.member`, the
  workdir, a checkpoint of another config or a corrupt one) runs before
  anything is compiled. A fresh workdir gets config.json and loses stale
  metrics; a workdir with a checkpoint of this config is resumed from it:
  state, metric rows and timings.

  Args:
    config, workdir, agent, quiet, tensorboard, wandb: as for `run`.

  Returns:
    The open `Session` (its writer must be closed by the caller).
  """
  distributed.initialize_distributed()  # only with HAIKURL_DISTRIBUTED=1
  wall = hlog.Timer()
  if wandb is None:
    wandb = bool(config.get("wandb", False))
  train = make_train(config, agent=agent)
  members = select_member(config, make_members(config, train))
  rerun = config.get("member", -1) not in (None, -1)
  validation.check_workdir(workdir)  # before compiling: unwritable, full
  writes = distributed.is_writer()  # process 0 of a multi-process run
  found = find_checkpoint(workdir, config)
  if found is None and writes:
    _write_json(os.path.join(workdir, "config.json"), config.to_dict())
    for name in ("metrics.jsonl", "metrics.csv"):
      path = os.path.join(workdir, name)
      if os.path.exists(path):
        os.remove(path)
  wandb_logger = (hlog.Wandb(workdir, config.to_dict(),
                             project=config.get("wandb_project", None) or None,
                             name=os.path.basename(os.path.abspath(workdir)))
                  if wandb and writes else None)

  # vmap over members, sharded over all devices, in chunks (haikurl.batch).
  # A rerun of one member trains it in a batch of 2 (itself twice, the copy
  # dropped): a batch of 1 compiles differently, a batch of 2 is bitwise the
  # member of the original batch.
  runner = batch_lib.Runner(train, members,
                            chunk_size=config.get("chunk_size", 0) or 0,
                            min_batch=2 if rerun else 1)
  compile_timer = hlog.Timer()
  state = runner.init()
  runner.compile(state)
  compile_seconds = compile_timer()

  history, start, train_seconds, wall_offset = None, 0, 0.0, 0.0
  if found is not None:
    # The fresh state is the template: structure, dtypes and placement
    # (multi-process: each process places the shards its devices own).
    start, arrays, record = checkpoint.restore(
        workdir, {"state": state, "hparams": members.hparams}, found)
    state = batch_lib.place(arrays["state"], state)
    history = record["rows"]
    train_seconds = float(record["train_seconds"])
    wall_offset = float(record["wall_seconds"])
    if not quiet:
      hlog.print_line(f"resumed from {found.path} (period {start}/"
                      f"{train.num_evals})")
  writer = hlog.MetricsWriter(workdir, tensorboard=tensorboard, rows=history,
                              wandb=wandb_logger, files=writes)
  return Session(config=config, workdir=workdir, train=train,
                 members=members, runner=runner, state=state, start=start,
                 history=list(history or []), writer=writer, wall=wall,
                 wall_offset=wall_offset, train_seconds=train_seconds,
                 compile_seconds=compile_seconds, quiet=quiet, rerun=rerun,
                 writes=writes)


def find_checkpoint(workdir: str, config) -> Optional[checkpoint.Info]:
  """The checkpoint of `workdir` to resume from, or None for a fresh run.

  It must be of the same config and read back whole (a corrupt one fails
  here, before compiling). In a multi-process run every process looks and
  they compare what they found (a collective): if any process failed, or
  they found different checkpoints (a workdir that is not on a file system
  they share), every process raises the same `CheckpointError`.
  """
  found, error = None, None
  try:
    found = checkpoint.latest(workdir)
    if found is not None:
      resume.check_same_config(workdir, config)
      checkpoint.read(workdir, found)
  except checkpoint.CheckpointError as e:
    if not distributed.is_multiprocess():
      raise
    error = e
  if distributed.is_multiprocess():
    seen = batch_lib.all_processes(
        [-1 if found is None else found.period, error is not None])
    failed = [i for i, row in enumerate(seen) if row[1]]
    if error is None and failed:
      error = checkpoint.CheckpointError(
          f"process(es) {failed} could not use the checkpoint in "
          f"{checkpoint.directory(workdir)} (see their error); nothing was "
          "changed.")
    elif error is None and len(set(seen[:, 0].tolist())) > 1:
      error = checkpoint.CheckpointError(
          f"the processes of this run see different checkpoints in "
          f"{checkpoint.directory(workdir)} (latest period by process: "
          f"{seen[:, 0].tolist()}, -1 for none): a multi-process run needs "
          "its --workdir on a file system that every process shares.")
    if error is not None:
      raise error
  return found


def _save(session: Session, done_periods: int) -> None:
  """A checkpoint of `session` after `done_periods` periods."""
  train = session.train
  record = {"rows": session.history, "train_seconds": session.train_seconds,
            "wall_seconds": session.wall_offset + session.wall()}
  arrays = {"state": session.state, "hparams": session.members.hparams}
  if distributed.is_multiprocess():
    # Every process joins the gather; process 0 alone writes.
    arrays = batch_lib.gather(arrays)
  if not session.writes:
    return
  checkpoint.save(session.workdir, done_periods, arrays, record,
                  meta={"num_members": session.num_members,
                        "state_members": session.runner.padded_size,
                        "num_periods": train.num_evals,
                        "env_steps": done_periods * train.steps_per_eval})


def train_periods(session: Session, checkpoint_every: int) -> None:
  """Runs the session's remaining periods: metrics rows, progress lines,
  ETA, checkpoints, Ctrl-C.

  Each period is one jitted call over all members; its metrics are written
  (metrics.jsonl/csv, TensorBoard, W&B) and printed, and a checkpoint is
  saved every `checkpoint_every` periods (0: only after the last), after the
  last, and after a Ctrl-C, which then raises `interrupts.Interrupted`.

  Raises:
    FloatingPointError: with `check_numerics`, at the first non-finite value.
    interrupts.Interrupted: after Ctrl-C, once the checkpoint is saved.
  """
  train, members = session.train, session.members
  start = session.start
  steps_per_period = train.steps_per_eval * session.num_members
  groups = aggregate.group_by_setting(members.settings, members.seeds,
                                      members.swept)
  progress_settings = [(aggregate.setting_label(g.values), g.members)
                       for g in groups] if members.swept else None
  session_seconds = 0.0
  multiprocess = distributed.is_multiprocess()
  if not session.quiet and start < train.num_evals:
    hlog.print_line(f"evaluation: {train.eval_protocol}")
  with interrupts.InterruptGuard() as interrupt:
    for i in range(start, train.num_evals):
      t0 = time.perf_counter()
      session.state, metrics = session.runner.period(session.state)  # [M]
      problem = train.check_numerics and train.nonfinite_message(metrics)
      if problem:
        raise FloatingPointError(problem)
      elapsed = time.perf_counter() - t0
      session.train_seconds += elapsed
      session_seconds += elapsed
      speed = (i + 1 - start) * steps_per_period / max(session_seconds, 1e-9)
      eta = (train.num_evals - i - 1) * session_seconds / (i + 1 - start)
      session.history.append(session.writer.write(
          i + 1, metrics,
          {"wall_seconds": session.wall_offset + session.wall()}))
      if not session.quiet:
        hlog.print_line(hlog.progress_line(
            i + 1, train.num_evals, (i + 1) * train.steps_per_eval,
            train.total_env_steps, metrics, speed, eta,
            settings=progress_settings))
      last = i + 1 == train.num_evals
      stop = interrupt.requested
      if multiprocess:  # Ctrl-C on one process stops them all
        stop = bool(np.any(batch_lib.all_processes(stop)))
      if (last or stop or
          (checkpoint_every > 0 and (i + 1) % checkpoint_every == 0)):
        _save(session, i + 1)
      if stop and not last:
        raise interrupts.Interrupted(session.workdir, i + 1, train.num_evals)
    if start == train.num_evals and not session.quiet:
      hlog.print_line("the run had already finished: summary rewritten")


def finish(session: Session) -> dict:
  """Writes summary.json, sweep.csv / sweep.png (with a sweep) and curve.png
  of a session whose periods are all done; returns the summary."""
  config, members = session.config, session.members
  summary = summarize(config, session.train, session.history,
                      session.num_members,
                      session.wall_offset + session.wall(),
                      session.compile_seconds, session.train_seconds,
                      members=members, runner=session.runner)
  if session.rerun:
    summary["rerun_of_member"] = sweep_lib.labels(members, 0) | {
        "member": int(config.member)}
  if not session.writes:
    return summary
  _write_json(os.path.join(session.workdir, "summary.json"), summary)
  protocol = session.train.eval_protocol
  write_sweep(config, session.workdir, members, session.history, protocol)
  write_curve(config, session.workdir, members, session.history, protocol,
              session.train.step_unit)
  return summary


def summarize(config, train: Train, history, num_members: int,
              wall_seconds: float, compile_seconds: float,
              train_seconds: float, members: Optional[Members] = None,
              runner: Optional[batch_lib.Runner] = None) -> dict:
  """The summary.json record of a finished run.

  Members are named as members (`final_eval_return_per_member`, in member
  order) and grouped by setting in `settings` (one entry without a sweep):
  each setting's values, member indices, seeds, per-member final returns,
  mean, min, max and for >= 3 seeds the IQM with its 95%
  stratified-bootstrap CI (`haikurl.aggregate`). Without a sweep the run's
  own aggregate is also at the top level (`final_eval_return_iqm`, `_ci95`,
  `_min`, `_max`, and `final_eval_return_aggregate` naming it). With a sweep
  it adds `swept` (key -> values), `num_settings` and `best_setting` (the
  setting of highest mean final return over its seeds).
  """
  summary = {
      "agent": config.agent.name,
      "env": config.env,
      # How the evaluation episodes act, e.g. "greedy, sticky actions
      # p=0.1, 32 episodes" (config.eval_policy, sticky_actions).
      "eval_protocol": train.eval_protocol,
      "num_members": num_members,
      "num_seeds": int(config.num_seeds),
      "env_steps": train.total_env_steps,
      # What env_steps counts: "env steps", or "gradient steps" offline.
      "step_unit": train.step_unit,
      "env_steps_all_members": train.total_env_steps * num_members,
      "wall_seconds": wall_seconds,
      "compile_seconds": compile_seconds,
      "train_seconds": train_seconds,
      "steps_per_second": train.total_env_steps * num_members /
                          max(train_seconds, 1e-9),
  }
  key = "eval/episode_return"
  if history and key in history[-1]:
    curve = np.asarray([row[key] for row in history])  # [P, M]
    final = curve[-1]
    summary.update({
        "final_eval_return_mean": float(np.mean(final)),
        "final_eval_return_per_member": [float(x) for x in final],
        "best_eval_return_mean": float(np.max(np.mean(curve, axis=1))),
        "best_eval_return_per_member": [float(x) for x in
                                        np.max(curve, axis=0)],
    })
    if members is None or not members.swept:
      # One setting: its aggregate over seeds, as the plots draw it.
      stats = aggregate.summary(final)
      summary["final_eval_return_aggregate"] = aggregate.describe(len(final))
      summary.update({f"final_eval_return_{k}": v for k, v in stats.items()
                      if k in ("iqm", "ci95", "min", "max")})
  if runner is not None:
    summary.update({"num_devices": runner.num_devices,
                    "data_parallel": runner.data_parallel,
                    "num_processes": jax.process_count(),
                    "chunk_size": runner.chunk_size,
                    "num_chunks": runner.num_chunks,
                    # XLA's CPU thread pool (haikurl.cpu; 0 off Linux)
                    "cpu_pool_threads": cpu.pool_threads()})
  if members is not None and history and key in history[-1]:
    table = sweep_lib.best_setting(members, curve)
    summary["settings"] = table["settings"]
    if members.swept:
      summary["best_setting"] = table["best"]
  if members is not None and members.swept:
    summary["method"] = config.sweep.get("method", "grid")
    summary["num_settings"] = int(len(np.unique(members.settings)))
    summary["swept"] = {k: sorted({float(x) for x in v})
                        for k, v in members.swept.items()}
  return summary


def _title(config, protocol: str = "") -> str:
  title = f"{config.agent.name} on {config.env}"
  kwargs = dict(config.get("env_kwargs") or {})
  if kwargs:  # e.g. a hidden part of the observation, a memory length
    title += " (" + ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items())) + ")"
  return f"{title}\nevaluation: {protocol}" if protocol else title


def write_curve(config, workdir: str, members: Members, history,
                protocol: str = "", step_unit: str = "env steps") -> None:
  """curve.png: the evaluation return against env (or gradient) steps, one curve
  per setting (the IQM with a 95% stratified-bootstrap CI over >= 3 seeds,
  the mean and min-max below; see haikurl.plotting)."""
  key = "eval/episode_return"
  if not history or key not in history[-1]:
    return
  groups = aggregate.group_by_setting(members.settings, members.seeds,
                                      members.swept)
  if members.swept:
    runs = plotting.sweep_curves(history, groups, key)
  else:
    runs = {config.agent.name: plotting.curves_from_rows(history, key)}
  one_key = len(members.swept) == 1
  plotting.plot_curves(runs, os.path.join(workdir, "curve.png"), metric=key,
                       title=_title(config, protocol), ordered=one_key,
                       legend_title=(plotting.label(list(members.swept)[0])
                                     if one_key else None),
                       step_unit=step_unit)


def write_sweep(config, workdir: str, members: Members, history,
                protocol: str = "") -> None:
  """sweep.csv (one row per member) and sweep.png (each setting's final
  return against each swept value, with error bars over its seeds), for a
  run that sweeps something."""
  if not members.swept or not history:
    return
  rows = sweep_lib.results(members, history)
  sweep_lib.write_csv(os.path.join(workdir, "sweep.csv"), rows)
  plotting.plot_sweep(rows, list(members.swept),
                      os.path.join(workdir, "sweep.png"),
                      title=f"{_title(config)}: final evaluation return, "
                            f"{_seeds(int(config.num_seeds))} per setting"
                            + (f"\nevaluation: {protocol}" if protocol
                               else ""))


def _seeds(n: int) -> str:
  return f"{n} seed" + ("" if n == 1 else "s")
