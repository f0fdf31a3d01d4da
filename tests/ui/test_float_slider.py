"""The latent sliders' float slider: exact values in, handle moves out, one signal per change."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from latentlab.ui.float_slider import RESOLUTION, FloatSlider


@pytest.fixture
def slider(qtbot):
    s = FloatSlider(Qt.Orientation.Horizontal)
    qtbot.addWidget(s)
    s.setFloatRange(-3.0, 3.0)
    return s


def test_a_value_set_in_code_reads_back_exactly_and_moves_the_handle(slider):
    seen = []
    slider.floatValueChanged.connect(seen.append)
    slider.setFloatValue(0.123)
    assert slider.floatValue() == 0.123 and seen == [0.123]
    assert slider.value() == round((0.123 + 3) / 6 * RESOLUTION)
    slider.setFloatValue(0.123)  # unchanged: no signal
    assert seen == [0.123]


def test_values_outside_the_range_are_clamped(slider):
    slider.setFloatValue(10.0)
    assert slider.floatValue() == 3.0 and slider.value() == RESOLUTION
    slider.setFloatRange(-1.0, 1.0)
    assert slider.floatValue() == 1.0
    with pytest.raises(ValueError):
        slider.setFloatRange(1.0, 1.0)


def test_moving_the_handle_gives_the_float_of_its_position(slider, qtbot):
    seen = []
    slider.floatValueChanged.connect(seen.append)
    slider.setSliderDown(True)
    slider.setSliderPosition(RESOLUTION // 4)
    assert seen == [pytest.approx(-1.5)] and slider.floatValue() == pytest.approx(-1.5)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.floatValue() == pytest.approx(-1.5 + slider.floatStep())


def test_blocked_signals_stay_blocked(slider):
    from PySide6.QtCore import QSignalBlocker

    seen = []
    slider.floatValueChanged.connect(seen.append)
    with QSignalBlocker(slider):
        slider.setFloatValue(1.0)
    assert seen == [] and slider.floatValue() == 1.0
