"""Latent map: a 2-D projection of encoded dataset samples, coloured by a ground-truth factor.

PCA by default (instant, and the current latent projects exactly); t-SNE on request, computed in the
background (the current latent is then placed among its nearest encoded neighbours, since t-SNE has no
out-of-sample mapping). Clicking a point loads its latent and shows the image it came from.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.ui.binding import bind
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import FlowLayout, ImageCanvas, JobStrip, float_to_uint8, plot_widget

PATH_COLOURS = ["#ff6b6b", "#ffd166", "#06d6a0", "#4cc9f0", "#b388ff", "#f78c6b", "#c0ca33", "#ff8fab"]


GRAM_POINTS = 500  # points whose Gram matrix gives the PCA axes of a latent with more than 1,024 dimensions


def pca_projection(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, D) -> embedding (n, 2), the mean and the 2 x D components (so new points project exactly)."""
    mean = x.mean(0)
    xc = x - mean
    if x.shape[1] == 1:
        comps = np.array([[1.0], [0.0]])
    elif x.shape[1] <= 64:
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        comps = vt[:2]
    elif x.shape[1] <= 1024:
        # A GAN's 512-D prior: the SVD of 2000 x 512 took 0.7 s on the GUI thread; the top two eigenvectors of
        # the D x D scatter matrix are the same components at a tenth of the cost.
        xd = xc.astype(np.float64)
        _, vecs = np.linalg.eigh(xd.T @ xd)
        comps = vecs[:, ::-1][:, :2].T.astype(x.dtype)
    else:
        # W+ or StyleSpace of a big generator (9,216 dimensions at 1024 px): a D x D eigendecomposition would
        # hold the GUI thread for minutes. The components of GRAM_POINTS of the points come exactly from their
        # small n x n Gram matrix (the top eigenvectors u give components xc^T u / |xc^T u|); all points are
        # then projected onto them. A 2-D map needs no more points than that to find its two axes.
        sub = xc[np.linspace(0, len(xc) - 1, min(len(xc), GRAM_POINTS)).astype(int)].astype(np.float64)
        _, u = np.linalg.eigh(sub @ sub.T)
        raw = sub.T @ u[:, ::-1][:, :2]
        comps = (raw / np.maximum(np.linalg.norm(raw, axis=0), 1e-12)).T.astype(x.dtype)
    return xc @ comps.T, mean, comps


