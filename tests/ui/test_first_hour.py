"""What a new user meets in the first hour: the window fits a laptop, clicks work, figures say what they show."""

from __future__ import annotations

import ast
import shlex

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QListWidget, QListWidgetItem

from latentlab.ui.charts import Heatmap
from tests.helpers import tiny_checkpoint
from tests.ui.conftest import open_and_wait, wait_for_analysis, wait_for_frame


def _train_flows(qtbot, window, steps=4, k=2):
    panel = window.flows
    panel.k_count.setValue(k)
    panel.train_steps.setValue(steps)
    panel.start_training()
    qtbot.waitUntil(lambda: panel.flows is not None and not panel.trainer.busy, timeout=120000)
    return panel


def test_clicking_the_map_where_points_overlap_selects_one(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    lm = window.latent_map
    qtbot.waitUntil(lambda: lm.embedding is not None, timeout=30000)
    lm.embedding[8] = lm.embedding[7]  # two points on one spot (away from the marker): pyqtgraph hands over both
    lm._recolour()
    window.docks["Latent map"].raise_()
    qtbot.waitUntil(lambda: lm.plot.isVisible() and lm.plot.viewport().width() > 100, timeout=5000)
    QApplication.processEvents()
    view = lm.plot.getPlotItem().vb
    scene_pos = view.mapViewToScene(pg_point(lm.embedding[7]))
    widget_pos = lm.plot.mapFromScene(scene_pos)
    under = [int(spot.data()) for spot in lm.scatter.pointsAt(pg_point(lm.embedding[7]))]
    assert {7, 8} <= set(under)  # several points under the cursor: the case that raised before
    qtbot.mouseClick(lm.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(widget_pos.x()), int(widget_pos.y())))
    qtbot.waitUntil(lambda: any(np.array_equal(window.state.z, entry.encoded.mean[i]) for i in under), timeout=5000)


def pg_point(xy):
    from PySide6.QtCore import QPointF

    return QPointF(float(xy[0]), float(xy[1]))


@pytest.mark.parametrize("size", [(1280, 800), (1366, 768)])
def test_the_window_fits_a_laptop_screen_with_models_open_and_a_job_running(qtbot, window, tmp_path, size):
    for i in range(3):
        open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / f"m{i}.safetensors", latent_dim=4 + i, seed=i))
    window.resize(*size)
    window.docks["Flows"].raise_()
    panel = window.flows
    panel.train_steps.setValue(2000)
    panel.start_training()  # a job that reports progress while we look
    qtbot.waitUntil(lambda: panel.trainer.busy and len(panel.history) > 0, timeout=60000)
    panel.status.setText("a very long status " * 40)  # a long text must elide, not widen its dock
    QApplication.processEvents()
    assert window.width() <= size[0] and window.height() <= size[1]
    assert window.minimumSizeHint().width() <= size[0] and window.minimumSizeHint().height() <= size[1]
    preview = window.preview.canvas
    assert preview.width() >= 0.3 * size[0] and preview.height() >= 0.3 * size[1]  # the preview keeps its room
    geometry = {t: d.geometry() for t, d in window.docks.items()}
    panel.status.setText("short")
    QApplication.processEvents()
    assert {t: d.geometry() for t, d in window.docks.items()} == geometry  # nothing jumps while the job runs
    panel.trainer.cancel()
    qtbot.waitUntil(lambda: not panel.trainer.busy, timeout=60000)
    for title, dock in window.docks.items():  # every tab usable: raised, it has room
        dock.raise_()
        QApplication.processEvents()
        if dock.isVisible():
            assert dock.width() >= 150 and dock.height() >= 100, title


def test_gui_export_to_a_gif_name_writes_a_gif(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.export_dialog()
    assert dlg.format.currentData() == "mp4"
    out = tmp_path / "traversal.gif"
    dlg.out.setText(str(out))
    dlg.out.editingFinished.emit()
    dlg.seconds.setValue(0.5)
    dlg.fps.setValue(10)
    assert dlg.format.currentData() == "gif"
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    assert out.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert window.state.export.format == "gif" and window.state.export.out == str(out)
    dlg.close()


def test_sessions_keep_the_flows_of_models_not_current_and_the_compare_ticks(qtbot, window, tmp_path):
    a = tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1)
    b = tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=4, seed=2)
    first = open_and_wait(qtbot, window, a)
    _train_flows(qtbot, window)
    flows_file = window.state.extras(first).flows_file
    second = open_and_wait(qtbot, window, b)
    window.state.set_compared(first, True)
    path = window.sessions.save(tmp_path / "s.llab")
    window.sessions._close_all()
    assert window.sessions.open(path)
    qtbot.waitUntil(lambda: len(window.state.models) == 2 and not window.sessions._pending, timeout=60000)
    by_name = {e.path.name: e for e in window.state.models}
    assert window.state.extras(by_name["a.safetensors"]).flows_file == flows_file  # not the current model
    assert window.state.current.path.name == "b.safetensors"
    assert [e.path.name for e in window.state.compare] == ["a.safetensors"]
    assert second is not None


