"""The GUI's garbage collection: full collections must not walk the start-up heap, and cycles still die."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref


def test_the_start_up_heap_is_frozen_so_full_collections_walk_only_what_came_after(tmp_path):
    # In a process of its own, as the app starts: tests before this one leave objects of their own behind.
    script = (
        "import gc, json\n"
        "from latentlab.ui.app import make_app\n"
        "from latentlab.ui.main_window import MainWindow\n"
        "from latentlab.ui import gc_guard\n"
        "app = make_app()\n"
        "win = MainWindow(device='cpu')\n"
        "print(json.dumps({'active': gc_guard.active(), 'frozen': gc.get_freeze_count(),"
        " 'walked': len(gc.get_objects())}))\n"
        "win.close()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LATENTLAB_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["active"]  # automatic collection off: only the GUI thread collects
    # torch, scikit-learn, Qt and pyqtgraph alone leave a few hundred thousand objects behind.
    assert counts["frozen"] > 100_000
    # What a full collection still walks: what was made since the freeze, a small fraction.
    assert counts["walked"] < counts["frozen"] / 5


def test_reference_cycles_made_after_start_up_are_still_collected_on_the_gui_thread(qtbot, window):
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    alive = weakref.ref(a)
    del a, b
    # Far more new container objects (kept alive: freeing them would take the count back) than generation
    # 0's threshold, as ordinary use makes.
    churn = [[i] for i in range(10 * gc.get_threshold()[0])]
    qtbot.waitUntil(lambda: alive() is None, timeout=10_000)
    assert len(churn) > 0
