"""Text from files shown in Qt widgets: control characters escaped, and never taken for rich text.

A QLabel, a tooltip or a message box renders its text as HTML when the text merely looks like HTML
(``Qt.AutoText``): a model named ``<img src=...>`` would load a resource, and one named with markup could
dress itself up as part of the interface. Labels that show names, cards or messages are made plain text
(``PlainLabel``); text put into a rich-text string is escaped first (``rich``), and a tooltip or informative
text is wrapped so it is shown exactly as written (``plain_rich``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
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

    Line breaks are kept (a status may hold two lines); every other control character is spelled out.
    """

    def __init__(self, text: object = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: object) -> None:  # noqa: N802 - QLabel's name
        super().setText(printable_multiline(text, 20000))


__all__ = ["PlainLabel", "plain_rich", "rich", "shown"]
