"""Python's cyclic garbage collector runs only on the GUI thread while the app is up.

Automatic collection runs in whichever thread happens to allocate. When that is a render or job worker and
the garbage holds Qt wrappers (pyqtgraph's context menus form reference cycles), PySide defers the C++
deletion to the GUI thread, where it can deadlock inside ``QObject::~QObject`` — we caught the test suite
hanging exactly there. So automatic collection is switched off and a GUI-thread timer collects instead,
keeping the interpreter's own generation thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QTimer

_timer: QTimer | None = None


def collect_on_gui_thread(interval_ms: int = 500) -> None:
    """Install once per process (idempotent); call on the GUI thread after the QApplication exists."""
    global _timer
    app = QCoreApplication.instance()
    if _timer is not None or app is None:
        return
    _timer = QTimer(app)
    _timer.setInterval(interval_ms)
    _timer.timeout.connect(_collect)
    _timer.start()
    gc.disable()


def _collect() -> None:
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 > t0:
        gc.collect(0)
        if c1 > t1:
            gc.collect(1)
            if c2 > t2:
                gc.collect(2)


def active() -> bool:
    return _timer is not None and not gc.isenabled()
