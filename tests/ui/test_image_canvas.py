"""The image canvas under the live preview, grid and compare panes: what it draws is the array it was given."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from latentlab.ui.widgets import ImageCanvas


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(300, 300)
    c.show()
    qtbot.waitExposed(c)
    return c


def screen_colour(canvas: ImageCanvas, x: float, y: float) -> tuple[int, int, int]:
    """The colour the canvas shows at image coordinates (x, y)."""
    img = canvas.grab().toImage()  # first: mapping coordinates brings the view's transform up to date itself
    p = canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))
    dpr = img.devicePixelRatio()
    c = img.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    return c.red(), c.green(), c.blue()


def test_zoomed_image_shows_every_pixel_exactly_with_row_0_at_the_top(qtbot, canvas):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    with qtbot.waitSignal(canvas.painted, timeout=5000):
        canvas.set_image(img)
    canvas.zoom_to(16)  # screen_colour's grab paints the view, which applies the new range first
    for r, c in [(0, 0), (0, 7), (3, 5), (7, 0), (7, 7)]:
        assert screen_colour(canvas, c + 0.5, r + 0.5) == (img[r, c],) * 3
    # One image pixel is exactly 16 screen pixels wide.
    a = canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(2, 2)))
    b = canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(3, 2)))
    assert b.x() - a.x() == 16


def test_colour_images_keep_their_channels(qtbot, canvas):
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[1, 2] = (200, 30, 90)
    canvas.set_image(img)
    canvas.zoom_to(32)
    assert screen_colour(canvas, 2.5, 1.5) == (200, 30, 90)
    assert screen_colour(canvas, 0.5, 0.5) == (0, 0, 0)


def test_each_new_image_is_painted_and_announced(qtbot, canvas):
    with qtbot.waitSignal(canvas.painted, timeout=5000):
        canvas.set_image(np.zeros((8, 8), np.uint8))
    for v in (60, 120, 240):
        with qtbot.waitSignal(canvas.painted, timeout=5000):
            canvas.set_image(np.full((8, 8), v, np.uint8))
        assert screen_colour(canvas, 4, 4) == (v, v, v)


def test_overlay_text_shows_only_while_set(qtbot, canvas):
    assert not canvas.overlay.isVisible()
    canvas.set_overlay("⚠ the decoder returned NaN")
    assert canvas.overlay.isVisible()
    assert canvas.overlay.textItem.toPlainText() == "⚠ the decoder returned NaN"
    canvas.set_overlay("")
    assert not canvas.overlay.isVisible()
