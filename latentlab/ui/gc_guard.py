"""Python's cyclic garbage collector runs only on the GUI thread while the app is up.

Automatic collection runs in whichever thread happens to allocate. When that is a render or job worker and
the garbage holds Qt wrappers (pyqtgraph's context menus form reference cycles), PySide defers the C++
deletion to the GUI thread, where it can deadlock inside ``QObject::~QObject`` — we caught the test suite
hanging exactly there. So automatic collection is switched off and a GUI-thread timer collects instead,
keeping the interpreter's own generation thresholds.

A full (generation 2) collection walks every tracked object, and after start-up that is some 280 000 of
them, almost all from importing torch, scikit-learn, Qt and pyqtgraph: about 190 ms on the GUI thread, due
every few minutes of use, a visible freeze in the middle of a drag. ``freeze_startup_heap`` moves what
exists once the main window is built into the interpreter's permanent generation, and the full collections
after it walk only what was made since (a few thousand objects: a few ms). Frozen objects are still freed
by reference counting; only a reference cycle among them would outlive its use, and start-up objects live
as long as the process anyway. ``benchmarks/gc_pause.py`` measures both.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None
_frozen = False


def collect_on_gui_thread(interval_s: float = 0.5) -> None:
    """Install once per process (idempotent); call on the GUI thread after the QApplication exists."""
    global _collector
    if _collector is None:
        # pyqtgraph's collector: automatic GC off, a timer on this thread collects by the usual thresholds.
        _collector = GarbageCollector(interval=interval_s)


def active() -> bool:
    return _collector is not None and not gc.isenabled()


def freeze_startup_heap() -> int:
    """Once per process, after the main window is built: collect, then freeze what is left. Returns the count."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
    return gc.get_freeze_count()
