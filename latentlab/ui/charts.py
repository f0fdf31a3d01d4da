"""Heatmaps and bar charts for matrices of figures (MI, importances, direction x factor, cosines, KL)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import adopt_menus, plot_widget


def _ticks(labels: Sequence[str]) -> list[list[tuple[float, str]]]:
    return [[(i + 0.5, str(s)) for i, s in enumerate(labels)]]


class Heatmap(QWidget):
    """A labelled matrix: rows x columns, a colour bar, the value under the mouse, clickable rows."""

    rowClicked = Signal(int)

    def __init__(self, title: str = "", colormap: str = "viridis", symmetric: bool = False,
                 parent: QWidget | None = None, empty_text: str = "nothing computed yet", units: str = ""):
        super().__init__(parent)
        self.symmetric = symmetric
        self.units = units  # what the colour bar's numbers are (every heatmap says)
        self.plot = plot_widget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setTitle(title, color="#c9ced4", size="10pt")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.cmap = pg.colormap.get("CET-D1" if symmetric else colormap)
        self.bar = pg.ColorBarItem(colorMap=self.cmap, interactive=False, width=12, label=units or None)
        self.bar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        adopt_menus(self.plot)  # the colour bar is a plot item of its own, with its own menus
        self.hover = PlainLabel(" ")
        self.hover.setStyleSheet("color: #9aa3ad; font-size: 10px;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.hover)
        self.matrix: np.ndarray | None = None
        self.row_labels: list[str] = []
        self.col_labels: list[str] = []
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        # An empty heatmap says why it is empty instead of showing bare axes around nothing.
        self.placeholder = pg.TextItem(empty_text, color="#7d8590", anchor=(0.5, 0.5))
        self.plot.addItem(self.placeholder)
        self._show_empty(True)

    def set_units(self, units: str) -> None:
        """Relabel the colour bar (e.g. when a toggle switches raw and normalised values)."""
        self.units = units
        self.bar.axis.setLabel(units)

    def set_empty_text(self, text: str) -> None:
        self.placeholder.setText(text, color="#7d8590")

    def _show_empty(self, empty: bool) -> None:
        self.placeholder.setVisible(empty)
        self.bar.setVisible(not empty)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setStyle(showValues=not empty)
        if empty:
            self.placeholder.setPos(0.5, 0.5)
            self.plot.setXRange(0, 1, padding=0)
            self.plot.setYRange(0, 1, padding=0)

    def set_matrix(self, matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
                   vmin: float | None = None, vmax: float | None = None) -> None:
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2:
            raise ValueError(f"a heatmap needs a 2-D matrix, got shape {m.shape}")
        self.matrix = m
        self.row_labels = list(row_labels)
        self.col_labels = list(col_labels)
        finite = m[np.isfinite(m)]
        if self.symmetric:
            lim = float(np.abs(finite).max()) if finite.size else 1.0
            lo, hi = -lim, lim
        else:
            lo = float(finite.min()) if vmin is None and finite.size else (vmin or 0.0)
            hi = float(finite.max()) if vmax is None and finite.size else (vmax if vmax is not None else 1.0)
        if hi <= lo:
            hi = lo + 1e-9
        self.image.setImage(np.nan_to_num(m, nan=lo), levels=(lo, hi), autoLevels=False)
        self.bar.setLevels((lo, hi))
        self.image.setRect(0, 0, m.shape[1], m.shape[0])
        self.plot.getAxis("left").setTicks(_ticks(self.row_labels))
        self.plot.getAxis("bottom").setTicks(_ticks(self.col_labels))
        self._show_empty(False)
        self.plot.setXRange(0, m.shape[1], padding=0)
        self.plot.setYRange(0, m.shape[0], padding=0)

    def clear(self) -> None:
        self.matrix = None
        self.image.clear()
        self.hover.setText(" ")
        self._show_empty(True)

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        if self.matrix is None:
            return None
        p = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        r, c = int(np.floor(p.y())), int(np.floor(p.x()))
        if 0 <= r < self.matrix.shape[0] and 0 <= c < self.matrix.shape[1]:
            return r, c
        return None

    def _on_move(self, pos) -> None:
        cell = self.cell_at(pos)
        if cell is None:
            return
        r, c = cell
        self.hover.setText(f"{self.row_labels[r]} × {self.col_labels[c]}: {self.matrix[r, c]:.3f}")

    def _on_click(self, ev) -> None:
        cell = self.cell_at(ev.scenePos())
        if cell is not None:
            self.rowClicked.emit(cell[0])


class BarChart(QWidget):
    """One bar per latent dimension, coloured by a category (e.g. activity)."""

    barClicked = Signal(int)

    def __init__(self, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setTitle(title, color="#c9ced4", size="10pt")
        self.bars: pg.BarGraphItem | None = None
        self.values: np.ndarray | None = None
        self.labels: list[str] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    def clear(self) -> None:
        """No bars (another model's figures must not stay up)."""
        if self.bars is not None:
            self.plot.removeItem(self.bars)
        self.bars, self.values, self.labels = None, None, []
        self.plot.getAxis("bottom").setTicks(None)

    def set_values(self, values: np.ndarray, labels: Sequence[str], colours: Sequence[str] | None = None) -> None:
        v = np.asarray(values, dtype=np.float64)
        self.values = v
        self.labels = list(labels)
        if self.bars is not None:
            self.plot.removeItem(self.bars)
        brushes = [pg.mkBrush(c) for c in colours] if colours else pg.mkBrush("#7aa2d6")
        self.bars = pg.BarGraphItem(x=np.arange(len(v)), height=np.nan_to_num(v), width=0.8, brushes=brushes
                                    if colours else None, brush=None if colours else brushes)
        self.plot.addItem(self.bars)
        self.plot.getAxis("bottom").setTicks([[(i, s) for i, s in enumerate(self.labels)]])
        self.plot.setXRange(-0.6, len(v) - 0.4, padding=0)

    def _on_click(self, ev) -> None:
        if self.values is None:
            return
        p = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        i = int(round(p.x()))
        if 0 <= i < len(self.values):
            self.barClicked.emit(i)
