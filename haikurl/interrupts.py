"""Ctrl-C during a run: finish the period, save a checkpoint, then stop.

    with interrupts.InterruptGuard() as interrupt:
      for period in ...:
        ...
        if interrupt.requested:
          save(...)
          raise interrupts.Interrupted(workdir, period, num_periods)
"""
import signal
import sys
import threading

from haikurl import checkpoint


class InterruptGuard:
  """While active, SIGINT (Ctrl-C) only sets `.requested`; a second SIGINT
  raises KeyboardInterrupt at once. Only in the main thread; a no-op
  elsewhere."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def _handler(self, signum, frame):
    del frame
    if self.requested:
      signal.signal(signum, self._previous or signal.default_int_handler)
      raise KeyboardInterrupt
    self.requested = True
    print("haikurl: interrupted; saving a checkpoint after this period "
          "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGINT, self._handler)
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGINT, self._previous)
      self._previous = None
    return False


class Interrupted(KeyboardInterrupt):
  """Raised by `experiment.run` after Ctrl-C, once a checkpoint is saved."""

  def __init__(self, workdir: str, period: int, num_periods: int):
    super().__init__(f"interrupted after period {period}/{num_periods}; "
                     f"checkpoint saved in {checkpoint.directory(workdir)}. "
                     "Run the same command again to resume.")
    self.workdir = workdir
    self.period = period
    self.num_periods = num_periods
