"""Big models stay live on a CPU: the progressive preview's draft and full-image latencies, on the real window.

Builds random-weight generators with our own code — StyleGAN2 (config-f widths) at 256 and 1024 px and a
128-px conv VAE — opens each in the app offscreen and drags a slider (``--changes`` value changes,
``--interval-ms`` apart: 16 ms by default, a mouse at 60 Hz), ``--drags`` times. Prints per model:

- the bare full decode (batch 1, median of a few);
- slider-to-first-pixels p95: for every slider value that reached the screen, from the change to the paint of
  its first frame (a draft while a model is too slow for a frame; the full image otherwise);
- slider-to-full p95 after the drag rests: from the last change of a drag to the paint of its full image;
- the longest GUI-thread stall (a 1 ms heartbeat timer's largest gap);
- whether every drag ended on exactly the model's full decode of its final value.

Targets on 2 CPU cores: draft p95 <= 1/8 of the bare full decode (and <= 150 ms at 256 px), stall <= 20 ms,
final value always shown. With CUDA present (``--device cuda``), the same loop on the GPU; the target there is
1024 px at >= 30 full frames per second (printed as the frame rate of the drags).

    QT_QPA_PLATFORM=offscreen python benchmarks/big_model_preview.py [--sizes 256 1024] [--changes 40] [--drags 3]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from preview_latency import Heartbeat, _decoded, spin, wait_until  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

from latentlab.core.checkpoints import save_checkpoint  # noqa: E402
from latentlab.core.model import ModelInfo  # noqa: E402
from latentlab.core.zoo import build_network  # noqa: E402
from latentlab.core.zoo.stylegan2 import StyleGAN2Generator  # noqa: E402
from latentlab.ui.app import make_app  # noqa: E402
from latentlab.ui.main_window import MainWindow  # noqa: E402

CONFIG_F = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}


def stylegan2(size: int, seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    res = [4 * 2 ** i for i in range(int(np.log2(size)) - 1)]
    g = StyleGAN2Generator(channels=[CONFIG_F[r] for r in res], mapping=[512] * 9).eval()
    g.info = ModelInfo(f"random StyleGAN2 {size} px", 512, (3, size, size))
    return g


def conv_vae(size: int = 128, seed: int = 0):
    torch.manual_seed(seed)
    m = build_network("beta_vae", latent_dim=10, channels=3, image_size=size).eval()
    m.info = ModelInfo(f"random conv VAE {size} px", 10, (3, size, size))
    return m


def bare_full_ms(model, n: int) -> float:
    z = torch.zeros(1, model.info.latent_dim)
    times = []
    with torch.inference_mode():
        model.decode(z)
        for _ in range(n):
            t0 = time.perf_counter()
            model.decode(z)
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def _decoded_on_render_thread(win: MainWindow, z: np.ndarray) -> np.ndarray:
    """The model's own decode of ``z``, run on the render thread: with its thread count, so float sums round
    the same way (a decode with another intra-op thread count can differ by one grey level)."""
    import threading

    out: list[np.ndarray] = []
    done = threading.Event()
    from latentlab.core.model import device_of

    worker = win.bridge.service.worker(str(device_of(win.state.current.model)))
    worker.call(lambda: (out.append(_decoded(win, z)), done.set()))
    done.wait(600)
    return out[0]


def drag(app, win: MainWindow, dim: int, changes: int, timeout: float, interval_ms: int = 0) -> dict:
    row = win.sliders.row(dim)
    positions = np.linspace(row.slider.minimum(), row.slider.maximum(), changes + 2)[1:-1].round().astype(int)
    frames: list[tuple[float, bool]] = []  # (latency ms, draft)
    loop = QEventLoop()
    st = {"i": 0, "final_z": None, "released": 0.0, "full_ms": None}

    def final_full(res) -> bool:
        return (st["final_z"] is not None and res.z is not None and not res.draft
                and np.array_equal(res.z, st["final_z"]))

    seen: set[int] = set()

    def on_frame(res, when):
        # First pixels: the first frame shown for each slider value (a draft, or the full image when no draft
        # was needed); the finer levels a resting value is refined through come later and are not counted.
        if res.seq not in seen:
            seen.add(res.seq)
            frames.append((1e3 * (when - res.created), res.draft))
        if final_full(res):
            st["full_ms"] = 1e3 * (when - st["released"])
            loop.quit()

    def step():
        row.slider.setSliderPosition(int(positions[st["i"]]))
        st["i"] += 1
        if st["i"] < changes:
            QTimer.singleShot(interval_ms, step)
            return
        # The last change and the release in one turn: its frames can only arrive after this returns, so the
        # final value is known before any of them (a fast model's frame would otherwise come first).
        row.slider.setSliderDown(False)
        st["final_z"], st["released"] = win.state.z.copy(), time.perf_counter()

    win.preview.frameShown.connect(on_frame)
    beat = Heartbeat()
    beat.start()
    t0 = time.perf_counter()
    row.slider.setSliderDown(True)
    QTimer.singleShot(0, step)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    seconds = time.perf_counter() - t0
    stall = beat.stop()
    win.preview.frameShown.disconnect(on_frame)
    shown = win.preview.shown_image()
    exact = st["full_ms"] is not None and np.array_equal(shown, _decoded_on_render_thread(win, st["final_z"]))
    if not exact:  # say what was on screen instead, so a miss can be told from a slow machine
        last = win.preview.last_result
        why = "no full image of the final value arrived" if st["full_ms"] is None else (
            f"the screen shows {'a draft' if last is not None and last.draft else 'a full image'} that differs "
            f"from the decode of the final value by up to "
            f"{int(np.abs(shown.astype(int) - _decoded_on_render_thread(win, st['final_z']).astype(int)).max())}")
        print(f"  drag on z{dim}: {why}")
    return {"frames": frames, "full_ms": st["full_ms"], "stall": stall, "exact": bool(exact),
            "fps": len(frames) / seconds}


def bench(app, name: str, model, device: str, changes: int, drags: int, interval_ms: int = 0) -> bool:
    model = model.to(device)
    full = bare_full_ms(model, 3 if model.info.image_shape[1] >= 1024 else 7)
    path = Path(tempfile.mkdtemp()) / f"{name}.safetensors"
    save_checkpoint(model.to("cpu"), path)
    win = MainWindow(device=device)
    win.resize(1280, 800)
    win.show()
    win.open_paths([path])
    if not wait_until(app, lambda: win.state.current is not None, 300):
        print(f"{name}: could not open ({win.banner.text})")
        return False
    # The first frame is a full decode that also measures every level (what drafts cost here).
    wait_until(app, lambda: win.preview.last_result is not None and not win.preview.last_result.draft, 600)
    spin(app, 0.5)
    timeout = 60 + 20 * full / 1e3
    results = [drag(app, win, d % win.state.current.latent_dim, changes, timeout, interval_ms) for d in range(drags)]
    lat = np.array([f[0] for r in results for f in r["frames"]])
    drafts = sum(f[1] for r in results for f in r["frames"])
    fulls = [r["full_ms"] for r in results if r["full_ms"] is not None]
    stall = max(r["stall"] for r in results)
    exact = all(r["exact"] for r in results)
    first_p95 = float(np.percentile(lat, 95)) if len(lat) else float("nan")
    full_p95 = float(np.percentile(fulls, 95)) if fulls else float("nan")
    side = model.info.image_shape[1]
    cap = min(full / 8, 150.0) if side <= 256 else full / 8
    print(f"\n{name} ({side} px, {device}; {drags} drags x {changes} changes, {interval_ms} ms apart)")
    print(f"  bare full decode                   {full:9.1f} ms")
    print(f"  slider-to-first-pixels p95         {first_p95:9.1f} ms   ({len(lat)} frames, {drafts} drafts; "
          f"target <= {cap:.1f} ms when drafting)")
    print(f"  slider-to-full p95 after rest      {full_p95:9.1f} ms   (from the last change to the full image)")
    print(f"  longest GUI-thread stall           {stall:9.1f} ms   (target <= 20 ms)")
    print(f"  frames per second during drags     {np.mean([r['fps'] for r in results]):9.1f}")
    print(f"  every drag ended on its exact full image: {'yes' if exact else 'NO'}")
    drafting = full > 40.0
    ok = stall <= 20 and exact and (not drafting or first_p95 <= cap)
    print(f"  targets met: {'yes' if ok else 'NO'}")
    win.close()
    # One window per process in the app; here the next model gets a fresh one. Its garbage is collected (main)
    # not in a full collection during the next model's drags (a 0.2-0.3 s GUI stall that belongs to neither).
    win.deleteLater()
    spin(app, 0.2)
    return ok


def _collect() -> None:
    gc.collect()
    gc.freeze()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 1024])
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--interval-ms", type=int, default=16,
                        help="between two slider changes (default 16: a mouse at 60 Hz; 0: one event-loop turn)")
    parser.add_argument("--drags", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-vae", action="store_true")
    args = parser.parse_args()
    app = make_app()
    ok = []
    for size in args.sizes:
        ok.append(bench(app, f"stylegan2-{size}", stylegan2(size), args.device, args.changes, args.drags, args.interval_ms))
        _collect()
    if not args.no_vae:
        ok.append(bench(app, "conv-vae-128", conv_vae(128), args.device, args.changes, args.drags, args.interval_ms))
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
