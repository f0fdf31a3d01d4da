"""The command palette (Ctrl+K / Ctrl+Shift+P) and the shortcut sheet: every action of the window, findable.

Both list the window's own ``QAction``s (menus and panels), so nothing here has to be kept in step with the
menus by hand: an action added anywhere appears with its menu path and shortcut.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def window_actions(window: QWidget) -> list[tuple[str, QAction]]:
    """(menu path, action) for every named action of the window's menus, in menu order."""
    out: list[tuple[str, QAction]] = []

    def walk(menu: QMenu, path: str) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu(), f"{path} ▸ {act.menu().title().replace('&', '')}")
            elif not act.isSeparator() and act.text():
                out.append((f"{path} ▸ {act.text().replace('&', '')}", act))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), top.menu().title().replace("&", ""))
    return out


def shortcut_text(act: QAction) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts())


class CommandPalette(QDialog):
    """Type to filter every action; Enter (or a double click) runs the highlighted one."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setWindowTitle("Commands")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(520, 380)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("type a command… (Enter runs it, Esc closes)")
        self.list = QListWidget()
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.list, 1)
        self.actions_found = window_actions(window)
        self.filter.textChanged.connect(self._fill)
        self.filter.returnPressed.connect(self.run_current)
        self.list.itemActivated.connect(lambda _item: self.run_current())
        self._fill("")

    def _fill(self, text: str) -> None:
        words = text.lower().split()
        self.list.clear()
        for path, act in self.actions_found:
            if not act.isEnabled() or not all(w in path.lower() for w in words):
                continue
            keys = shortcut_text(act)
            item = QListWidgetItem(f"{path}    {keys}" if keys else path)
            item.setData(Qt.ItemDataRole.UserRole, act)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if ev.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.list.count():
            step = 1 if ev.key() == Qt.Key.Key_Down else -1
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, self.list.currentRow() + step)))
            return
        super().keyPressEvent(ev)

    def run_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        act: QAction = item.data(Qt.ItemDataRole.UserRole)
        self.accept()
        act.trigger()


class ShortcutSheet(QDialog):
    """Every action that has a shortcut, in a table (Help ▸ Keyboard shortcuts)."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(560, 460)
        rows = [(path, shortcut_text(act)) for path, act in window_actions(window) if act.shortcuts()]
        rows.append(("Any panel ▸ cancel its computation", "Esc"))
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (path, keys) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(path))
            table.setItem(r, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table = table
        lay = QVBoxLayout(self)
        lay.addWidget(table)
