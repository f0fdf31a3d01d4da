"""The live preview: the decoded image of the current latent, with decode time and frame rate."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from latentlab.app import AppModel
from latentlab.ui.render_bridge import RenderBridge
from latentlab.ui.widgets import ImageCanvas, LiveText

if TYPE_CHECKING:
    from latentlab.core.render import RenderResult

VIEW = "preview"
EMPTY_HINT = "Open a checkpoint (File ▸ Open, or drop it here)"
PREFETCH_NEIGHBOURS = 2  # codebook values decoded ahead on each side of a dragged quantized dimension
GRAB_PREFETCH_DELAY_MS = 30  # after a handle is pressed, before its neighbours are decoded ahead


class FrameDragButton(QToolButton):
    """Drag from here to drop the shown frame as a PNG (a file manager, a slide, a chat)."""

    def __init__(self, preview: PreviewPanel):
        super().__init__()
        self.preview = preview
        self.setText("Drag PNG")
        self.setToolTip("Drag the frame out as a PNG file (Edit ▸ Copy frame puts it on the clipboard)")
        self._pressed_at = None

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        self._pressed_at = ev.position()
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        img = self.preview.shown_image()
        if self._pressed_at is not None and img is not None and \
                (ev.position() - self._pressed_at).manhattanLength() >= QApplication.startDragDistance():
            self._pressed_at = None
            self.setDown(False)
            from latentlab.ui.clipboard import drag_frame

            entry = self.preview.state.current
            drag_frame(self, img, entry.name if entry is not None else "frame")
            return
        super().mouseMoveEvent(ev)


class PreviewPanel(QWidget):
    INFO_INTERVAL_MS = 250
    frameShown = Signal(object, float)  # RenderResult, perf_counter when its pixels were painted

    def __init__(self, state: AppModel, bridge: RenderBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.bridge = bridge
        self.canvas = ImageCanvas()
        # Changes several times a second during a drag: a LiveText repaints where a QLabel would re-lay out
        # the main window (docks, tabs, their animations) each time.
        self.info = LiveText("no model")
        self.info.setObjectName("previewInfo")
        self.info.setToolTip("Last decode time (batch of one, on the model's device) and frames shown per second")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas, 1)
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        for label, factor, tip in (("Fit", None, "Fit the image to the view (F)"), ("1×", 1, "One image pixel per screen pixel"),
                                   ("2×", 2, ""), ("4×", 4, ""), ("8×", 8, "")):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip or f"{label} pixel-exact zoom")
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, f=factor: self.canvas.zoom_to(f))
            bar.addWidget(b)
        self.drag_button = FrameDragButton(self)
        bar.addWidget(self.drag_button)
        lay.addLayout(bar)
        self._frame_times: deque[float] = deque(maxlen=30)
        # Readable, and cheap: the info line changes at most every INFO_INTERVAL_MS, the last frame's figures
        # always end up in it.
        self._info_timer = QTimer(self, singleShot=True, interval=self.INFO_INTERVAL_MS, timeout=self._update_info)
        self._info_shown_at = 0.0
        self.last_result: RenderResult | None = None
        self.last_seq_requested = 0
        self.look_token: int | None = None  # a layer view's model (Generator panel), shown instead of the image
        self._grabbed_dim = 0
        self._grab_timer = QTimer(self, singleShot=True, interval=GRAB_PREFETCH_DELAY_MS,
                                  timeout=lambda: self.prefetch_neighbours(self._grabbed_dim))
        state.latentChanged.connect(self.request)
        state.currentModelChanged.connect(self._on_model)
        bridge.rendered.connect(self._on_rendered)
        bridge.notice.connect(lambda text: state.message.emit("warning", text))
        self.canvas.painted.connect(self._on_painted)

        self._on_model(None)

    def _on_model(self, entry) -> None:
        self._frame_times.clear()
        self._info_timer.stop()
        self.last_result = None
        if entry is None:
            self.canvas.clear_image()
            self.canvas.set_overlay(EMPTY_HINT)
            self.info.setText("no model")

    def set_look_token(self, token: int | None) -> None:
        """Show the layer view registered under ``token`` (None: the image) from the next frame on."""
        self.look_token = token
        self.request("look")

    def show_loading(self, name: str) -> None:
        """Until the first model is open, the empty preview says what is being opened (the first start is slow)."""
        if self.state.current is None:
            self.canvas.set_overlay(f"Opening {name}…" if name else EMPTY_HINT)

    def request(self, source: str = "") -> None:
        if self.state.current is None or self.state.z.size == 0:
            return
        self.last_seq_requested = self.bridge.submit(VIEW, self.state.z, priority=0, progressive=True,
                                                     token=self.look_token)
        if source.startswith("slider:"):
            self._grab_timer.stop()  # the drag came first: this request's own prefetch follows it
            self.prefetch_neighbours(int(source.split(":", 1)[1]))

    def on_grabbed(self, j: int) -> None:
        """A slider's handle was pressed: prefetch its neighbours, unless the latent changes first.

        The wait is short next to a hand's reaction, so the frames are ready for the first crossing; a change
        that comes at once (a click on the groove, a jump) is decoded without a prefetch ahead of it.
        """
        self._grabbed_dim = j
        self._grab_timer.start()

    def prefetch_neighbours(self, j: int) -> None:
        """A quantized dimension being dragged can only land on a few values: decode the next ones ahead.

        Called when its handle is pressed and at each codebook crossing. The render thread would otherwise sit
        idle between two crossings and start cold at each; with the neighbours decoded in the background, a
        crossing is shown straight from the frame cache. Continuous models: nothing to do.
        """
        if self.state.current is None or not self.state.current.quantized or self.state.z.size == 0:
            return
        books = self.state.current.codebooks()
        if not books or not 0 <= j < len(books):
            return
        values = np.unique(books[j])
        k = int(np.argmin(np.abs(values - self.state.z[j])))
        picks = [values[i] for i in range(k - PREFETCH_NEIGHBOURS, k + PREFETCH_NEIGHBOURS + 1)
                 if i != k and 0 <= i < len(values)]
        if picks:
            zs = np.repeat(self.state.z[None], len(picks), axis=0)
            zs[:, j] = picks
            self.bridge.prefetch(zs)

    def _on_rendered(self, res: RenderResult) -> None:
        if res.view != VIEW:
            return
        if not res.ok:
            self._info_timer.stop()
            self.canvas.set_overlay(f"⚠ {res.error}")
            self.info.setText(f"error: {res.error}")
            return
        self.canvas.set_overlay("")
        self.canvas.set_image(res.image)
        self.last_result = res
        if not res.draft and res.rank[0] == self.last_seq_requested:
            self._info_shown_at = 0.0  # the full image of the latest latent: say so at once, not 250 ms later

    def _on_painted(self) -> None:
        """The newest image reached the screen: that, not its arrival, is when a frame counts as shown."""
        res = self.last_result
        if res is None or res.image is None:
            return
        now = time.perf_counter()
        self._frame_times.append(now)
        if now - self._info_shown_at >= self.INFO_INTERVAL_MS / 1e3:
            self._update_info()
        elif not self._info_timer.isActive():
            self._info_timer.start()
        self.frameShown.emit(res, now)

    def _update_info(self) -> None:
        res = self.last_result
        if res is None or res.image is None:
            return
        now = time.perf_counter()
        self._info_shown_at = now
        # Frame rate over the last second only: after an idle spell a rate over old frames reads "0 fps".
        recent = [t for t in self._frame_times if now - t <= 1.0]
        rate = "idle"
        if len(recent) > 1 and recent[-1] > recent[0]:
            rate = f"{(len(recent) - 1) / (recent[-1] - recent[0]):.0f} fps"
        h, w = res.image.shape[:2]
        decode = "decoded before" if res.cached else f"decode {res.decode_ms:.1f} ms"
        # A slow model shows a draft while the latent moves, and its full image once it rests.
        level = f"draft {res.level} px, refining" if res.draft else "full"
        look = "layer view · " if self.look_token is not None else ""  # the Generator panel's Look inside
        self.info.setText(f"{look}{w}×{h} {level}   {decode}   {rate}")

    def shown_image(self) -> np.ndarray | None:
        return self.canvas.current_image()

    def keyPressEvent(self, ev) -> None:
        if ev.key() == Qt.Key.Key_F:
            self.canvas.zoom_to(None)
        else:
            super().keyPressEvent(ev)