def tsne_projection(ctx, x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    ctx.progress(0.05, f"t-SNE of {len(x)} points")
    ctx.check()
    emb = TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(x)
    ctx.check()
    return emb



def cross_marker(size_px: float = 16.0, width_px: float = 3.0) -> QGraphicsPathItem:
    """A white "+" with a dark rim, centred on the item's origin, the same size on screen at any zoom.

    Following the latent moves the item (``setPos``, one C++ call). A Qt path item paints in C++; a
    pyqtgraph scatter item painted its one spot in Python, on the GUI thread, at every move of a drag, between
    the preview's frames. The rim keeps it visible on the palest points.
    """
    half = size_px / 2
    cross = QPainterPath()
    cross.moveTo(-half, 0.0)
    cross.lineTo(half, 0.0)
    cross.moveTo(0.0, -half)
    cross.lineTo(0.0, half)
    stroker = QPainterPathStroker()
    stroker.setWidth(width_px)
    item = QGraphicsPathItem(stroker.createStroke(cross).simplified())
    item.setBrush(QColor("#ffffff"))
    rim = QPen(QColor("#15171a"))
    rim.setWidthF(1.0)
    rim.setCosmetic(True)
    item.setPen(rim)
    item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    return item

class LatentMapPanel(QWidget):
    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = JobRunner(self, "t-SNE")
        bar = self._build_bar()
        self._build_plot()
        side = self._build_source()
        self._assemble(bar, side)
        self._init_state()
        self._connect(state)
        self.on_screen = True  # until a dock says otherwise

    def _build_bar(self) -> FlowLayout:
        """Projection method, the factor to colour by, and the status line."""
        self.method = QComboBox()
        self.method.addItems(["PCA", "t-SNE"])
        self.method.setToolTip("Projection of the encoded samples (t-SNE runs in the background)")
        self.colour_by = QComboBox()
        self.colour_by.setToolTip("Colour points by this ground-truth factor")
        self.status = PlainLabel("")
        self.status.setStyleSheet("color: #9aa3ad;")
        bar = FlowLayout()
        bar.addWidget(QLabel("projection"))
        bar.addWidget(self.method)
        bar.addWidget(QLabel("colour"))
        bar.addWidget(self.colour_by)
        bar.addWidget(self.status, 1)
        return bar

    def _build_plot(self) -> None:
        """The scatter of projected samples and the marker of the current latent."""
        self.plot = plot_widget()
        self.plot.setAspectLocked(False)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, hoverable=True)
        # The marker moves on every drag frame and repaints what lies under it: thousands of points. Cached,
        # they are one pixmap blit until the view or the points change.
        self.scatter.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.addItem(self.scatter)
        self.marker = cross_marker()
        self.marker.setZValue(20)
        self.marker.setVisible(False)
        self.plot.addItem(self.marker, ignoreBounds=True)  # a few pixels wide at any zoom: not the data's extent
        self.path_items: list[pg.PlotDataItem] = []

    def _build_source(self) -> QVBoxLayout:
        """The clicked point's source image and its caption."""
        self.source = ImageCanvas()
        self.source.setFixedSize(140, 140)
        self.source_label = PlainLabel("click a point")
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: #9aa3ad; font-size: 10px;")
        self.source_label.setFixedWidth(140)
        side = QVBoxLayout()
        side.addWidget(self.source)
        side.addWidget(self.source_label)
        side.addStretch(1)
        return side

    def _assemble(self, bar: FlowLayout, side: QVBoxLayout) -> None:
        """The bar, the plot beside the source image, and the t-SNE progress strip."""
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        body.addLayout(side)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addLayout(body, 1)
        lay.addWidget(JobStrip(self.runner))

    def _init_state(self) -> None:
        """No points, embedding or cached projections until a model's samples are encoded."""
        self.points: np.ndarray | None = None  # (n, D) latents of the shown points
        self.embedding: np.ndarray | None = None
        self.factors: np.ndarray | None = None
        self._pca: tuple[np.ndarray, np.ndarray] | None = None
        self._tsne_cache: dict[int, np.ndarray] = {}

    def _connect(self, state: AppModel) -> None:
        """The method setting, the pickers, point clicks, the t-SNE runner and the app model's events."""
        bind(self.method, state.view, "map_method")
        self.method.currentTextChanged.connect(lambda _t: self._project())
        self.colour_by.currentIndexChanged.connect(lambda _i: self._recolour())
        self.scatter.sigClicked.connect(self._on_point_clicked)
        self.runner.finished.connect(self._on_tsne)
        self.runner.failed.connect(lambda msg: self.status.setText(f"⚠ t-SNE failed: {msg}"))
        self.runner.cancelled.connect(lambda: self.method.setCurrentText("PCA"))
        state.currentModelChanged.connect(self._on_model)
        state.analysisChanged.connect(self._on_analysis)
        # The marker follows the latent at display rate, not on every slider event.
        self._marker_timer = QTimer(self, singleShot=True, interval=33, timeout=self._move_marker)
        state.latentChanged.connect(self._on_latent)

    def set_on_screen(self, on: bool) -> None:
        """Called by the dock when its tab is shown or hidden: a hidden map does not track the latent."""
        self.on_screen = on
        if on:
            self._move_marker()

    def _on_latent(self, _source: str) -> None:
        if self.on_screen and not self._marker_timer.isActive():
            self._marker_timer.start()

    # --- data -----------------------------------------------------------------------------------------------
    def _on_model(self, entry) -> None:
        self.runner.cancel()
        self.clear_paths()
        self._load(entry)

    def _on_analysis(self, entry) -> None:
        if entry is self.state.current:
            self._load(entry)

    def _load(self, entry) -> None:
        self.points = self.embedding = self.factors = None
        self._pca = None
        self.scatter.clear()
        self.marker.setVisible(False)
        self.colour_by.blockSignals(True)
        self.colour_by.clear()
        self.colour_by.blockSignals(False)
        if entry is None:
            self.status.setText("")
            return
        if entry.encoded is not None:
            self.points = entry.encoded.mean
            self.factors = entry.encoded.factors
            ds = entry.dataset
            self.colour_by.blockSignals(True)
            self.colour_by.addItems(list(ds.factor_names) if ds else [])
            self.colour_by.blockSignals(False)
            self.status.setText(f"{len(self.points)} encoded {entry.dataset_name} samples")
        elif not entry.encodes:
            import torch

            gen = torch.Generator().manual_seed(0)
            self.points = entry.model.sample_prior(2000, gen).detach().cpu().numpy()
            self.status.setText("no encoder: 2000 prior samples (invert images to place them)")
        elif entry.analysis_error:
            self.status.setText(f"⚠ {entry.analysis_error}")
            return
        else:
            self.status.setText("encoding dataset samples…" if entry.dataset_name else
                                "this model names no dataset: nothing to encode")
            return
        self._project()

    def _project(self) -> None:
        if self.points is None:
            return
        if self.method.currentText() == "t-SNE":
            key = id(self.points)
            if key in self._tsne_cache:
                self._axis_labels("t-SNE 1", "t-SNE 2")
                self._show(self._tsne_cache[key])
            else:
                n = min(len(self.points), 2000)
                self._tsne_n = n
                self.runner.start(tsne_projection, self.points[:n], 0, label="t-SNE")
            return
        emb, mean, comps = pca_projection(self.points)
        self._pca = (mean, comps)
        total = float(np.asarray(self.points, dtype=np.float64).var(axis=0).sum())
        share = emb.var(axis=0) / total if total > 0 else np.zeros(2)
        self._axis_labels(*(f"PC{i + 1} ({100 * share[i]:.0f}% of the variance)" for i in range(2)))
        self._show(emb)

    def _axis_labels(self, x: str, y: str) -> None:
        self.plot.setLabel("bottom", x, color="#9aa3ad")
        self.plot.setLabel("left", y, color="#9aa3ad")

    def _on_tsne(self, emb: np.ndarray) -> None:
        if self.points is None:
            return
        self._tsne_cache[id(self.points)] = emb
        if self.method.currentText() == "t-SNE":
            self._axis_labels("t-SNE 1", "t-SNE 2")  # t-SNE axes carry no units: only neighbours mean anything
            self._show(emb)

    def _show(self, emb: np.ndarray) -> None:
        self.embedding = emb
        self._recolour()
        self._move_marker()
        self.plot.getViewBox().autoRange(items=[self.scatter])

    def _recolour(self) -> None:
        if self.embedding is None:
            return
        n = len(self.embedding)
        k = self.colour_by.currentIndex()
        if self.factors is not None and k >= 0:
            vals = self.factors[:n, k].astype(float)
            span = max(1.0, vals.max() - vals.min())
            cmap = pg.colormap.get("viridis")
            cols = cmap.map((vals - vals.min()) / span, mode="qcolor")
            brushes = [pg.mkBrush(c) for c in cols]
            ds = self.state.current.dataset if self.state.current else None
            if ds is not None:
                lo, hi = ds.factor_values(k)[[0, -1]]
                self.status.setText(f"{n} points · colour: {ds.factor_names[k]} from {lo:.3g} (purple) to {hi:.3g} (yellow)")
        else:
            brushes = [pg.mkBrush("#7aa2d6")] * n
        self.scatter.setData(pos=self.embedding, brush=brushes, data=np.arange(n))

    # --- the current latent and paths ------------------------------------------------------------------------------
    def project(self, z: np.ndarray) -> np.ndarray | None:
        """Where latents land on the current map: (n, D) -> (n, 2)."""
        if self.embedding is None or self.points is None:
            return None
        z = np.atleast_2d(z)
        if self.method.currentText() == "PCA" and self._pca is not None:
            mean, comps = self._pca
            return (z - mean) @ comps.T
        n = len(self.embedding)
        d = ((z[:, None, :] - self.points[None, :n]) ** 2).sum(-1)
        idx = np.argsort(d, axis=1)[:, :8]
        w = 1.0 / (np.take_along_axis(d, idx, 1) + 1e-6)
        return (self.embedding[idx] * w[..., None]).sum(1) / w.sum(1, keepdims=True)

    def _move_marker(self) -> None:
        if self.state.current is None or self.state.z.size == 0:
            return
        pos = self.project(self.state.z)
        if pos is not None:
            self.marker.setPos(float(pos[0, 0]), float(pos[0, 1]))
            self.marker.setVisible(True)

    def marker_position(self) -> tuple[float, float] | None:
        """Where the current latent is drawn on the map (None while no map is shown)."""
        if not self.marker.isVisible():
            return None
        return self.marker.pos().x(), self.marker.pos().y()

    def show_paths(self, paths: list[np.ndarray]) -> None:
        """Draw latent trajectories (each (T, D)) on the map, e.g. the K flows from the current point."""
        self.clear_paths()
        for i, path in enumerate(paths):
            xy = self.project(path)
            if xy is None:
                return
            item = pg.PlotDataItem(xy[:, 0], xy[:, 1], pen=pg.mkPen(PATH_COLOURS[i % len(PATH_COLOURS)], width=2))
            item.setZValue(15)
            self.plot.addItem(item)
            self.path_items.append(item)

    def clear_paths(self) -> None:
        for item in self.path_items:
            self.plot.removeItem(item)
        self.path_items = []

    def _on_point_clicked(self, _item, spots, _ev=None) -> None:
        # pyqtgraph hands over a numpy array of the spots under the cursor (several where points overlap).
        if spots is None or len(spots) == 0 or self.points is None:
            return
        self.select_point(int(spots[0].data()))

    def select_point(self, i: int) -> None:
        entry = self.state.current
        if entry is None or self.points is None:
            return
        self.state.set_latent(self.points[i], "map")
        if entry.encoded is not None and entry.dataset is not None:
            f = entry.encoded.factors[i : i + 1]
            img = float_to_uint8(entry.dataset.images(f))[0]
            self.source.set_image(img, autorange=True)
            self.source_label.setText(entry.dataset.describe(f)[0].replace(", ", "\n"))
        else:
            self.source_label.setText("prior sample (no source image)")

    def keyPressEvent(self, ev) -> None:
        if ev.key() == Qt.Key.Key_Escape:
            self.runner.cancel()
        super().keyPressEvent(ev)
