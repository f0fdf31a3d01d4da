"""Widgets bound to fields of the app model's evented settings (``latentlab.app.settings``).

A bound widget shows the field and writes every edit back; a change made elsewhere (a session, a script, the
command palette) shows up in the widget. Setting a widget to the value it already has emits nothing and an
evented field set to its current value emits nothing, so the two never ping-pong. The connection to the
model is dropped when the widget is destroyed, so a closed panel is never called again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget


def connect_while_alive(signal: Any, widget: QWidget, slot: Callable[..., Any]) -> None:
    """``signal.connect(slot)`` until ``widget`` is destroyed (a psygnal signal knows nothing of Qt)."""
    signal.connect(slot)
    widget.destroyed.connect(lambda *_: signal.disconnect(slot, missing_ok=True))


def bind(widget: QWidget, settings: Any, name: str) -> None:
    """Keep ``widget`` and ``settings.<name>`` equal, both ways."""
    def write(value: Any) -> None:
        if getattr(settings, name) != value:
            setattr(settings, name, settings.checked(name, value) if hasattr(settings, "checked") else value)

    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        widget.setValue(getattr(settings, name))
        widget.valueChanged.connect(write)
        show: Callable[[Any], None] = lambda v: widget.value() != v and widget.setValue(v)  # noqa: E731
    elif isinstance(widget, QAbstractButton):
        widget.setChecked(bool(getattr(settings, name)))
        widget.toggled.connect(write)
        show = lambda v: widget.isChecked() != bool(v) and widget.setChecked(bool(v))  # noqa: E731
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(getattr(settings, name)))
        widget.currentTextChanged.connect(write)
        show = lambda v: widget.currentText() != v and widget.setCurrentText(str(v))  # noqa: E731
    elif isinstance(widget, QLineEdit):
        widget.setText(str(getattr(settings, name)))
        widget.editingFinished.connect(lambda: write(widget.text()))
        show = lambda v: widget.text() != v and widget.setText(str(v))  # noqa: E731
    else:
        raise TypeError(f"cannot bind a {type(widget).__name__}")
    connect_while_alive(getattr(settings.events, name), widget, lambda value, *_: show(value))
