"""Events of the app model: psygnal signals whose callbacks cannot break one another.

A plain psygnal signal stops at the first callback that raises and re-raises into whoever changed the model
(a slider, a script), so one broken view would keep every later view from updating. Here each callback runs
on its own: an exception is reported through ``sys.excepthook`` (the app shows it in its message banner, a
script gets a traceback on stderr) and the remaining callbacks still run — what Qt does for its slots.
"""

from __future__ import annotations

import sys
from typing import Any

from psygnal import Signal, SignalInstance


class IsolatedSignalInstance(SignalInstance):
    def _run_emit_loop_immediate(self) -> None:
        args = self._emit_queue.popleft()
        for caller in list(self._slots):
            if not caller._is_alive():
                continue
            try:
                caller.cb(args)
            except Exception:  # one view failing must not keep the others from their update
                sys.excepthook(*sys.exc_info())


def Event(*types: Any, **kwargs: Any) -> Signal:  # noqa: N802  (reads like the Signal it makes)
    """A psygnal ``Signal`` whose callbacks are isolated from one another (see the module docstring)."""
    return Signal(*types, signal_instance_class=IsolatedSignalInstance, **kwargs)
