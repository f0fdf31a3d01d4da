"""Traversal grid: one row per chosen dimension, N steps across its range around the current latent.

Rows render in the background as separate low-priority views, so the live preview cuts in between them;
while the latent is being dragged the grid refreshes at most a few times a second. Clicking a cell jumps
the current latent there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from latentlab.app import AppModel
from latentlab.core.activity import PASSIVE
from latentlab.core.traversal import traversal_grid
from latentlab.ui.binding import bind, connect_while_alive
from latentlab.ui.render_bridge import RenderBridge
from latentlab.ui.safe_text import PlainLabel, plain_rich, shown
from latentlab.ui.widgets import FlowLayout, ImageCanvas

if TYPE_CHECKING:
    from latentlab.core.render import RenderResult

MAX_CELL = 128  # pixels on a cell's side in the composed grid (bigger images are subsampled; a dock shows ~60-100)
PREFIX = "grid:"
PAD = 2


def parse_dims(text: str, d: int) -> list[int]:
    """'0,2,5-7' -> [0, 2, 5, 6, 7]; raises ValueError with a readable message."""
    dims: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            dims.extend(range(int(a), int(b) + 1))
        else:
            dims.append(int(part))
    bad = [j for j in dims if not 0 <= j < d]
    if bad:
        raise ValueError(f"dimension {bad[0]} out of range 0..{d - 1}")
    return list(dict.fromkeys(dims))


class TraversalGridPanel(QWidget):
    def __init__(self, state: AppModel, bridge: RenderBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.bridge = bridge
        self.canvas = ImageCanvas()
        self.steps = QSpinBox()
        self.steps.setRange(2, 25)
        self.steps.setValue(9)
        self.steps.setPrefix("steps ")
        self.steps.setToolTip("Columns: values across each dimension's slider range")
        self.dims_edit = QLineEdit()
        self.dims_edit.setPlaceholderText("dims: active ones (e.g. 0,2,5-7)")
        self.dims_edit.setToolTip("Rows: which latent dimensions to traverse; empty = the active ones")
        self.status = PlainLabel("")
        self.status.setStyleSheet("color: #9aa3ad;")
        self.along = QComboBox()
        self.along.addItem("along axes", "axes")
        self.along.addItem("along directions", "directions")
        self.along.setToolTip("Rows step along latent dimensions, or along the directions ticked in the Directions dock")
        # Set by the directions feature: () -> list of Direction objects to use as rows.
        self.direction_source = None
        bar = FlowLayout()
        bar.addWidget(self.along)
        bar.addWidget(self.dims_edit, 2)
        bar.addWidget(self.steps)
        bar.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        self.dims: list[int] = []
        self.grid_z: np.ndarray | None = None
        self._tiles: dict[int, np.ndarray] = {}
        self._image: np.ndarray | None = None
        self._labels: list = []
        self._labelled: tuple | None = None  # what the labels shown were drawn for
        self.col_names: list[str] = []
        self._timer = QTimer(self, singleShot=True, interval=120, timeout=self.refresh)
        self._dragging_timer = QTimer(self, singleShot=True, interval=300, timeout=self.refresh)
        self.on_screen = True  # until a dock says otherwise
        self._stale = False
        state.latentChanged.connect(self._on_latent)
        state.currentModelChanged.connect(lambda _e: self.schedule())
        state.analysisChanged.connect(lambda _e: self.schedule())
        state.rangeChanged.connect(lambda _s: self.schedule())
        bind(self.steps, state.view, "grid_steps")
        bind(self.dims_edit, state.view, "grid_dims")
        self.steps.valueChanged.connect(lambda _v: self.schedule())
        connect_while_alive(state.view.events.grid_dims, self, lambda *_: self.schedule())
        self.along.currentIndexChanged.connect(lambda _i: self.schedule())
        self.dims_edit.editingFinished.connect(self.schedule)
        bridge.rendered.connect(self._on_rendered)
        self.canvas.clicked.connect(self._on_click)
        self.canvas.view.sigResized.connect(lambda *_: self._fit())  # cells follow the dock's size

    def set_on_screen(self, on: bool) -> None:
        """Called by the dock when its tab is shown or hidden: a hidden grid renders nothing."""
        self.on_screen = on
        if on and self._stale:
            self.schedule()

    def _on_latent(self, source: str) -> None:
        if not self.on_screen:
            self._stale = True
            return
        if source.startswith("slider:") or source == "flow":
            # Mid-drag: refresh now and then, not on every event.
            if not self._dragging_timer.isActive():
                self._dragging_timer.start()
        else:
            self.schedule()

    def schedule(self) -> None:
        if not self.on_screen:
            self._stale = True
            return
        self._stale = False
        self._timer.start()

    def chosen_dims(self) -> list[int]:
        entry = self.state.current
        if entry is None:
            return []
        d = entry.latent_dim
        text = self.dims_edit.text().strip()
        if text:
            try:
                return parse_dims(text, d)
            except ValueError as exc:
                self.status.setText(f"⚠ {exc}")
                return []
        if entry.activity is not None:
            dims = [j for j, lab in enumerate(entry.activity.labels) if lab != PASSIVE]
            if dims:
                return dims[:16]
        return list(range(min(d, 10)))

    def refresh(self) -> None:
        entry = self.state.current
        self.bridge.cancel(PREFIX)
        if entry is None or self.state.z.size == 0:
            self.canvas.clear_image()
            return
        steps = self.steps.value()
        if self.along.currentData() == "directions":
            dirs = self.direction_source() if self.direction_source else []
            if not dirs:
                self.status.setText("no directions ticked in the Directions dock")
                return
            span = self.direction_span() if hasattr(self, "direction_span") else 3.0
            alphas = np.linspace(-span, span, steps)
            try:
                self.grid_z = np.stack([d.sweep(self.state.z, alphas) for d in dirs]).astype(np.float32)
            except ValueError as exc:
                self.status.setText(f"⚠ {exc}")
                return
            self.dims = list(range(len(dirs)))
            self.row_names = [d.name for d in dirs]
            self.col_names = [f"α {a:+.1f}" for a in alphas]
        else:
            dims = self.chosen_dims()
            if not dims:
                return
            lo, hi = self.state.bounds()
            self.dims = dims
            act = entry.activity
            self.row_names = [entry.model.info.dim_label(j) + (f" · {act.labels[j]}" if act is not None else "")
                              for j in dims]
            span = self.state.range_std
            self.col_names = ([""] * steps if entry.quantized else
                              [f"{v:+.1f}σ" for v in np.linspace(-span, span, steps)])
            self.grid_z = traversal_grid(self.state.z, dims, steps, lo, hi)
        if entry.quantized:
            self.grid_z = self.state.snap(self.grid_z)
        self._tiles = {}
        self.status.setText(f"{len(self.dims)} rows × {steps} steps")
        for r in range(len(self.dims)):
            self.bridge.submit(f"{PREFIX}{r}", self.grid_z[r], priority=10, tag=r, progressive=True)

    def _on_rendered(self, res: RenderResult) -> None:
        if not res.view.startswith(PREFIX) or self.grid_z is None:
            return
        if not res.ok:
            self.status.setText(f"⚠ {res.error}")
            return
        r = int(res.tag)
        if r >= len(self.dims) or res.image.shape[0] != self.grid_z.shape[1]:
            return
        # Cells of a big model are shown small: a 1024-px row of nine would be a 9216-px-wide image.
        k = -(-res.image.shape[1] // MAX_CELL)
        self._tiles[r] = res.image[:, ::k, ::k] if k > 1 else res.image
        self._compose(r)

    def _compose(self, changed: int | None = None) -> None:
        """The rows into one image; with ``changed``, only that row is written into the image shown (a big
        model's rows arrive one at a time, and redrawing every row and label for each stalled the GUI)."""
        if not self._tiles:
            return
        first = next(iter(self._tiles.values()))
        steps, h, w = first.shape[:3]
        rows = len(self.dims)
        colour = first.ndim == 4
        shape = (rows * (h + PAD) - PAD, steps * (w + PAD) - PAD) + ((3,) if colour else ())
        img = self._image
        if changed is None or img is None or img.shape != shape or self._tiles[changed].shape != first.shape:
            img = np.full(shape, 40, dtype=np.uint8)
            todo = list(self._tiles)
        else:
            img = img.copy()  # the canvas may still hold the previous array
            todo = [changed]
        for r in todo:
            tile = self._tiles[r]
            for c in range(steps):
                y, x = r * (h + PAD), c * (w + PAD)
                img[y : y + h, x : x + w] = tile[c]
        self._image = img
        self.canvas.set_image(img, fit=False)
        key = (h, w, steps, tuple(getattr(self, "row_names", [])), tuple(getattr(self, "col_names", [])))
        if key != self._labelled:
            self.canvas.setToolTip(plain_rich("rows: " + ", ".join(getattr(self, "row_names", []))))
            self._label(h, w, steps)
            self._labelled = key
            self._fit()

    # --- labels and fit ---------------------------------------------------------------------------------------
    def _label(self, h: int, w: int, steps: int) -> None:
        """Rows named by dimension (and its activity), columns by value, as text beside the cells."""
        for item in self._labels:
            self.canvas.view.removeItem(item)
        self._labels = []
        for r, name in enumerate(getattr(self, "row_names", [])[: len(self.dims)]):
            item = pg.TextItem(shown(name, 40), color="#c9ced4", anchor=(1.0, 0.5))
            item.setPos(-3, r * (h + PAD) + h / 2)
            self._labels.append(item)
        self._col_labels = []
        for c, name in enumerate(getattr(self, "col_names", [])[:steps]):
            if name:
                item = pg.TextItem(name, color="#9aa3ad", anchor=(0.5, 1.0))
                item.setPos(c * (w + PAD) + w / 2, -2)
                self._labels.append(item)
                self._col_labels.append((c, item))
        for item in self._labels:
            self.canvas.view.addItem(item)

    def _fit(self) -> None:
        """Cells as large as the dock allows, with room for the labels (in screen pixels) left and above."""
        img = self._image
        if img is None:
            return
        fm = self.fontMetrics()
        left = max((fm.horizontalAdvance(shown(n, 40)) for n in getattr(self, "row_names", [])), default=0) + 10
        top = fm.height() + 6 if any(getattr(self, "col_names", [])) else 4
        vw, vh = max(1, self.canvas.view.width() - left), max(1, self.canvas.view.height() - top)
        H, W = img.shape[:2]
        scale = max(W / vw, H / vh)  # image pixels per screen pixel
        self.canvas.view.setRange(xRange=(-left * scale, W), yRange=(-top * scale, H), padding=0)
        self._thin_column_labels(fm, scale)

    def _thin_column_labels(self, fm, scale: float) -> None:
        """Value labels wider than their cells on screen overlap: show every k-th (the first and last kept)."""
        labels = getattr(self, "_col_labels", [])
        if not labels or self._image is None or not self._tiles:
            return
        w = next(iter(self._tiles.values())).shape[2]
        cell = (w + PAD) / scale
        widest = max(fm.horizontalAdvance(item.textItem.toPlainText()) for _, item in labels) + 6
        need = max(1, math.ceil(widest / max(cell, 1e-6)))
        last = labels[-1][0]
        # A stride dividing the last column keeps both ends (-3σ and +3σ, and 0 between when it is a column).
        stride = next((d for d in range(need, last + 1) if last % d == 0 and d <= 2 * need), need)
        for c, item in labels:
            item.setVisible(c % stride == 0)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        if self.grid_z is None or not self._tiles:
            return None
        first = next(iter(self._tiles.values()))
        h, w = first.shape[1:3]
        r, c = int(y // (h + PAD)), int(x // (w + PAD))
        if 0 <= r < self.grid_z.shape[0] and 0 <= c < self.grid_z.shape[1] and x >= 0 and y >= 0:
            return r, c
        return None

    def _on_click(self, x: float, y: float) -> None:
        cell = self.cell_at(x, y)
        if cell is not None and self.grid_z is not None:
            self.state.set_latent(self.grid_z[cell], "grid")

    def composed_image(self) -> np.ndarray | None:
        return self._image
