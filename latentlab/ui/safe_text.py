"""Text from files shown in Qt widgets: control characters escaped, and never taken for rich text.

A QLabel, a tooltip or a message box renders its text as HTML when the text merely looks like HTML
(``Qt.AutoText``): a model named ``<img src=...>`` would load a resource, and one named with markup could
dress itself up as part of the interface. Labels that show names, cards or messages are made plain text
(``PlainLabel``); text put into a rich-text string is escaped first (``rich``), and a tooltip or informative
text is wrapped so it is shown exactly as written (``plain_rich``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QWidget

from latentlab.core.text import printable, printable_multiline


def shown(text: object, limit: int = 4000) -> str:
    """One line of text from a file, safe for any plain-text widget (labels, titles, list items)."""
    return printable(text, limit)


def rich(text: object, limit: int = 4000) -> str:
    """Text from a file escaped for interpolation into a rich-text string (``<b>{rich(name)}</b>``)."""
    return html.escape(printable(text, limit), quote=True)


def plain_rich(text: object, limit: int = 20000) -> str:
    """Rich text that displays ``text`` literally, line breaks kept (for tooltips and message boxes)."""
    lines = printable_multiline(text, limit).split("\n")
    return "<qt>" + "<br>".join(html.escape(line, quote=True) for line in lines) + "</qt>"


class PlainLabel(QLabel):
    """A QLabel for text that may come from files: always plain text, control characters escaped.

    Line breaks are kept (a status may hold two lines); every other control character is spelled out. A label
    that does not wrap *elides*: it never asks its dock for more width than a few characters, draws as much
    of the text as fits with "…", and shows the whole text as its tooltip — so a long status while a job
    runs can neither widen a dock nor make the window jump.
    """

    MIN_CHARS = 6

    def __init__(self, text: object = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._full = ""
        self._own_tip = False  # a tooltip the caller set is kept
        self.setText(text)

    def setText(self, text: object) -> None:  # noqa: N802 - QLabel's name
        self._full = printable_multiline(text, 20000)
        super().setText(self._full)
        self._update_tip()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - QWidget's name
        self._own_tip = bool(tip)
        super().setToolTip(tip)

    def _elides(self) -> bool:
        return not self.wordWrap() and "\n" not in self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - QWidget's name
        hint = super().minimumSizeHint()
        if self._elides():
            return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * self.MIN_CHARS), hint.height())
        return hint

    def _update_tip(self) -> None:
        if self._own_tip:
            return
        cut = self._elides() and self.fontMetrics().horizontalAdvance(self._full) > self.contentsRect().width()
        super().setToolTip(self._full if cut else "")

    def resizeEvent(self, ev) -> None:  # noqa: N802 - QWidget's name
        super().resizeEvent(ev)
        self._update_tip()

    def paintEvent(self, ev) -> None:  # noqa: N802 - QWidget's name
        rect = self.contentsRect()
        if not self._elides() or self.fontMetrics().horizontalAdvance(self._full) <= rect.width():
            super().paintEvent(ev)
            return
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        text = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment()), text)
        painter.end()


__all__ = ["PlainLabel", "plain_rich", "rich", "shown"]
