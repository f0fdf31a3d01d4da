"""Small widgets shared by the panels: an image canvas, a job progress strip, a message banner."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsView,
    QHBoxLayout,
    QLayout,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
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

    def set_image(self, img: np.ndarray, autorange: bool = False, fit: bool = True) -> None:
        """Show ``img``; a new shape (or ``autorange``) fits the view to it unless ``fit`` is off (the caller fits)."""
        shape = img.shape[:2]
        self.image.set_array(img)
        self._unpainted = True
        if fit and (shape != self._shape or autorange):
            self._shape = shape
            # Only the image decides the range: the overlay text has no finite bounds in a hidden view.
            self.view.autoRange(items=[self.image], padding=0.02)
        self._shape = shape

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
        # Its room is kept while idle: a job starting or ending must not move the plots above it.
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
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


class ScrollingPanel(QScrollArea):
    """A dock's panel that scrolls when the dock is smaller than the panel's minimum size.

    A dock would otherwise demand its panel's minimum width from the window; a row of metric cards or a
    comparison of four models could then push the window past a laptop screen. The panel fills the dock
    when it fits, and is kept at its *minimum* size (its toolbars wrapped, see ``FlowLayout``) when it does
    not — QScrollArea's own resizing would use the panel's preferred height instead and scroll too soon.
    """

    MIN_SIDE = 160

    def __init__(self, panel: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidget(panel)
        self.setWidgetResizable(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

    def _fit_panel(self) -> None:
        panel = self.widget()
        if panel is None:
            return
        view = self.viewport().size()
        width = max(view.width(), panel.minimumSizeHint().width())
        layout = panel.layout()
        low = (layout.minimumHeightForWidth(width) if layout is not None and layout.hasHeightForWidth()
               else panel.minimumSizeHint().height())
        panel.resize(width, max(view.height(), low))

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(ev)
        self._fit_panel()

    def event(self, ev) -> bool:
        if ev.type() == ev.Type.LayoutRequest:
            self._fit_panel()
        return super().event(ev)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - QWidget's name
        return QSize(self.MIN_SIDE, self.MIN_SIDE // 2)

    def sizeHint(self) -> QSize:  # noqa: N802 - QWidget's name
        return self.widget().sizeHint() if self.widget() is not None else super().sizeHint()


class FlowLayout(QLayout):
    """Lays widgets out left to right and wraps to a new row when the panel is narrow (a toolbar that fits).

    A drop-in for the ``QHBoxLayout`` of a panel's toolbar: ``addWidget`` (stretch ignored), ``addStretch`` and
    ``addSpacing`` (no-ops: a wrapping row has no spare room to hand out) and ``addLayout`` of a small group.
    """

    def __init__(self, parent: QWidget | None = None, spacing: int = 4):
        super().__init__(parent)
        self._items: list = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:  # noqa: N802 - Qt's name
        self._items.append(item)

    def addWidget(self, widget: QWidget, *_stretch) -> None:  # noqa: N802 - Qt's name
        super().addWidget(widget)

    def addStretch(self, *_args) -> None:  # noqa: N802 - QBoxLayout's name
        pass

    def addSpacing(self, *_args) -> None:  # noqa: N802 - QBoxLayout's name
        pass

    def addLayout(self, layout: QLayout, *_stretch) -> None:  # noqa: N802 - QBoxLayout's name
        holder = QWidget()
        holder.setLayout(layout)
        layout.setContentsMargins(0, 0, 0, 0)
        self.addWidget(holder)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802 - Qt's name
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802 - Qt's name
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 - Qt's name
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def minimumHeightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return self.heightForWidth(width)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt's name
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        w = sum(i.sizeHint().width() for i in self._items) + self.spacing() * max(0, len(self._items) - 1)
        h = max((i.sizeHint().height() for i in self._items), default=0)
        return QSize(w, h)

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt's name
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect: QRect, move: bool) -> int:
        x, y, row_h = rect.x(), rect.y(), 0
        for item in self._items:
            if item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and row_h > 0:
                x, y, row_h = rect.x(), y + row_h + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            row_h = max(row_h, hint.height())
        return y + row_h - rect.y()
