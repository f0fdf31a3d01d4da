"""What the user sees while the app starts, and the install check that renders one frame and quits.

Importing torch and scikit-learn takes seconds; the window is built without them and shows a loading state
while torch is imported on the next turn of the event loop (``MainWindow.finish_startup``). Until the window
is up, a splash screen says what is loading from the moment Qt is up. ``FirstFrameCheck`` is for install checks
(the wheel test, the bundle's smoke test): it waits for the first frame the preview paints, writes it to a
PNG, prints a JSON report and quits the app with 0, or with 1 when a model fails to open or no frame comes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

from latentlab import __version__
from latentlab.ui.icons import broken_icons, icon

log = logging.getLogger(__name__)

SPLASH_SIZE = (440, 220)


def _splash_pixmap() -> QPixmap:
    w, h = SPLASH_SIZE
    pm = QPixmap(w, h)
    pm.fill(QColor("#1d2024"))
    p = QPainter(pm)
    p.drawPixmap(28, 40, icon("latentlab").pixmap(96, 96))
    p.setPen(QColor("#e3e6ea"))
    title = QFont(p.font())
    title.setPointSize(22)
    title.setBold(True)
    p.setFont(title)
    p.drawText(QRect(144, 52, w - 160, 40), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "latentlab")
    small = QFont(p.font())
    small.setPointSize(10)
    small.setBold(False)
    p.setFont(small)
    p.setPen(QColor("#8b939c"))
    p.drawText(QRect(144, 92, w - 160, 24), Qt.AlignmentFlag.AlignLeft, f"version {__version__}")
    p.end()
    return pm


class _Splash(QWidget):
    """The splash: the picture, the message inset from the edges, above a bar showing how many steps are done.

    A plain frameless window rather than a QSplashScreen: Qt 6's splash screen waits up to a second for its
    window to be exposed when shown, and again for the main window in ``finish``; on a platform that reports
    exposure late (or never, offscreen) that was a second of every start spent waiting.
    """

    fraction = 0.0

    def __init__(self, pixmap: QPixmap):
        flags = Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
        super().__init__(None, flags)
        self._pixmap = pixmap
        self._message = ""
        self.setFixedSize(pixmap.deviceIndependentSize().toSize())
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            self.move(screen.availableGeometry().center() - self.rect().center())

    def message(self) -> str:
        return self._message

    def showMessage(self, text: str) -> None:  # noqa: N802 - QSplashScreen's name
        self._message = text
        if self.isVisible():
            self.repaint()

    def finish(self, window) -> None:
        self.close()

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        self.hide()  # as a splash screen does: a click dismisses it

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        self.drawContents(painter)
        painter.end()

    def drawContents(self, painter: QPainter) -> None:  # noqa: N802 - Qt's name
        w, h = SPLASH_SIZE
        painter.setPen(QColor("#e3e6ea"))
        painter.drawText(QRect(28, h - 52, w - 56, 24), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.message())
        painter.fillRect(QRect(28, h - 22, w - 56, 4), QColor("#30353b"))
        painter.fillRect(QRect(28, h - 22, int((w - 56) * self.fraction), 4), QColor("#3d7bd9"))


class StartupProgress:
    """A splash screen naming each start-up step; every step is also logged with its time since start."""

    STEPS = 3  # what main() announces with the splash up: the explorer, the window, ready

    def __init__(self, app: QApplication, show: bool = True):
        self.app = app
        self.t0 = time.perf_counter()
        self.shown_wall = time.time()  # the splash is up from here
        # (message, seconds since start, whether torch was already imported): the install checks assert the
        # splash came up before the heavy imports, which is the point of it.
        self.steps: list[tuple[str, float, bool]] = []
        self.splash: _Splash | None = None
        if show:
            self.splash = _Splash(_splash_pixmap())
            self.splash.show()

    def step(self, message: str) -> None:
        elapsed = time.perf_counter() - self.t0
        self.steps.append((message, round(elapsed, 3), "torch" in sys.modules))
        log.info("start-up %.2f s: %s", elapsed, message)
        if self.splash is not None:
            self.splash.fraction = min(1.0, (len(self.steps) - 1) / (self.STEPS - 1))
            self.splash.showMessage(f"{message}…")
            # Nothing else runs until the next step; let the splash paint this message now.
            self.app.processEvents()

    @property
    def message(self) -> str:
        return self.splash.message() if self.splash is not None else ""

    def finish(self, window) -> None:
        self.step("ready")
        self.ready_wall = time.time()  # for benchmarks/startup_time.py: process launch to a usable window
        if self.splash is not None:
            self.splash.finish(window)
            self.splash.deleteLater()
            self.splash = None


class FirstFrameCheck:
    """Quit the app once the preview has painted its first frame (exit 0), or on the first error (exit 1)."""

    def __init__(self, window, png: Path | None, startup: StartupProgress, timeout_s: float = 180.0):
        self.window = window
        self.png = png
        self.startup = startup
        self.done = False
        window.preview.canvas.painted.connect(self._on_painted)
        window.state.message.connect(self._on_message)
        self._timer = QTimer(window, singleShot=True, interval=int(timeout_s * 1000), timeout=self._on_timeout)
        self._timer.start()

    def _finish(self, code: int) -> None:
        if self.done:
            return
        self.done = True
        self._timer.stop()
        # close() stops every worker thread first, as a user's quit does.
        self.window.close()
        QApplication.instance().exit(code)

    def _on_painted(self) -> None:
        res = self.window.preview.last_result
        entry = self.window.state.current
        if self.done or res is None or res.image is None or entry is None or res.model_token != entry.token:
            return
        report = {
            "model": entry.name, "path": str(entry.path), "latent": [float(v) for v in np.asarray(res.z).ravel()],
            "shape": list(res.image.shape), "device": res.device, "frame": str(self.png) if self.png else None,
            "package": str(Path(__import__("latentlab").__file__).parent), "icons_broken": broken_icons(),
            "startup": [{"step": m, "seconds": t, "torch_loaded": torch} for m, t, torch in self.startup.steps],
            "ready_wall_time": getattr(self.startup, "ready_wall", None), "first_frame_wall_time": time.time(),
        }
        if self.png is not None:
            from PIL import Image

            from latentlab.core.errors import LatentlabError
            from latentlab.core.export.outputs import check_file_output
            from latentlab.core.paths import AtomicPath

            try:  # the PNG may not replace a checkpoint (``--exit-after-frame model.safetensors`` names one)
                check_file_output(self.png, "grid", [e.path for e in self.window.state.models])
            except LatentlabError as exc:
                print(f"latentlab gui: {exc}", file=sys.stderr, flush=True)
                self._finish(1)
                return
            with AtomicPath(self.png) as tmp:
                Image.fromarray(np.ascontiguousarray(res.image)).save(tmp, format="PNG")
        print(json.dumps(report), flush=True)
        self._finish(0)

    def _on_message(self, level: str, text: str) -> None:
        if level == "error" and not self.done:
            print(f"latentlab gui: {text}", file=sys.stderr, flush=True)
            self._finish(1)

    def _on_timeout(self) -> None:
        print("latentlab gui: no frame was rendered in time", file=sys.stderr, flush=True)
        self._finish(1)
