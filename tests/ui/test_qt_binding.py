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
