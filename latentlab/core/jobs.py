"""The cancellable-job protocol shared by training, metrics, flows, direction finding and export.

A long-running core function takes a ``JobContext``; it reports ``progress(fraction, message)``, may hand
over intermediate results with ``partial(obj)``, and polls ``should_stop()`` at safe points, raising
``JobCancelled`` (via ``ctx.check()``) when the user asked it to stop. The UI and the CLI provide the three
callables; scripts can pass nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from latentlab.core.text import printable


class JobCancelled(Exception):
    """The user stopped the job; whatever it was writing has been discarded."""


def _noop_progress(fraction: float, message: str = "") -> None:
    pass


def _noop_partial(obj: Any) -> None:
    pass


def _never() -> bool:
    return False


@dataclass
class JobContext:
    progress: Callable[[float, str], None] = _noop_progress
    partial: Callable[[Any], None] = _noop_partial
    should_stop: Callable[[], bool] = _never

    def check(self) -> None:
        if self.should_stop():
            raise JobCancelled()

    def sub(self, start: float, end: float) -> JobContext:
        """A context whose progress 0..1 maps onto start..end of this one (for jobs made of stages)."""
        span = end - start

        def progress(f: float, m: str = "") -> None:
            self.progress(start + span * min(max(f, 0.0), 1.0), m)

        return JobContext(progress, self.partial, self.should_stop)


def ensure_context(ctx: JobContext | None) -> JobContext:
    return ctx if ctx is not None else JobContext()


_open_lines: dict[int, bool] = {}  # stream id -> a progress line was left without its newline


def end_progress_line(stream: Any = None) -> None:
    """End a progress bar's unfinished line on ``stream`` (stderr), so what is printed next starts its own."""
    stream = stream if stream is not None else sys.stderr
    if _open_lines.pop(id(stream), False):
        stream.write("\n")
        stream.flush()


@dataclass
class TextProgress:
    """A terminal progress bar for the CLI (stderr, redrawn at most ~10 times a second)."""

    label: str = ""
    width: int = 30
    stream: Any = field(default_factory=lambda: sys.stderr)
    _last: float = 0.0
    _start: float = field(default_factory=time.monotonic)

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.1:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(self.width * fraction))
        elapsed = now - self._start
        eta = elapsed / fraction - elapsed if fraction > 0.01 else float("nan")
        eta_s = f" eta {eta:5.0f}s" if eta == eta else ""
        bar = "#" * filled + "-" * (self.width - filled)
        # Messages may carry names from files (factor, label and model names): escaped, they cannot move the cursor.
        text = printable(message, 60)[:60]
        self.stream.write(f"\r{printable(self.label, 80)} [{bar}] {100 * fraction:5.1f}% {elapsed:5.0f}s{eta_s} {text:<60}")
        if fraction >= 1.0:
            self.stream.write("\n")
        _open_lines[id(self.stream)] = fraction < 1.0
        self.stream.flush()

    def done(self) -> None:
        self(1.0, "done")


def release_worker_processes() -> None:
    """Stop joblib's reusable worker processes (DCI fits factors in them) so none outlive the app or command.

    Only an executor that already exists is shut down; asking joblib for it would start a new one.
    """
    import sys

    mod = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(mod, "_executor", None) if mod is not None else None
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
