"""Guards against Qt binding releases that corrupt reference counts when signals are emitted.

PySide6 6.12.0 drops a reference to ``True`` on every ``Signal.emit()``; on Python 3.11 the app then aborts
("bool_dealloc") after a few hundred slider moves. The render and job bridges emit from worker threads,
so both paths are exercised here.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot


class Emitter(QObject):
    plain = Signal()
    carrying = Signal(object)

    def __init__(self):
        super().__init__()
        self.received = 0
        self.plain.connect(self.on_plain)
        self.carrying.connect(self.on_object, Qt.ConnectionType.QueuedConnection)

    @Slot()
    def on_plain(self):
        self.received += 1

    @Slot(object)
    def on_object(self, obj):
        self.received += 1


def test_emitting_signals_keeps_reference_counts_intact(qapp):
    e = Emitter()
    before = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    for _ in range(3000):
        e.plain.emit()
    after = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    assert e.received == 3000
    assert all(abs(a - b) < 50 for a, b in zip(before, after, strict=True)), (before, after)


def test_objects_cross_threads_through_queued_signals(qapp):
    e = Emitter()
    n = 5000

    def work():
        for i in range(n):
            e.carrying.emit(None if i % 2 else {"i": i})

    t = threading.Thread(target=work)
    t.start()
    while t.is_alive() or e.received < n:
        QCoreApplication.processEvents()
    t.join()
    assert e.received == n


def test_garbage_is_collected_only_on_the_gui_thread(qtbot):
    """Automatic GC is off once a window exists, and the GUI-thread timer still frees reference cycles."""
    import gc
    import weakref

    from latentlab.ui import gc_guard
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    assert gc_guard.active() and not gc.isenabled()

    class Node:
        pass

    ring = Node()
    ring.self = ring
    probe = weakref.ref(ring)
    del ring
    keep = [Node() for _ in range(gc.get_threshold()[0] + 10)]  # push generation 0 over its threshold
    assert probe() is not None  # nothing collected it on the spot
    qtbot.waitUntil(lambda: probe() is None, timeout=5000)
    del keep
    win.close()
