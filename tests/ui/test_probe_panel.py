"""The Probe dock on a real checkpoint: Run probes every latent in the background, the forest plot shows one
row per latent with its interval, a click on a row brings up that latent's slider, and a model switch clears it."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import open_and_wait


def test_probing_draws_a_forest_row_per_latent_and_a_click_focuses_its_slider(qtbot, window, tiny_ckpt, tmp_path):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.probe
    assert "intensity" in panel.prop_boxes and panel.run_button.isEnabled()
    for name, box in panel.prop_boxes.items():
        box.setChecked(name in ("intensity", "centroid_x"))
    panel.n.setValue(16)
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        assert panel.run()
    result = panel.result
    assert result.properties == ["intensity", "centroid_x"] and len(result.latents) == entry.latent_dim
    assert [panel.shown.itemText(i) for i in range(panel.shown.count())] == result.properties
    assert panel.forest.latents == list(range(entry.latent_dim)) and len(panel.forest.items) == 2
    focused = []
    panel.latentSelected.connect(focused.append)
    window.docks["Probe"].raise_()  # a tab behind others has a plot of no size: clicks map nowhere
    qtbot.waitUntil(lambda: panel.forest.plot.height() > 50)
    vb = panel.forest.plot.getPlotItem().vb
    QApplication.processEvents()  # the plot's new range is applied on the event loop: map a click after it
    scene_pos = vb.mapViewToScene(QPointF(0.0, 1.0))
    panel.forest.plot.scene().sigMouseClicked.emit(_Click(scene_pos))
    assert focused == [1]
    from tests.helpers import tiny_checkpoint

    open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "other.safetensors", seed=3))
    assert panel.result is None and panel.forest.latents == []


class _Click:
    def __init__(self, pos):
        self._pos = pos

    def scenePos(self):  # noqa: N802 - Qt's name
        return self._pos
