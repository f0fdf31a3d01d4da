"""The GUI's garbage collection: full collections must not walk the start-up heap, and cycles still die."""

from __future__ import annotations

import gc
import weakref


def test_the_start_up_heap_is_frozen_so_full_collections_walk_only_what_came_after(window):
    from latentlab.ui import gc_guard

    assert gc_guard.active()  # automatic collection off: only the GUI thread collects
    frozen = gc.get_freeze_count()
    # torch, scikit-learn, Qt and pyqtgraph alone leave a few hundred thousand objects behind.
    assert frozen > 100_000
    # What a full collection still walks: everything made since start-up, a small fraction.
    assert len(gc.get_objects()) < frozen / 5


def test_reference_cycles_made_after_start_up_are_still_collected_on_the_gui_thread(qtbot, window):
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    alive = weakref.ref(a)
    del a, b
    # Enough new container objects (kept alive: freeing them would take the count back) to pass generation
    # 0's threshold, as ordinary use does.
    churn = [[i] for i in range(2 * gc.get_threshold()[0])]
    qtbot.waitUntil(lambda: alive() is None, timeout=10_000)
    assert len(churn) > 0
