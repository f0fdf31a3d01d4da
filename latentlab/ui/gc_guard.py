"""Python's cyclic garbage collector runs only on the GUI thread while the app is up.

Automatic collection runs in whichever thread happens to allocate. When that is a render or job worker and
the garbage holds Qt wrappers (pyqtgraph's context menus form reference cycles), PySide defers the C++
deletion to the GUI thread, where it can deadlock inside ``QObject::~QObject`` — we caught the test suite
hanging exactly there. So automatic collection is switched off and a GUI-thread timer collects instead,
keeping the interpreter's own generation thresholds.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_on_gui_thread(interval_s: float = 0.5) -> None:
    """Install once per process (idempotent); call on the GUI thread after the QApplication exists."""
    global _collector
    if _collector is None:
        # pyqtgraph's collector: automatic GC off, a timer on this thread collects by the usual thresholds.
        _collector = GarbageCollector(interval=interval_s)


def active() -> bool:
    return _collector is not None and not gc.isenabled()
