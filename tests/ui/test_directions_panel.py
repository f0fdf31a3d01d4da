"""The Directions dock: finders in the background, sliders applied together, heatmaps, files, tags, grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentlab.core.directions import Direction, DirectionSet
from tests.ui.conftest import open_and_wait


def _axis_set(d: int) -> DirectionSet:
    eye = np.eye(d, dtype=np.float32)
    return DirectionSet(d, [Direction(f"axis{j}", "test", {}, vector=eye[j]) for j in range(d)])


def test_find_sefa_in_the_background_adds_sliders(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.directions.find_dialog("sefa")
    qtbot.addWidget(dlg)
    dlg.run()
    qtbot.waitUntil(lambda: len(window.directions.rows) == 4, timeout=60000)
    vecs = np.stack([r.direction.vector for r in window.directions.rows])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_fine_tuned_householder_opens_the_new_model_with_its_directions(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.directions.find_dialog("householder")
    qtbot.addWidget(dlg)
    assert not dlg.save_model.isEnabled()  # closed form: nothing to save
    dlg.k.setValue(2)
    dlg.finetune.setValue(5)
    saved = Path(dlg.save_model.text())
    assert dlg.save_model.isEnabled() and saved.parent == tiny_ckpt.parent and not saved.exists()
    dlg.run()
    qtbot.waitUntil(lambda: window.state.current is not None and window.state.current.path == saved, timeout=60000)
    assert saved.with_name(saved.name.removesuffix(".safetensors") + ".directions.safetensors").exists()
    qtbot.waitUntil(lambda: len(window.directions.rows) == 2, timeout=30000)
    assert [r.direction.name for r in window.directions.rows] == ["householder 0", "householder 1"]
    window.state.select_model(next(e for e in window.state.models if e.path == tiny_ckpt))
    assert not window.directions.rows  # the original model did not get the tuned model's directions


def test_several_direction_sliders_apply_on_top_of_the_current_latent(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    base = np.array([0.5, -0.5, 1.0, 0.0], np.float32)
    window.state.set_latent(base, "test")
    window.directions.add_directions(_axis_set(4))
    rows = window.directions.rows
    rows[0].slider.setFloatValue(1.5)
    rows[2].slider.setFloatValue(-1.0)
    assert np.allclose(window.state.z, base + [1.5, 0, -1.0, 0])
    rows[0].slider.setFloatValue(0.5)
    assert np.allclose(window.state.z, base + [0.5, 0, -1.0, 0])
    # Any other change becomes the new base; the direction sliders return to 0.
    window.state.set_latent(np.zeros(4, np.float32), "test")
    assert all(r.alpha == 0.0 for r in rows)
    rows[1].slider.setFloatValue(2.0)
    assert np.allclose(window.state.z, [0, 2.0, 0, 0])


def test_evaluation_fills_the_heatmaps(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.directions.add_directions(_axis_set(4))
    window.directions.evaluate()
    qtbot.waitUntil(lambda: window.directions.factor_map.matrix is not None, timeout=120000)
    assert window.directions.factor_map.matrix.shape == (4, 5)
    assert window.directions.cosine_map.matrix.shape == (4, 4)
    assert np.allclose(window.directions.cosine_map.matrix, np.eye(4), atol=1e-6)
    assert "dominant factor" in window.directions.status.text()


def test_save_and_load_directions(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.directions.add_directions(_axis_set(4))
    out = window.directions.save(tmp_path / "dirs.safetensors")
    window.directions.set_directions(None)
    assert window.directions.load(out)
    assert [r.direction.name for r in window.directions.rows] == [f"axis{j}" for j in range(4)]


def test_tagged_samples_give_a_supervised_direction(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    rng = np.random.default_rng(0)
    for i in range(20):
        z = rng.normal(size=4).astype(np.float32)
        label = "big" if i % 2 else "small"
        z[1] = 2.0 if label == "big" else -2.0
        window.state.set_latent(z, "test")
        window.directions.tag_label.setText(label)
        window.directions.tag_current()
    dlg = window.directions.find_dialog("interfacegan")
    qtbot.addWidget(dlg)
    dlg.labels.setCurrentIndex(dlg.labels.findData("tagged"))
    dlg.run()
    qtbot.waitUntil(lambda: bool(window.directions.rows) or "⚠" in dlg.status.text(), timeout=60000)
    assert window.directions.rows, dlg.status.text()
    v = window.directions.rows[0].direction.vector
    assert abs(v[1]) > 0.9


def test_grid_steps_along_directions(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.directions.add_directions(_axis_set(4))
    window.directions.rows[3].in_grid.setChecked(False)
    window.grid.along.setCurrentIndex(1)
    window.grid.steps.setValue(5)
    window.grid.refresh()
    assert window.grid.grid_z.shape == (3, 5, 4)
    assert np.allclose(window.grid.grid_z[2, :, 2], np.linspace(-3, 3, 5))
    qtbot.waitUntil(lambda: len(window.grid._tiles) == 3, timeout=30000)


def test_directions_travel_with_the_session(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.directions.add_directions(_axis_set(4))
    path = window.sessions.save(tmp_path / "d.llab")
    window.sessions._close_all()
    window.directions.set_directions(None)
    window.sessions.open(path)
    qtbot.waitUntil(lambda: len(window.directions.rows) == 4, timeout=30000)
