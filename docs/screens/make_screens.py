"""Screenshots of every tab of the app at a laptop size, on the shipped demo models (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python docs/screens/make_screens.py [--size 1280x800] [--out docs/screens]

Writes one PNG per dock tab (``<tab>.png``, the whole window with that tab raised) and prints, per size, the
window's actual size against the one asked for (a window wider than the screen is a layout bug). Run it
whenever the UI changes and look at the pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENTLAB_HOME", tempfile.mkdtemp(prefix="latentlab-screens-"))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402


def spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(app, cond, timeout: float) -> bool:
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return cond()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--tabs", nargs="*", help="only these dock tabs")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    from latentlab.core.resources import demo_model_paths
    from latentlab.ui.app import make_app
    from latentlab.ui.main_window import MainWindow

    app = make_app()
    win = MainWindow(device="cpu")
    win.resize(w, h)
    win.show()
    paths = demo_model_paths()
    win.open_paths(paths)
    wait_until(app, lambda: len(win.state.models) == len(paths), 120)
    entry = win.state.current
    wait_until(app, lambda: entry is None or entry.encoded is not None or not entry.encodes, 180)
    spin(2.0)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"asked {w}x{h}: window {win.width()}x{win.height()}, minimum {win.minimumSizeHint().width()}x"
          f"{win.minimumSizeHint().height()}")
    for title, dock in win.docks.items():
        if args.tabs and title not in args.tabs:
            continue
        dock.raise_()
        if title == "Probe" and win.probe.run_button.isEnabled():  # a probe's figure, not an empty plot
            win.probe.n.setValue(64)
            win.probe.run()
            wait_until(app, lambda: win.probe.result is not None, 180)
        spin(1.0)
        name = title.lower().replace(" ", "-")
        win.grab().save(str(args.out / f"{name}.png"))
        print(f"  {name}.png")
    win.close()
    return 0 if win.width() <= w and win.height() <= h else 1


if __name__ == "__main__":
    sys.exit(main())
