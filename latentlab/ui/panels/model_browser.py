"""Model browser: open models, the shipped demo models, recent files, and the compute device."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel, ModelEntry
from latentlab.core.resources import demo_model_paths
from latentlab.ui.models import ModelManager
from latentlab.ui.safe_text import PlainLabel, plain_rich, shown

ROLE = Qt.ItemDataRole.UserRole


class ModelBrowserPanel(QWidget):
    openRequested = Signal()  # the File > Open dialog

    def __init__(self, state: AppModel, manager: ModelManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.manager = manager
        self.device = QComboBox()
        # The CPU until start-up has loaded torch and can list the GPUs (``set_devices``).
        self.device.addItems(["cpu"])
        self.device.setToolTip("Where models decode: the CPU, or a CUDA GPU when one is present")
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(10)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a checkpoint (Ctrl+O); you can also drop files on the window")
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close the selected open model")
        self.loading = PlainLabel("")
        self.loading.setStyleSheet("color: #d8a53a;")
        dev_row = QHBoxLayout()
        dev_row.addWidget(QLabel("Device"))
        dev_row.addWidget(self.device, 1)
        btns = QHBoxLayout()
        btns.addWidget(self.open_button)
        btns.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(dev_row)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.loading)
        lay.addLayout(btns)
        self.open_section = QTreeWidgetItem(["Open"])
        self.demo_section = QTreeWidgetItem(["Demo models"])
        self.recent_section = QTreeWidgetItem(["Recent files"])
        for sec in (self.open_section, self.demo_section, self.recent_section):
            sec.setFlags(Qt.ItemFlag.ItemIsEnabled)
            f = sec.font(0)
            f.setBold(True)
            sec.setFont(0, f)
            self.tree.addTopLevelItem(sec)
            sec.setExpanded(True)
        self.tree.itemActivated.connect(self._activate)
        self.tree.itemClicked.connect(self._click)
        self.open_button.clicked.connect(self.openRequested)
        self.close_button.clicked.connect(self._close_selected)
        self.device.currentTextChanged.connect(manager.set_device)
        manager.loadingChanged.connect(lambda name: self.loading.setText(f"loading {name}…" if name else ""))
        manager.recentChanged.connect(self._fill_recent)
        state.modelsChanged.connect(self._fill_open)
        state.modelsChanged.connect(self._fill_demo)
        state.modelsChanged.connect(lambda: self._fill_recent())
        state.currentModelChanged.connect(lambda _e: self._fill_open())
        self._fill_demo()
        self._fill_recent(manager.recent.load())

    def set_devices(self, devices: list[str], current: str) -> None:
        """The devices to choose from (once torch can list them), showing ``current``; models are not moved."""
        self.device.blockSignals(True)
        try:
            self.device.clear()
            self.device.addItems(devices)
            shown_now = next((d for d in (current, f"{current}:0") if d in devices), devices[0])  # "cuda" is cuda:0
            self.device.setCurrentText(shown_now)
        finally:
            self.device.blockSignals(False)

    def _item(self, parent: QTreeWidgetItem, text: str, data, tip: str = "") -> QTreeWidgetItem:
        item = QTreeWidgetItem([shown(text, 300)])  # names and paths may come from files
        item.setData(0, ROLE, data)
        item.setToolTip(0, plain_rich(tip or text))
        parent.addChild(item)
        return item

    def _fill_open(self) -> None:
        self.open_section.takeChildren()
        for entry in self.state.models:
            info = entry.model.info
            current = entry is self.state.current
            item = self._item(self.open_section, ("▶ " if current else "   ") + entry.name, entry,
                              f"{entry.path}\n{info.latent_dim} latents, {info.image_shape[1]}×{info.image_shape[2]}, "
                              f"{entry.checkpoint.format}, sha256 {entry.checkpoint.sha256[:12]}…")
            if current:
                f = item.font(0)
                f.setBold(True)
                item.setFont(0, f)
        self.close_button.setEnabled(bool(self.state.models))

    def _open_paths(self) -> set[Path]:
        return {e.path.resolve() for e in self.state.models}

    def _fill_demo(self) -> None:
        """Demo models not open already (a model is listed once: under Open while it is open)."""
        self.demo_section.takeChildren()
        paths = demo_model_paths()
        shown_paths = [p for p in paths if p.resolve() not in self._open_paths()]
        for p in shown_paths:
            self._item(self.demo_section, p.stem, p, str(p))
        if not paths:
            self._item(self.demo_section, "(none found)", None)
        self.demo_section.setHidden(bool(paths) and not shown_paths)

    def _fill_recent(self, paths: list[Path] | None = None) -> None:
        """Recent files that are neither open nor demo models."""
        from latentlab.core.checkpoints.naming import display_name

        if paths is not None:
            self._recent = list(paths)
        skip = self._open_paths() | {p.resolve() for p in demo_model_paths()}
        self.recent_section.takeChildren()
        kept = [p for p in getattr(self, "_recent", []) if p.resolve() not in skip][:10]
        for p in kept:
            self._item(self.recent_section, display_name(p), p, str(p))
        self.recent_section.setHidden(not kept)

    def _click(self, item: QTreeWidgetItem, _col: int) -> None:
        data = item.data(0, ROLE)
        if isinstance(data, ModelEntry):
            self.state.select_model(data)

    def _activate(self, item: QTreeWidgetItem, _col: int) -> None:
        data = item.data(0, ROLE)
        if isinstance(data, ModelEntry):
            self.state.select_model(data)
        elif isinstance(data, Path):
            self.manager.open(data)

    def _close_selected(self) -> None:
        item = self.tree.currentItem()
        data = item.data(0, ROLE) if item else None
        entry = data if isinstance(data, ModelEntry) else self.state.current
        if entry is not None:
            self.state.remove_model(entry)
