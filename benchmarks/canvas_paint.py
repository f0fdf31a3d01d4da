"""Paint time of the live preview's image: pyqtgraph's ImageItem against the pixmap item the preview uses.

Each new frame is set and painted synchronously (``viewport().repaint()``), in a view the size of the
preview dock, for a 64×64 greyscale and a 64×64 colour image. Then the preview's item again with another
Python thread busy beside it, as the render thread and job threads are in the app: every Python call Qt makes
while painting waits for that thread to hand over the GIL, so the difference is the paint's Python share.

    QT_QPA_PLATFORM=offscreen python benchmarks/canvas_paint.py [--frames 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402

from latentlab.ui.app import make_app  # noqa: E402
from latentlab.ui.widgets import ImageCanvas  # noqa: E402


def time_paints(app, canvas: ImageCanvas, set_frame, frames: list[np.ndarray]) -> np.ndarray:
    canvas.resize(580, 420)
    canvas.show()
    for _ in range(5):
        app.processEvents()
    times = []
    for i in range(len(frames)):
        t0 = time.perf_counter()
        set_frame(frames[i])
        canvas.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1e3)
    return np.array(times[10:])


def with_busy_python_thread(fn):
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        return fn()
    finally:
        stop.set()
        t.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    app = make_app()
    rng = np.random.default_rng(0)
    for label, shape in (("grey 64x64", (64, 64)), ("colour 64x64", (64, 64, 3))):
        frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(args.frames)]
        ours = ImageCanvas()
        ours.set_image(frames[0])
        t_ours = time_paints(app, ours, ours.set_image, frames)
        ref = ImageCanvas()
        ref.set_image(frames[0])
        ref.image.setVisible(False)
        item = pg.ImageItem()
        ref.view.addItem(item)
        t_ref = time_paints(app, ref, lambda f, it=item: it.setImage(f, levels=(0, 255), autoLevels=False), frames)
        t_busy = with_busy_python_thread(lambda c=ours, fr=frames: time_paints(app, c, c.set_image, fr))
        print(f"{label}: pg.ImageItem p50 {np.median(t_ref):.3f} ms (p95 {np.percentile(t_ref, 95):.3f});  "
              f"preview pixmap item p50 {np.median(t_ours):.3f} ms (p95 {np.percentile(t_ours, 95):.3f});  "
              f"{np.median(t_ref) / np.median(t_ours):.1f}x;  preview item beside a busy Python thread "
              f"p50 {np.median(t_busy):.3f} ms")
        ours.close()
        ref.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
