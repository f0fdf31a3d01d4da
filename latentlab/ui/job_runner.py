"""Runs one cancellable core job at a time for a panel, on a background thread.

The job is any callable ``fn(ctx, *args)`` taking a ``JobContext``; progress, partial results, the final
result and errors arrive as Qt signals on the GUI thread. Starting a new job cancels the previous one, so a
panel never shows results from work the user has moved on from.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from latentlab.core.jobs import JobCancelled, JobContext

log = logging.getLogger(__name__)

# The runners alive, so that the app can stop every job thread on exit (shutdown_all). Weak: a runner is kept
# only by its panel and, while a job runs, by that job's thread; a registry must not keep dead panels' runners.
_live_runners: weakref.WeakSet[JobRunner] = weakref.WeakSet()


class JobRunner(QObject):
    started = Signal(str)  # job label
    progress = Signal(float, str)
    partial = Signal(object)
    finished = Signal(object)  # the job's return value
    failed = Signal(str)  # a message for the user
    error = Signal(object)  # the exception itself, emitted before `failed`: handlers decide by its type
    cancelled = Signal()
    busyChanged = Signal(bool)

    _progress = Signal(int, float, str)
    _partial = Signal(int, object)
    _done = Signal(int, object, object, bool)  # generation, result, error message, cancelled

    def __init__(self, parent: QObject | None = None, name: str = "job"):
        super().__init__(parent)
        self.name = name
        self._gen = 0
        self._stop = threading.Event()
        self._graceful = threading.Event()
        self._thread: threading.Thread | None = None
        self.label = ""
        q = Qt.ConnectionType.QueuedConnection
        self._progress.connect(self._on_progress, q)
        self._partial.connect(self._on_partial, q)
        self._done.connect(self._on_done, q)
        _live_runners.add(self)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, fn: Callable[..., Any], *args: Any, label: str = "") -> None:
        self.cancel()
        self._gen += 1
        gen = self._gen
        self._stop = threading.Event()
        self._graceful = threading.Event()
        stop, graceful = self._stop, self._graceful
        self.label = label or self.name
        ctx = JobContext(
            progress=lambda f, m="": self._progress.emit(gen, float(f), str(m)),
            partial=lambda obj: self._partial.emit(gen, obj),
            should_stop=stop.is_set,
        )

        def run() -> None:
            try:
                result = fn(ctx, *args)
            except JobCancelled:
                self._done.emit(gen, None, None, True)
            except Exception as exc:
                log.debug("job %s failed", self.label, exc_info=True)
                msg = str(exc) or type(exc).__name__
                if not isinstance(exc, (ValueError, TypeError, OSError, RuntimeError)):
                    msg = f"{type(exc).__name__}: {msg}"
                log.warning("%s failed: %s\n%s", self.label, msg, traceback.format_exc(limit=3))
                # The exception crosses to the GUI thread without its frames (they would keep the job's data alive).
                self._done.emit(gen, None, (msg, exc.with_traceback(None)), False)
            else:
                # A job that returned after a graceful stop delivers its result (e.g. a partly trained model).
                self._done.emit(gen, result, None, stop.is_set() and not graceful.is_set())

        self._thread = threading.Thread(target=run, name=f"latentlab-job-{self.name}", daemon=True)
        self._thread.start()
        self.started.emit(self.label)
        self.busyChanged.emit(True)

    def cancel(self) -> None:
        """Ask the running job to stop; its results will be ignored."""
        if self.busy:
            self._stop.set()
            self._gen += 1
            self.busyChanged.emit(False)
            self.cancelled.emit()

    def stop_gracefully(self) -> None:
        """Ask the job to stop but still deliver what it returns (e.g. a model trained so far, to resume)."""
        if self.busy:
            self._graceful.set()
            self._stop.set()

    def wait(self, timeout: float = 10.0) -> bool:
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def shutdown(self, timeout: float = 10.0) -> bool:
        self._stop.set()
        self._gen += 1
        ok = self.wait(timeout)
        _live_runners.discard(self)
        return ok

    @Slot(int, float, str)
    def _on_progress(self, gen: int, fraction: float, message: str) -> None:
        if gen == self._gen:
            self.progress.emit(fraction, message)

    @Slot(int, object)
    def _on_partial(self, gen: int, obj: object) -> None:
        if gen == self._gen:
            self.partial.emit(obj)

    @Slot(int, object, object, bool)
    def _on_done(self, gen: int, result: object, error: object, was_cancelled: bool) -> None:
        if gen != self._gen:
            return
        self._thread = None
        self.busyChanged.emit(False)
        if was_cancelled:
            self.cancelled.emit()
        elif error is not None:
            msg, exc = error
            self.error.emit(exc)
            self.failed.emit(msg)
        else:
            self.finished.emit(result)


def shutdown_all(timeout: float = 10.0) -> bool:
    ok = True
    for runner in list(_live_runners):
        ok = runner.shutdown(timeout) and ok
    return ok