def test_checkboxes_of_a_list_are_visible_on_the_dark_theme(qtbot):
    lw = QListWidget()
    qtbot.addWidget(lw)
    for state in (Qt.CheckState.Unchecked, Qt.CheckState.Checked):
        item = QListWidgetItem("model")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(state)
        lw.addItem(item)
    lw.resize(200, 60)
    lw.show()
    img = lw.grab().toImage()
    background = img.pixelColor(img.width() - 5, 5).lightness()
    for row in range(2):
        rect = lw.visualItemRect(lw.item(row))
        strip = [img.pixelColor(x, rect.center().y()).lightness() for x in range(rect.left(), rect.left() + 24)]
        assert max(abs(v - background) for v in strip) > 60, row  # the indicator stands out from the list


def test_every_heatmap_has_a_labelled_colour_bar(qtbot, window):
    maps = window.findChildren(Heatmap)
    assert len(maps) >= 4
    for hm in maps:
        assert hm.bar is not None and hm.units, hm.plot.getPlotItem().titleLabel.text


def test_direction_map_shows_raw_effects_and_normalises_on_request(qtbot, window, tiny_ckpt):
    from tests.ui.test_directions_panel import _axis_set

    open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.directions
    panel.add_directions(_axis_set(4))
    panel.evaluate()
    qtbot.waitUntil(lambda: getattr(panel, "evaluation", None) is not None, timeout=120000)
    raw = panel.factor_map.matrix.copy()
    assert np.allclose(raw, panel.evaluation.matrix)
    panel.normalise.setChecked(True)
    assert np.allclose(panel.factor_map.matrix, panel.evaluation.column_normalised)
    assert "largest" in panel.factor_map.units


def test_traversal_grid_is_labelled_and_follows_its_dock(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    grid = window.grid
    qtbot.waitUntil(lambda: grid.composed_image() is not None and len(grid._tiles) == len(grid.dims), timeout=30000)
    texts = [item.textItem.toPlainText() for item in grid._labels]
    assert any(t.startswith("z") for t in texts) and any(t.endswith("σ") for t in texts)
    small = grid.canvas.view.viewRange()
    window.resizeDocks([window.docks["Traversal grid"]], [500], Qt.Orientation.Vertical)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: grid.canvas.view.viewRange() != small, timeout=5000)


def test_pca_axes_say_how_much_variance_they_hold(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    lm = window.latent_map
    qtbot.waitUntil(lambda: lm.embedding is not None, timeout=30000)
    label = lm.plot.getAxis("bottom").labelText
    assert label.startswith("PC1 (") and "% of the variance" in label


def test_a_model_switch_clears_the_previous_models_figures(qtbot, window, tmp_path):
    a = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1))
    window.metrics.kl_bars.set_values(np.ones(4), ["z0", "z1", "z2", "z3"])
    open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=3, seed=2))
    assert window.metrics.kl_bars.values is None
    assert a is not window.state.current


def test_an_open_demo_model_is_listed_once(qtbot, window, tiny_ckpt, empty_models_dir):
    import shutil

    demo = empty_models_dir / "demo.safetensors"
    shutil.copy(tiny_ckpt, demo)
    window.browser._fill_demo()
    open_and_wait(qtbot, window, demo)
    names = []
    for sec in (window.browser.open_section, window.browser.demo_section, window.browser.recent_section):
        if not sec.isHidden():
            names += [sec.child(i).text(0) for i in range(sec.childCount())]
    assert sum("demo" in n or window.state.current.name in n for n in names) == 1


def test_kl_bars_are_coloured_by_activity(qtbot, window):
    from latentlab.core.metrics.base import MetricResult

    m = window.metrics
    m.results = {"kl": MetricResult("kl", values={"kl_total": 3.0}, arrays={"kl": np.array([2.0, 0.5, 0.5])},
                                    latents=[0, 1, 2]),
                 "activity": MetricResult("activity", values={}, arrays={"labels": np.array([0, 1, 2])},
                                          latents=[0, 1, 2])}
    m._draw_kl()
    brushes = m.kl_bars.bars.opts["brushes"]
    assert len({b.color().name() for b in brushes}) == 3


def test_command_palette_finds_and_runs_any_action(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    palette = window.command_palette()
    qtbot.keyClicks(palette.filter, "add bookmark")
    assert palette.list.count() == 1
    qtbot.keyClick(palette.filter, Qt.Key.Key_Return)
    assert len(window.state.bookmarks) == 1
    sheet = window._shortcuts()
    rows = {sheet.table.item(r, 0).text(): sheet.table.item(r, 1).text() for r in range(sheet.table.rowCount())}
    assert any("Command palette" in k for k in rows) and any("Undo" in k for k in rows)
    sheet.close()


def test_copy_latent_and_frame_and_the_export_command(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    z = np.array([0.125, -1.5, 2.0, 1 / 3], np.float32)
    window.state.set_latent(z, "test")
    wait_for_frame(qtbot, window, z)
    clip = QApplication.clipboard()
    window.copy_latent()
    literal = clip.text()
    assert literal.startswith("np.array([") and literal.endswith("dtype=np.float32)")
    values = ast.literal_eval(literal[len("np.array("):literal.index("], dtype") + 1])
    assert np.array_equal(np.asarray(values, np.float32), z)
    window.copy_export_command()
    args = shlex.split(clip.text())
    assert args[:3] == ["latentlab", "export", str(tiny_ckpt)]
    start = np.load(args[args.index("--start") + 1])
    assert np.array_equal(start, z)
    window.copy_frame()
    img = clip.image()
    assert not img.isNull() and img.width() == window.preview.shown_image().shape[1]
