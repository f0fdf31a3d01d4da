"""A float slider on Qt's native QSlider: the latent sliders move on every drag event, so they stay in C++.

superqt's float slider re-implements QSlider in Python, event handling and painting included; in a drag the
dragged slider repaints on every event, and that Python showed up in the preview's latency profile. Here the
handle is a plain integer QSlider with ``RESOLUTION`` steps over the range; the float value is kept exactly
as set (``setFloatValue(0.123)`` reads back 0.123, not the nearest step), and a user's move maps the handle
position back to a float.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QSlider, QWidget

RESOLUTION = 1000


class FloatSlider(QSlider):
    floatValueChanged = Signal(float)

    def __init__(self, orientation: Qt.Orientation = Qt.Orientation.Horizontal, parent: QWidget | None = None):
        super().__init__(orientation, parent)
        self._lo, self._hi = 0.0, 1.0
        self._value = 0.0
        super().setRange(0, RESOLUTION)
        super().setSingleStep(1)
        super().setPageStep(RESOLUTION // 20)
        self.valueChanged.connect(self._on_position)

    # --- float API ------------------------------------------------------------------------------------------
    def floatRange(self) -> tuple[float, float]:
        return self._lo, self._hi

    def floatStep(self) -> float:
        """The value one handle step stands for."""
        return (self._hi - self._lo) / RESOLUTION

    def floatValue(self) -> float:
        return self._value

    def setFloatRange(self, lo: float, hi: float) -> None:
        if not hi > lo:
            raise ValueError(f"slider range needs lo < hi, got {lo}, {hi}")
        self._lo, self._hi = float(lo), float(hi)
        self.setFloatValue(min(max(self._value, self._lo), self._hi), force_position=True)

    def setFloatValue(self, v: float, force_position: bool = False) -> None:
        v = min(max(float(v), self._lo), self._hi)
        changed = v != self._value
        self._value = v
        if changed or force_position:
            with QSignalBlocker(self):  # the integer signal would map the value back to a step
                super().setValue(self._position(v))
        if changed:
            self.floatValueChanged.emit(v)

    # --- mapping --------------------------------------------------------------------------------------------
    def _position(self, v: float) -> int:
        return round((v - self._lo) / (self._hi - self._lo) * RESOLUTION)

    def _on_position(self, pos: int) -> None:
        """The user moved the handle (mouse, keys or wheel)."""
        v = self._lo + (self._hi - self._lo) * pos / RESOLUTION
        if v != self._value:
            self._value = v
            self.floatValueChanged.emit(v)
