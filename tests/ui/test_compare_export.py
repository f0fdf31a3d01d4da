"""Compare view and export dialog."""

from __future__ import annotations

import av
import numpy as np

from tests.helpers import tiny_checkpoint
from tests.ui.conftest import decoded, open_and_wait, wait_for_analysis, wait_for_frame


def _shown_equals(slot, img):
    shown = slot.shown_image()
    return shown is not None and shown.shape == img.shape and np.array_equal(shown, img)


def test_same_size_models_share_the_latent(qtbot, window, tmp_path):
    a = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1))
    b = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=4, seed=2))
    window.state.select_model(a)
    window.docks["Compare"].raise_()
    window.compare.set_followers([b])
    assert [e.name for e in window.compare.entries()] == [a.name, b.name]
    z = np.array([1.0, -0.5, 0.0, 2.0], np.float32)
    window.state.set_latent(z, "test")
    window.compare.refresh()
    qtbot.waitUntil(lambda: _shown_equals(window.compare.slots[1], decoded(b.model, z)), timeout=30000)
    qtbot.waitUntil(lambda: _shown_equals(window.compare.slots[0], decoded(a.model, z)), timeout=30000)
    qtbot.waitUntil(lambda: "decode" in window.compare.slots[1].info.text(), timeout=30000)


def test_models_of_different_sizes_are_aligned_by_their_encodings(qtbot, window, tmp_path):
    a = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1))
    b = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=3, seed=2))
    window.state.select_model(a)
    window.docks["Compare"].raise_()
    window.compare.set_followers([b])
    assert window.compare.align_box.isChecked()  # sizes differ: alignment switches itself on
    qtbot.waitUntil(lambda: len(window.compare.alignments) == 2, timeout=60000)
    al = window.compare.alignments[1]
    assert al.dim_a == 4 and al.dim_b == 3
    z = np.array([0.5, 0.0, -1.0, 1.0], np.float32)
    window.state.set_latent(z, "test")
    mapped = al.map_latent(z)
    qtbot.waitUntil(lambda: _shown_equals(window.compare.slots[1], decoded(b.model, mapped)), timeout=30000)


def test_encode_same_sample_shows_each_models_reconstruction(qtbot, window, tmp_path):
    a = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1))
    b = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=2, seed=2))
    window.state.select_model(a)
    wait_for_analysis(qtbot, window)  # its end moves the latent to a dataset sample, which clears the encoded one
    window.docks["Compare"].raise_()
    window.compare.set_followers([b])
    window.compare.align_box.setChecked(False)
    window.compare.sample_seed.setValue(4)
    window.compare.encode_same_sample()
    qtbot.waitUntil(lambda: window.compare.sample_latents is not None, timeout=30000)
    zb = window.compare.sample_latents[1]
    assert zb.shape == (2,)
    qtbot.waitUntil(lambda: _shown_equals(window.compare.slots[1], decoded(b.model, zb)), timeout=30000)


def test_checkpoint_series_slider_steps_through_snapshots(qtbot, window, tmp_path):
    lead = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "lead.safetensors", latent_dim=4))
    snaps = [tiny_checkpoint(tmp_path / f"run-step{s}.safetensors", latent_dim=4, seed=s) for s in (10, 2, 30)]
    window.compare.set_series(snaps)
    assert [s.name for s in window.compare.series][:1] == ["run-step2"]
    qtbot.waitUntil(lambda: len(window.compare.entries()) == 2, timeout=30000)
    assert window.compare.entries()[1].path.name == "run-step30.safetensors"
    window.compare.series_slider.setValue(0)
    qtbot.waitUntil(lambda: window.compare.entries()[1].path.name == "run-step2.safetensors", timeout=30000)
    assert window.compare.entries()[0] is lead


