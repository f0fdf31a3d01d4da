"""How long a full garbage collection holds the GUI thread, with the start-up heap frozen and without.

Python's cyclic collector runs on the GUI thread (see ``latentlab/ui/gc_guard.py``), and a full collection
walks every object it tracks. The app freezes what exists once the main window is built; this script opens
a demo model in the real window, lets it settle, and times full collections as the app now runs them, then,
in the same run, with the heap unfrozen (the reference: what every full collection cost before).

    QT_QPA_PLATFORM=offscreen python benchmarks/gc_pause.py [CHECKPOINT] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENTLAB_HOME", tempfile.mkdtemp(prefix="latentlab-bench-"))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

from latentlab.core.resources import demo_model_paths  # noqa: E402
from latentlab.ui.app import make_app  # noqa: E402
from latentlab.ui.main_window import MainWindow  # noqa: E402


def spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def full_collection_ms(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect(2)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = args.checkpoint or next(iter(demo_model_paths()), None)
    if path is None:
        print("no checkpoint given and no demo models found")
        return 2
    _app = make_app()  # held: the QApplication must outlive the window
    win = MainWindow(device="cpu")
    win.show()
    win.open_paths([path])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        entry = win.state.current
        if entry is not None and (entry.encoded is not None or not entry.encodes or entry.analysis_error):
            break
        spin(0.05)
    else:
        print(f"{path}: did not finish opening")
        return 1
    spin(1.0)
    frozen = gc.get_freeze_count()
    walked = len(gc.get_objects())
    now_ms = full_collection_ms(args.repeats)
    gc.unfreeze()  # the reference: every object walked, as before the freeze
    all_objects = len(gc.get_objects())
    before_ms = full_collection_ms(args.repeats)
    gc.freeze()
    print(f"{path.name}, main window up, model opened ({args.repeats} full collections each, median):")
    print(f"  start-up heap frozen (the app):  {now_ms:8.2f} ms   walks {walked:7d} objects ({frozen} frozen)")
    print(f"  nothing frozen (reference):      {before_ms:8.2f} ms   walks {all_objects:7d} objects")
    print(f"  ratio: {before_ms / max(now_ms, 1e-6):.0f}x shorter")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
