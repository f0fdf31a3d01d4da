"""Where the live preview's slider-to-pixels latency goes, stage by stage, under preview_latency's drag.

For each frame shown it splits the latency into: waiting for the render thread (a decode already under way),
the decode itself, the hop of the result to the GUI thread, the result handler, the wait for the paint, and
the paint. Then p50 / p95 per stage, the mean stages of the slowest tenth of frames, and the bare batch-1
decode with one intra-op thread (what the render thread uses) and with torch's default, for comparison.

    QT_QPA_PLATFORM=offscreen python benchmarks/preview_breakdown.py [CHECKPOINT ...] [--drags 3]

The stage timestamps come from wrapping two methods (the bridge's delivery and the canvas's paint) with
timers; the rest is the same harness as preview_latency.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENTLAB_HOME", tempfile.mkdtemp(prefix="latentlab-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import preview_latency as pl  # noqa: E402
import torch  # noqa: E402

from latentlab.core.bench import time_decode  # noqa: E402
from latentlab.core.resources import demo_model_paths  # noqa: E402
from latentlab.ui import render_bridge, widgets  # noqa: E402
from latentlab.ui.app import make_app  # noqa: E402
from latentlab.ui.main_window import MainWindow  # noqa: E402

STAGES = ("wait for render thread", "decode", "hop to GUI thread", "result handler", "wait for paint", "paint")

_arrived: dict[int, tuple[float, float]] = {}  # preview seq -> (handler start, handler end)
_paint_start = [0.0]


def _instrument() -> None:
    deliver = render_bridge.RenderBridge._deliver
    paint = widgets.ImageCanvas.paintEvent

    def timed_deliver(self, res):
        t0 = time.perf_counter()
        deliver(self, res)
        if res.view == "preview":
            _arrived[res.seq] = (t0, time.perf_counter())

    def timed_paint(self, ev):
        _paint_start[0] = time.perf_counter()
        paint(self, ev)

    render_bridge.RenderBridge._deliver = timed_deliver
    widgets.ImageCanvas.paintEvent = timed_paint


def bare_ms(model, threads: int) -> float:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return time_decode(model, repeats=100, batch=1, warmup=20).p50_ms
    finally:
        torch.set_num_threads(saved)


def breakdown(path: Path, drags: int) -> None:
    app = make_app()
    win = MainWindow(device="cpu")
    win.show()
    win.open_paths([path])
    if not pl.wait_until(app, lambda: win.state.current is not None, 60):
        print(f"{path}: could not open ({win.banner.text})")
        return
    entry = win.state.current
    pl.wait_until(app, lambda: entry.encoded is not None or not entry.encodes or entry.analysis_error, 120)
    pl.spin(app, 1.0)
    rows: list[list[float]] = []
    cached = [0]

    def on_frame(res, when):
        hop = _arrived.get(res.seq)
        if hop is None:
            return
        if res.cached:  # decoded before (frame cache): no render-thread stages to split
            cached[0] += 1
            return
        start = res.finished - res.decode_ms / 1e3
        rows.append([1e3 * (start - res.created), res.decode_ms, 1e3 * (hop[0] - res.finished),
                     1e3 * (hop[1] - hop[0]), 1e3 * (_paint_start[0] - hop[1]), 1e3 * (when - _paint_start[0]),
                     1e3 * (when - res.created)])

    win.preview.frameShown.connect(on_frame)
    refs1, refs = [], []
    for d in range(drags):
        refs1.append(bare_ms(entry.model, 1))
        refs.append(bare_ms(entry.model, torch.get_num_threads()))
        pl.drag(app, win, d % entry.latent_dim, 500)
    win.preview.frameShown.disconnect(on_frame)
    if not rows:
        print(f"\n{path.name}: every frame shown came from the frame cache ({cached[0]}); no stages to split")
        win.close()
        return
    a = np.array(rows)
    total = a[:, -1]
    tail = a[total >= np.percentile(total, 90)]
    print(f"\n{path.name}: {len(a)} frames decoded for the drag, {cached[0]} more from the frame cache; bare batch-1 decode {np.median(refs1):.2f} ms with one thread "
          f"(the render thread's), {np.median(refs):.2f} ms with {torch.get_num_threads()}")
    print(f"  {'stage':24s} {'p50':>7s} {'p95':>7s} {'slowest 10%':>12s}")
    for i, name in enumerate(STAGES + ("total",)):
        print(f"  {name:24s} {np.percentile(a[:, i], 50):7.2f} {np.percentile(a[:, i], 95):7.2f} "
              f"{tail[:, i].mean():12.2f}   ms")
    win.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--drags", type=int, default=3)
    args = parser.parse_args()
    paths = args.checkpoints or demo_model_paths()
    if not paths:
        print("no checkpoints given and no demo models found")
        return 2
    _instrument()
    for p in paths:
        breakdown(p, args.drags)
    return 0


if __name__ == "__main__":
    sys.exit(main())
