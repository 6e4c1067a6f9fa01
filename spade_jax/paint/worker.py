"""The one thread that owns the model. Jobs come in lanes ("render", "variations", ...): a job
waiting in a lane is replaced by a newer job of the same lane — its caller gets `Superseded` — so
when strokes arrive faster than renders, only the latest request runs. Jobs without a lane (exports)
are never replaced."""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import threading
from typing import Callable, Optional


class Superseded(Exception):
  """A newer request of the same lane arrived before this one started."""


class Worker:

  def __init__(self, name: str = "paint-worker"):
    self._cv = threading.Condition()
    self._pending: collections.OrderedDict[str, tuple[concurrent.futures.Future, Callable]] = (
        collections.OrderedDict())
    self._ids = itertools.count()
    self._stopped = False
    self.superseded = 0  # how many jobs were replaced (for the status line and the tests)
    self._thread = threading.Thread(target=self._run, name=name, daemon=True)
    self._thread.start()

  def submit(self, fn: Callable, lane: Optional[str] = None) -> concurrent.futures.Future:
    fut: concurrent.futures.Future = concurrent.futures.Future()
    with self._cv:
      if self._stopped:
        raise RuntimeError("the paint worker has stopped")
      key = lane if lane is not None else f"#{next(self._ids)}"
      old = self._pending.pop(key, None)
      if old is not None:
        self.superseded += 1
        old[0].set_exception(Superseded(f"superseded by a newer {lane} request"))
      self._pending[key] = (fut, fn)
      self._cv.notify()
    return fut

  def _run(self):
    while True:
      with self._cv:
        while not self._pending and not self._stopped:
          self._cv.wait()
        if self._stopped and not self._pending:
          return
        _, (fut, fn) = self._pending.popitem(last=False)
      if not fut.set_running_or_notify_cancel():
        continue
      try:
        fut.set_result(fn())
      except BaseException as e:  # noqa: BLE001 - handed to the waiting request
        fut.set_exception(e)

  def stop(self, timeout: float = 10.0):
    with self._cv:
      self._stopped = True
      self._cv.notify_all()
    self._thread.join(timeout)
