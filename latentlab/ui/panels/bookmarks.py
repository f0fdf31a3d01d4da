"""Bookmarks: name and save the current latent, list them, restore one; import latent codes made elsewhere
(an e4e / pSp / ReStyle ``latents.pt``, a projector's ``projected_w.npz``, plain ``.npy`` arrays of z, w or W+)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel, Bookmark
from latentlab.ui.safe_text import plain_rich, shown


class BookmarksPanel(QWidget):
    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.name = QLineEdit()
        self.name.setPlaceholderText("name for the current latent")
        self.add = QPushButton("Add")
        self.add.setToolTip("Bookmark the current latent (Ctrl+B)")
        self.list = QListWidget()
        self.list.setToolTip("Double-click to restore; F2 to rename; Delete to remove")
        self.restore = QPushButton("Restore")
        self.delete = QPushButton("Delete")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Latent codes made elsewhere as bookmarks: e4e / pSp / ReStyle latents.pt, "
                                      "a projector's projected_w.npz, .npy arrays of z, w or W+")
        self.import_button.clicked.connect(self.import_dialog)
        row = QHBoxLayout()
        row.addWidget(self.name, 1)
        row.addWidget(self.add)
        row2 = QHBoxLayout()
        row2.addWidget(self.restore)
        row2.addWidget(self.delete)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(row)
        lay.addWidget(self.list, 1)
        lay.addLayout(row2)
        lay.addWidget(self.import_button)
        self.add.clicked.connect(self.add_current)
        self.name.returnPressed.connect(self.add_current)
        self.restore.clicked.connect(self._restore_selected)
        self.delete.clicked.connect(self._delete_selected)
        self.list.itemDoubleClicked.connect(lambda item: self._restore(item))
        self.list.itemChanged.connect(self._renamed)
        state.bookmarksChanged.connect(self.refresh)
        state.currentModelChanged.connect(lambda _e: self.refresh())

    def add_current(self) -> Bookmark | None:
        bm = self.state.add_bookmark(self.name.text())
        self.name.clear()
        return bm

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import latent codes", str(Path.cwd()),
                                              "Latent codes (*.npy *.npz *.pt *.pth);;All files (*)")
        if path:
            self.import_codes(Path(path))

    def import_codes(self, path: Path) -> int:
        """Read ``path``'s codes for the current model (never running code from it) and bookmark them."""
        from latentlab.core.errors import LatentlabError
        from latentlab.core.latent_codes import load_latent_codes, read_in_space

        entry = self.state.current
        if entry is None:
            return 0
        m = entry.model
        style = getattr(m, "latent_space", None) is not None
        sizes = {"z_dim": m.z_dim, "w_dim": m.w_dim, "num_ws": m.num_ws} if style else {"z_dim": entry.latent_dim}
        try:
            codes, guess = read_in_space(lambda **space: load_latent_codes(path, **sizes, **space),
                                         m.latent_space if style else None)
            if guess:
                self.state.message.emit("info", f"{path.name} does not say its space: taken as {guess} codes")
        except (LatentlabError, OSError) as exc:
            self.state.message.emit("error", f"could not import latent codes: {exc}")
            return 0
        n = self.state.add_bookmarks(codes, path.name)
        self.state.message.emit("info", f"imported {n} latent code(s) from {path.name} as bookmarks")
        return n

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for bm in self.state.bookmarks_for_current():
            item = QListWidgetItem(shown(bm.name, 300))  # names come from sessions too
            item.setData(Qt.ItemDataRole.UserRole, bm)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            preview = ", ".join(f"{v:+.2f}" for v in bm.z[:6]) + (" …" if len(bm.z) > 6 else "")
            where = f" ({bm.space.upper() if bm.space == 'w+' else bm.space})" if bm.space else ""
            item.setToolTip(plain_rich(f"latent{where} = [{preview}]" + (f"\n{bm.note}" if bm.note else "")))
            self.list.addItem(item)
        self.list.blockSignals(False)
        has = self.state.current is not None
        self.add.setEnabled(has)

    def _bookmark(self, item: QListWidgetItem | None) -> Bookmark | None:
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _restore(self, item: QListWidgetItem) -> None:
        bm = self._bookmark(item)
        if bm is not None:
            self.state.restore_bookmark(bm)

    def _restore_selected(self) -> None:
        self._restore(self.list.currentItem())

    def _delete_selected(self) -> None:
        bm = self._bookmark(self.list.currentItem())
        if bm is not None:
            self.state.remove_bookmark(bm)

    def _renamed(self, item: QListWidgetItem) -> None:
        bm = self._bookmark(item)
        if bm is not None and item.text().strip() and item.text() != shown(bm.name, 300):
            bm.name = item.text().strip()

    def keyPressEvent(self, ev) -> None:
        if ev.key() == Qt.Key.Key_Delete:
            self._delete_selected()
        else:
            super().keyPressEvent(ev)
