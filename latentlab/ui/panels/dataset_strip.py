"""Dataset strip: samples of the model's dataset with their factor values; click one to encode it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import FlowLayout, float_to_uint8, thumbnail_icon


class DatasetStripPanel(QWidget):
    encodeRequested = Signal(object, str)  # (1, C, H, W) float image, description

    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.count = QSpinBox()
        self.count.setRange(4, 64)
        self.count.setValue(16)
        self.count.setPrefix("n ")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setPrefix("seed ")
        self.more = QPushButton("New samples")
        self.more.setToolTip("Draw other samples (the seed advances)")
        self.status = PlainLabel("")
        self.status.setStyleSheet("color: #9aa3ad;")
        bar = FlowLayout()
        bar.addWidget(self.count)
        bar.addWidget(self.seed)
        bar.addWidget(self.more)
        bar.addWidget(self.status, 1)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(64, 64))
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setSpacing(4)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.list, 1)
        self.factors: np.ndarray | None = None
        self.images: np.ndarray | None = None
        self.more.clicked.connect(lambda: self.seed.setValue(self.seed.value() + 1))
        self.seed.valueChanged.connect(lambda _v: self.refresh())
        self.count.valueChanged.connect(lambda _v: self.refresh())
        self.list.itemClicked.connect(self._on_click)
        state.currentModelChanged.connect(lambda _e: self.refresh())

    def refresh(self) -> None:
        self.list.clear()
        self.factors = self.images = None
        entry = self.state.current
        ds = entry.dataset if entry is not None else None
        if ds is None:
            self.status.setText("" if entry is None else "this model names no dataset")
            return
        rng = np.random.default_rng(self.seed.value())
        self.factors = ds.sample_factors(self.count.value(), rng)
        self.images = ds.images(self.factors)
        thumbs = float_to_uint8(self.images)
        # Factor values under each thumbnail, one per line: the point of a ground-truth strip is to read them.
        font = self.list.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        line = QFontMetrics(font).height()
        widest = max(QFontMetrics(font).horizontalAdvance(t) for t in
                     (p for row in ds.describe(self.factors) for p in row.split(", ")))
        self.list.setGridSize(QSize(max(72, widest + 8), 64 + 8 + line * ds.num_factors))
        for i, (img, text) in enumerate(zip(thumbs, ds.describe(self.factors), strict=True)):
            item = QListWidgetItem(thumbnail_icon(img, 64), text.replace(", ", "\n"))
            item.setFont(font)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setToolTip(text.replace(", ", "\n"))
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        hint = "click to encode" if entry.encodes else "no encoder: inversion needed"
        self.status.setText(f"{ds.name}: {hint}")

    def _on_click(self, item: QListWidgetItem) -> None:
        i = item.data(Qt.ItemDataRole.UserRole)
        if self.images is None or i is None:
            return
        self.encodeRequested.emit(self.images[i : i + 1], item.toolTip().replace("\n", ", "))