def test_export_dialog_writes_an_mp4_of_the_traversal(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.export_dialog()
    qtbot.addWidget(dlg)
    dlg.dims.setText("0,2")
    dlg.fps.setValue(10)
    dlg.seconds.setValue(2.0)
    dlg.size.setValue(128)
    out = tmp_path / "clip.mp4"
    dlg.out.setText(str(out))
    dlg._changed()
    assert dlg.export_button.isEnabled(), dlg.note.text()
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    assert out.exists()
    with av.open(str(out)) as f:
        stream = f.streams.video[0]
        frames = sum(1 for _ in f.decode(stream))
        assert (stream.width, stream.height) == (128, 128)
    assert frames == 20


def test_export_dialog_grid_and_cancel_leaves_nothing(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.export_dialog()
    qtbot.addWidget(dlg)
    dlg.format.setCurrentIndex([k for _, k in __import__("latentlab.ui.panels.export_dialog", fromlist=["FORMATS"]).FORMATS].index("grid"))
    grid_out = tmp_path / "fig.png"
    dlg.out.setText(str(grid_out))
    dlg._changed()
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    assert grid_out.exists()
    # A long GIF, cancelled at once: no file, no temporary file.
    dlg.result = None
    dlg.format.setCurrentIndex(1)
    dlg.seconds.setValue(60)
    gif = tmp_path / "long.gif"
    dlg.out.setText(str(gif))
    dlg._changed()
    dlg.start()
    dlg.runner.cancel()
    dlg.runner.wait(30)
    assert not gif.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_closed_export_dialog_is_deleted_not_kept_in_the_window(qtbot, window, tiny_ckpt):
    from latentlab.ui.panels.export_dialog import ExportDialog

    open_and_wait(qtbot, window, tiny_ckpt)
    for _ in range(3):  # Ctrl+E three times, each dialog closed
        dlg = window.export_dialog()
        assert dlg.isVisible()
        with qtbot.waitSignal(dlg.destroyed, timeout=5000):
            dlg.close()
    assert window.findChildren(ExportDialog) == []


def test_export_bad_dimension_is_explained_not_raised(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    dlg = window.export_dialog()
    qtbot.addWidget(dlg)
    dlg.dims.setText("0,9")
    dlg._changed()
    assert "out of range" in dlg.note.text() and not dlg.export_button.isEnabled()


def test_panels_behind_another_tab_render_nothing_until_their_tab_is_shown(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1))
    submitted = []
    real_submit = window.bridge.submit
    window.bridge.submit = lambda view, z, **kw: (submitted.append(view), real_submit(view, z, **kw))[1]
    assert not window.compare.on_screen  # the Compare tab starts behind the traversal grid
    first = np.array([0.5, 0, 0, 0], np.float32)
    window.state.set_latent(first, "test")
    wait_for_frame(qtbot, window, first)
    qtbot.waitUntil(lambda: any(v.startswith("grid:") for v in submitted), timeout=5000)
    assert not any(v.startswith("compare:") for v in submitted)
    window.docks["Compare"].raise_()  # now the grid is the hidden one
    qtbot.waitUntil(lambda: window.compare.on_screen and not window.grid.on_screen, timeout=5000)
    z = np.array([1.0, 0, 0, 0], np.float32)
    submitted.clear()
    window.state.set_latent(z, "test")
    qtbot.waitUntil(lambda: _shown_equals(window.compare.slots[0], decoded(window.state.current.model, z)),
                    timeout=30000)
    # The hidden grid has taken the new latent, put it aside for when it is shown, and has no refresh pending:
    # nothing can ask for a grid row any more.
    grid = window.grid
    qtbot.waitUntil(lambda: grid._stale and not grid._timer.isActive() and not grid._dragging_timer.isActive(),
                    timeout=5000)
    assert "preview" in submitted and not any(v.startswith("grid:") for v in submitted)
    window.docks["Traversal grid"].raise_()
    qtbot.waitUntil(lambda: any(v.startswith("grid:") for v in submitted), timeout=5000)


def test_the_series_concept_path_opens_with_a_curve_per_factor(qtbot, window, tmp_path):
    """The flagship's shipped series: Concept path reads every factor out of every snapshot, off the GUI thread."""
    from latentlab.core.resources import shipped_models_dir
    from tests.ui.conftest import open_and_wait

    flagship = shipped_models_dir() / "beta-tcvae-dsprites.safetensors"
    entry = open_and_wait(qtbot, window, flagship)
    panel = window.compare
    panel.set_series(entry.sidecars.series[:3])
    assert panel.concepts_button.isVisible() or not panel.isVisible()
    with qtbot.waitSignal(panel.concepts_job.finished, timeout=180000):
        assert panel.concept_path()
    view = panel.concept_view
    qtbot.addWidget(view)
    assert len(view.curves) == len(entry.dataset.factor_names)
    assert "learned, in order" in view.summary.text()
    view.close()
