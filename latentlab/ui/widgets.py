"""Small widgets shared by the panels: an image canvas, a job progress strip, a message banner."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsView,
    QHBoxLayout,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel


def to_qimage(img: np.ndarray) -> QImage:
    """uint8 (H, W) or (H, W, 3) -> a QImage that owns a copy of the pixels."""
    arr = np.ascontiguousarray(img)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        q = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        q = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return q.copy()


def thumbnail_icon(img: np.ndarray, size: int = 64) -> QIcon:
    pix = QPixmap.fromImage(to_qimage(img)).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.FastTransformation)
    return QIcon(pix)


def float_to_uint8(images: np.ndarray) -> np.ndarray:
    """(n, C, H, W) floats in [0, 1] -> uint8 (n, H, W) or (n, H, W, 3)."""
    x = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    return x[..., 0] if x.shape[-1] == 1 else x


class PixelImageItem(QGraphicsPixmapItem):
    """A uint8 image drawn as a pixmap, one scene unit per image pixel, nearest-neighbour scaled.

    ``pg.ImageItem`` rebuilds a colour table and a QImage in Python whenever it paints a new image; the
    live preview paints on every frame, so this item converts once per image and leaves the painting to
    Qt's C++ (``benchmarks/canvas_paint.py`` times both).
    """

    def __init__(self) -> None:
        super().__init__()
        self.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self.array: np.ndarray | None = None

    def set_array(self, img: np.ndarray) -> None:
        self.array = img
        self.setPixmap(QPixmap.fromImage(to_qimage(img)))

    def clear(self) -> None:
        self.array = None
        self.setPixmap(QPixmap())


def adopt_menus(view: pg.GraphicsView) -> None:
    """Give ``view`` the context menus pyqtgraph made for its plot items and view boxes.

    pyqtgraph creates them without a parent, so they are top-level widgets that only Python's cyclic garbage
    collector frees, and only once nothing refers to their items; objects frozen at start-up (gc_guard) are
    never collected. As children of the view they are deleted with it, like any other part of the window.
    """
    for item in view.scene().items():
        for menu in (getattr(item, "ctrlMenu", None), getattr(item, "menu", None)):
            if isinstance(menu, QMenu) and menu.parent() is None:
                menu.setParent(view, menu.windowFlags())  # the flags keep it a popup


def plot_widget(background: str = "#15171a") -> pg.PlotWidget:
    """A ``pg.PlotWidget`` that owns its context menus (``adopt_menus``)."""
    plot = pg.PlotWidget(background=background)
    adopt_menus(plot)
    return plot


class ImageCanvas(pg.GraphicsLayoutWidget):
    """A pyqtgraph view of one uint8 image: y down, square pixels, nearest-neighbour scaling, pan and zoom.

    The live preview repaints this view hundreds of times a second during a drag, and every Python call Qt
    makes while painting has to take the GIL from the render thread. So a paint here runs as little Python
    as possible: the view box draws nothing itself (no border), the overlay text is hidden while empty, and
    pyqtgraph's before-paint pass runs only when the view box or the overlay has something to bring up to date.
    """

    clicked = Signal(float, float)  # image coordinates (x, y)
    painted = Signal()  # after a paint that showed the current image

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setBackground("#15171a")
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.02)
        # ViewBox.paint (Python) only draws a border, and this view has none.
        self.view.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self.image = PixelImageItem()
        self.view.addItem(self.image)
        self.overlay = pg.TextItem("", color="#e8e8e8", anchor=(0.5, 0.5))
        self.overlay.setZValue(10)
        self.overlay.setVisible(False)  # shown only with text: a visible TextItem runs Python on every paint
        self.view.addItem(self.overlay)
        adopt_menus(self)
        self._shape: tuple[int, int] | None = None
        self._overlay_text = ""
        self._unpainted = False
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_image(self, img: np.ndarray, autorange: bool = False) -> None:
        shape = img.shape[:2]
        self.image.set_array(img)
        self._unpainted = True
        if shape != self._shape or autorange:
            self._shape = shape
            # Only the image decides the range: the overlay text has no finite bounds in a hidden view.
            self.view.autoRange(items=[self.image], padding=0.02)

    def paintEvent(self, ev) -> None:
        if self._needs_prepare():
            super().paintEvent(ev)  # pyqtgraph's GraphicsView: the scene's prepare-for-paint pass, then Qt's paint
        else:
            QGraphicsView.paintEvent(self, ev)
        if self._unpainted:
            self._unpainted = False
            self.painted.emit()

    def _needs_prepare(self) -> bool:
        # The ViewBox defers its range and transform updates to the prepare-for-paint pass; a visible TextItem
        # re-orients itself there. Unknown pyqtgraph internals count as "needs it".
        v = self.view
        return (self.overlay.isVisible() or getattr(v, "_matrixNeedsUpdate", True)
                or getattr(v, "_autoRangeNeedsUpdate", True))

    def set_overlay(self, text: str) -> None:
        if text == self._overlay_text and not text:
            return  # the preview clears the overlay on every frame: keep that free
        self._overlay_text = text
        self.overlay.setText(text)
        self.overlay.setVisible(bool(text))
        if self._shape:
            h, w = self._shape
            self.overlay.setPos(w / 2, h / 2)
        else:
            self.overlay.setPos(0, 0)
            self.view.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)  # no image yet: centre the text

    def clear_image(self) -> None:
        self.image.clear()

    def zoom_to(self, factor: int | None) -> None:
        """Integer zoom: one image pixel is ``factor`` screen pixels (None fits the view)."""
        if self._shape is None:
            return
        h, w = self._shape
        if factor is None:
            self.view.autoRange(items=[self.image], padding=0.02)
            return
        vw, vh = max(1, self.view.width()), max(1, self.view.height())
        cx, cy = w / 2, h / 2
        self.view.setRange(xRange=(cx - vw / (2 * factor), cx + vw / (2 * factor)),
                           yRange=(cy - vh / (2 * factor), cy + vh / (2 * factor)), padding=0)

    def current_image(self) -> np.ndarray | None:
        return self.image.array

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self._shape is None:
            return
        p = self.view.mapSceneToView(ev.scenePos())
        self.clicked.emit(float(p.x()), float(p.y()))

    def sizeHint(self) -> QSize:
        return QSize(320, 320)


class LiveText(QWidget):
    """One line of text that changes often (frame times, rates) without re-laying out the window.

    A QLabel asks its parents for a new layout on every ``setText``; inside a dock that re-lays out the main
    window, docks and tab bars included, several times a second during a drag. This widget's height is fixed
    by its font and its width by the layout, so a new text only repaints it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._text = text
        self.setFixedHeight(self.fontMetrics().height() + 4)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so it drops in for one
        if text != self._text:
            self._text = text
            self.update()

    def paintEvent(self, ev) -> None:
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self._text)
        p.end()


class JobStrip(QWidget):
    """Progress bar + message + Cancel for one JobRunner; hidden while idle."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.label = PlainLabel()
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this computation (Esc)")
        self.cancel_button.clicked.connect(runner.cancel)
        lay.addWidget(self.bar, 2)
        lay.addWidget(self.label, 3)
        lay.addWidget(self.cancel_button)
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.busyChanged.connect(self._on_busy)
        self.setVisible(False)

    def _on_started(self, label: str) -> None:
        self.bar.setValue(0)
        self.label.setText(label)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        if message:
            self.label.setText(f"{self.runner.label}: {message}")

    def _on_busy(self, busy: bool) -> None:
        self.setVisible(busy)


class MessageBanner(QWidget):
    """A dismissible line at the top of the window for errors and warnings (the app keeps running)."""

    COLOURS = {"error": "#7a2327", "warning": "#6b5417", "info": "#1f4b6e"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        self.label = PlainLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.level = ""
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.label.setText(text)
        self.setStyleSheet(f"background: {self.COLOURS.get(level, '#333')}; color: #f2f2f2; border-radius: 3px;")
        self.show()
        if level == "info":
            self._timer.start(6000)
        else:
            self._timer.stop()

    @property
    def text(self) -> str:
        return self.label.text()
