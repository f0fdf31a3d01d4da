"""The explorer: sliders drive the live preview through the render worker, and the window stays usable."""

from __future__ import annotations

import os
import threading

import numpy as np
import torch
from PySide6.QtCore import Qt

from latentlab.core.model import ModelInfo
from tests.helpers import tiny_checkpoint
from tests.ui.conftest import (
    decoded,
    latentlab_threads,
    make_checkpoint_entry,
    open_and_wait,
    wait_for_analysis,
    wait_for_frame,
)


def test_slider_change_shows_the_decoded_image_of_that_latent(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    window.sliders.row(2).slider.setFloatValue(1.5)
    z = window.state.z.copy()
    assert z[2] == np.float32(1.5) and z[0] == 0
    wait_for_frame(qtbot, window, z)
    assert np.array_equal(window.preview.shown_image(), decoded(entry.model, z))
    assert "decode" in window.preview.info.text()


class SlowModel(torch.nn.Module):
    """A decoder as slow as the test makes it: every decode waits until ``gate`` is open (it is, at first)."""

    traceable = False  # its decode counts calls and waits in Python: a trace would drop both

    def __init__(self, d=3):
        super().__init__()
        self.info = ModelInfo("slow", d, (1, 8, 8))
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        self.calls += 1
        if not self.gate.wait(30):
            raise RuntimeError("the test never opened the gate")
        return torch.sigmoid(z[:, :1, None, None].expand(-1, 1, 8, 8))

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.info.latent_dim, generator=generator)


def test_fast_slider_changes_coalesce_and_the_last_value_is_shown(qtbot, window):
    model = SlowModel()
    entry = make_checkpoint_entry(model, "slow")
    window.state.add_model(entry)
    window.grid.setVisible(False)  # only the preview renders in this test
    window.grid._timer.stop()
    qtbot.waitUntil(lambda: window.preview.last_result is not None, timeout=30000)
    start_calls = model.calls
    slider = window.sliders.row(0).slider
    model.gate.clear()  # the decoder is slower than the hand: no decode ends during the drag
    for i in range(100):
        slider.setFloatValue(-2.0 + 4.0 * i / 99)
    model.gate.set()
    final = window.state.z.copy()
    assert final[0] == np.float32(2.0)
    wait_for_frame(qtbot, window, final)
    rendered = model.calls - start_calls
    assert rendered < 30, f"{rendered} decodes for 100 changes"
    assert np.array_equal(window.preview.shown_image(), decoded(model, final))


def test_a_held_sliders_number_box_follows_at_a_readable_rate_and_ends_on_the_final_value(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    row = window.sliders.row(0)
    row.slider.setSliderDown(True)  # held, as in a mouse drag
    positions = range(row.slider.minimum(), row.slider.maximum() + 1, 10)
    for p in positions:  # a hundred changes within one event-loop turn
        row.slider.setSliderPosition(p)
    assert window.state.z[0] == np.float32(3.0)
    # The box took the first change at once and not the 99 after it (each would have been a redraw) ...
    assert row.spin.value() == -3.0
    # ... and shows the last one a moment later, the slider still held.
    qtbot.waitUntil(lambda: row.spin.value() == 3.0, timeout=5000)
    row.slider.setSliderDown(False)
    assert row.spin.value() == 3.0
    # Released before the box caught up: it shows the final value at once.
    row.slider.setSliderDown(True)
    for p in range(row.slider.maximum(), row.slider.maximum() // 4, -10):
        row.slider.setSliderPosition(p)
    assert row.spin.value() != round(float(window.state.z[0]), 2)
    row.slider.setSliderDown(False)
    assert row.spin.value() == round(float(window.state.z[0]), 2)
    wait_for_frame(qtbot, window, window.state.z.copy())


def test_undo_and_redo_with_the_keyboard(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    row = window.sliders.row(1)
    row.spin.setValue(1.0)  # a committed edit
    row.spin.setValue(2.0)
    assert window.state.z[1] == 2.0
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.state.z[1] == 1.0
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.state.z[1] == 0.0
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.state.z[1] == 1.0
    assert row.spin.value() == 1.0


def test_a_drag_is_one_undo_step(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    row = window.sliders.row(0)
    for v in (0.1, 0.5, 0.9, 1.3):
        row.slider.setFloatValue(v)
    row.slider.sliderReleased.emit()
    window.state.undo()
    assert window.state.z[0] == 0.0


def test_bookmark_round_trip(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.state.set_latent(np.array([0.5, -1, 2, 0.25], np.float32), "test")
    window.bookmarks.name.setText("smile")
    window.bookmarks.add.click()
    assert window.bookmarks.list.count() == 1 and window.bookmarks.list.item(0).text() == "smile"
    window.state.reset_all()
    assert not window.state.z.any()
    window.bookmarks.list.setCurrentRow(0)
    window.bookmarks.restore.click()
    assert np.allclose(window.state.z, [0.5, -1, 2, 0.25])


def test_locked_dimension_keeps_its_value(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.sliders.row(3).spin.setValue(1.25)
    window.sliders.row(3).lock.setChecked(True)
    window.state.random_sample(seed=5)
    assert window.state.z[3] == np.float32(1.25)
    window.state.reset_all()
    assert window.state.z[3] == np.float32(1.25) and window.state.z[0] == 0


def test_random_sample_is_seeded(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.sliders.seed.setValue(7)
    window.sliders.random_button.click()
    a = window.state.z.copy()
    window.sliders.seed.setValue(7)
    window.sliders.random_button.click()
    assert np.array_equal(a, window.state.z) and a.any()


def test_encode_sample_sets_the_posterior_mean(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    window.sliders.seed.setValue(3)
    window.sliders.encode_button.click()
    images, _ = entry.dataset.sample(1, 3)
    with torch.inference_mode():
        expected = entry.model.encode(torch.from_numpy(images)).mean[0].numpy()
    qtbot.waitUntil(lambda: np.allclose(window.state.z, expected, atol=1e-6), timeout=30000)


def test_a_fresh_model_starts_at_a_real_image_but_a_touched_one_stays(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    assert np.array_equal(window.state.z, entry.encoded.mean[0].astype(np.float32))
    wait_for_frame(qtbot, window, window.state.z)
    assert window.state.history._undo == []  # the start is not an undo step
    window.state.set_dim(1, 1.5, "slider", commit=True)
    touched = window.state.z.copy()
    window.state.set_analysis(entry, entry.encoded, entry.activity)  # e.g. a re-analysis after a device move
    assert np.array_equal(window.state.z, touched)


def test_broken_checkpoint_shows_an_error_and_the_app_keeps_working(qtbot, window, tmp_path, tiny_ckpt):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    window.open_paths([bad])
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=30000)
    assert "broken.safetensors" in window.banner.text and window.banner.level == "error"
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    assert entry.name and window.state.current is entry


def test_untrusted_file_asks_and_opens_only_when_trusted(qtbot, window, tmp_path, monkeypatch):
    from latentlab.core.checkpoints import UntrustedFile, file_sha256
    from tests.helpers import tiny_model

    path = tmp_path / "pickled.pt"
    torch.save(tiny_model(latent_dim=2), path)
    asked = []
    monkeypatch.setattr(window, "_ask_trust", lambda p, refusal: asked.append((p, refusal)))
    window.models.trustRequested.disconnect()
    window.models.trustRequested.connect(window._ask_trust)
    window.open_paths([path])
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    assert window.state.current is None
    refused_path, refusal = asked[0]
    assert refused_path == path and isinstance(refusal, UntrustedFile)
    assert refusal.sha256 == file_sha256(path)  # the dialog names exactly the bytes it refused
    window.models.open_trusted(path, refusal)
    qtbot.waitUntil(lambda: window.state.current is not None, timeout=30000)
    assert window.state.current.checkpoint.format == "pickle"
    assert window.state.current.checkpoint.sha256 == refusal.sha256


def test_file_changed_after_the_trust_dialog_is_refused(qtbot, window, tmp_path, monkeypatch):
    from tests.helpers import tiny_model

    path = tmp_path / "pickled.pt"
    torch.save(tiny_model(latent_dim=2), path)
    asked = []
    monkeypatch.setattr(window, "_ask_trust", lambda p, refusal: asked.append(refusal))
    window.models.trustRequested.disconnect()
    window.models.trustRequested.connect(window._ask_trust)
    window.open_paths([path])
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    torch.save(tiny_model(latent_dim=3, seed=1), path)  # another file, same name, after the user said yes
    window.models.open_trusted(path, asked[0])
    qtbot.waitUntil(lambda: window.banner.isVisible() and "changed" in window.banner.text, timeout=30000)
    assert window.state.current is None and window.banner.level == "error"


def test_quantized_sliders_snap_to_codebook_values(qtbot, window, tmp_path):
    path = tiny_checkpoint(tmp_path / "q.safetensors", arch="qlae", latent_dim=3)
    entry = open_and_wait(qtbot, window, path)
    books = entry.codebooks()
    window.sliders.row(1).slider.setFloatValue(0.123)
    assert window.state.z[1] in books[1]
    assert window.sliders.row(1).ticks.positions  # ticks drawn


def preview_requests_to_the_render_thread(monkeypatch, window) -> list:
    """Records every preview request that reaches the render thread from now on."""
    seen = []
    submit = window.bridge.worker.submit

    def spy(req):
        if req.view == "preview":
            seen.append(req.z.copy())
        submit(req)

    monkeypatch.setattr(window.bridge.worker, "submit", spy)
    return seen


def test_a_latent_shown_before_is_shown_again_without_decoding_it(qtbot, window, tiny_ckpt, monkeypatch):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    row = window.sliders.row(2)
    row.spin.setValue(1.5)  # committed edits: each is a step of history
    first = window.state.z.copy()
    wait_for_frame(qtbot, window, first)
    row.spin.setValue(-0.5)
    wait_for_frame(qtbot, window, window.state.z.copy())
    requests = preview_requests_to_the_render_thread(monkeypatch, window)
    window.state.undo()  # back to a latent decoded a moment ago
    assert np.array_equal(window.state.z, first)
    wait_for_frame(qtbot, window, first)
    assert requests == []
    assert window.preview.last_result.cached
    assert np.array_equal(window.preview.shown_image(), decoded(entry.model, first))
    # A device change (here, announced) lets go of the frames: they were decoded elsewhere.
    window.state.deviceChanged.emit("cpu")
    assert len(window.bridge.frames) == 0


def test_dragging_a_quantized_dimension_decodes_its_codebook_neighbours_ahead(qtbot, window, tmp_path, monkeypatch):
    path = tiny_checkpoint(tmp_path / "q.safetensors", arch="qlae", latent_dim=3)
    entry = open_and_wait(qtbot, window, path)
    wait_for_analysis(qtbot, window)  # a fresh model then moves to a real image's latent
    window.grid.set_on_screen(False)  # only the preview and its prefetch render in this test
    qtbot.waitUntil(lambda: not window.bridge.worker.pending_views(), timeout=10_000)
    window.bridge.forget_frames()
    values = np.unique(entry.codebooks()[0])
    row = window.sliders.row(0)

    def neighbour(step: int) -> np.ndarray:
        z = window.state.z.copy()
        k = int(np.argmin(np.abs(values - z[0])))
        z[0] = values[k + step if 0 <= k + step < len(values) else k - step]
        return z

    # Pressing the handle already decodes the neighbours: the first crossing of a drag is ready too.
    row.slider.setSliderDown(True)
    first = neighbour(+1)
    qtbot.waitUntil(lambda: window.bridge.holds_frame(first), timeout=10_000)
    requests = preview_requests_to_the_render_thread(monkeypatch, window)
    row.slider.setFloatValue(float(first[0]))
    wait_for_frame(qtbot, window, first)
    assert window.preview.last_result.cached and requests == []
    # Each crossing decodes the next ones ahead.
    ahead = neighbour(+2)
    qtbot.waitUntil(lambda: window.bridge.holds_frame(ahead), timeout=10_000)
    row.slider.setFloatValue(float(ahead[0]))
    wait_for_frame(qtbot, window, ahead)
    assert window.preview.last_result.cached
    assert requests == []  # no crossing ever went to the render thread
    assert np.array_equal(window.preview.shown_image(), decoded(entry.model, ahead))
    row.slider.setSliderDown(False)


def test_traversal_grid_renders_and_a_click_jumps_there(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    window.grid.dims_edit.setText("1,3")
    window.grid.steps.setValue(5)
    window.grid.refresh()
    qtbot.waitUntil(lambda: len(window.grid._tiles) == 2, timeout=30000)
    img = window.grid.composed_image()
    assert img.shape == (2 * 64 + 2, 5 * 64 + 4 * 2)
    target = window.grid.grid_z[1, 4].copy()
    window.grid._on_click(4 * 66 + 10, 66 + 10)
    assert np.array_equal(window.state.z, target)


def test_latent_map_click_loads_that_samples_latent(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    qtbot.waitUntil(lambda: window.latent_map.embedding is not None, timeout=30000)
    assert len(window.latent_map.embedding) == len(entry.encoded.mean)
    window.latent_map.select_point(10)
    assert np.array_equal(window.state.z, entry.encoded.mean[10])
    assert "shape=" in window.latent_map.source_label.text()
    pos = window.latent_map.project(entry.encoded.mean[10])
    assert np.allclose(pos[0], window.latent_map.embedding[10], atol=1e-4)


def test_latent_map_marker_follows_the_latent(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    lm = window.latent_map
    qtbot.waitUntil(lambda: lm.embedding is not None and lm.marker_position() is not None, timeout=30000)
    for i in (3, 17):
        window.state.set_latent(entry.encoded.mean[i], "test")
        want = lm.project(entry.encoded.mean[i])[0]
        qtbot.waitUntil(lambda w=want: np.allclose(lm.marker_position(), w, atol=1e-4), timeout=5000)
    # The marker is drawn where it says it is: the centre of its cross maps to that point in the plot.
    centre = lm.marker.mapToParent(lm.marker.boundingRect().center())
    assert np.allclose((centre.x(), centre.y()), want, atol=1e-4)
    # The marker is a few pixels wide at any zoom: auto-range (the plot's "A" button) frames the points alone.
    # Beyond the points, only the points' own radius may pad the frame (never the 16 px marker).
    vb = lm.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.childrenBounds()
    emb = lm.embedding
    px, py = vb.viewPixelSize()
    pad = 2 * lm.scatter.pixelPadding() + 2  # both sides, plus a pixel of rounding each
    assert x1 - x0 <= np.ptp(emb[:, 0]) + pad * px and y1 - y0 <= np.ptp(emb[:, 1]) + pad * py


def test_activity_labels_sort_passive_dimensions_last(qtbot, window, tiny_ckpt):
    from latentlab.core.activity import Activity

    entry = open_and_wait(qtbot, window, tiny_ckpt)
    wait_for_analysis(qtbot, window)
    act = Activity(("passive", "active", "mixed", "active"), np.array([1.0, 0.0, 0.5, 0.0]), np.zeros(4), 10)
    window.state.set_analysis(entry, entry.encoded, act)
    order = [window.sliders.rows_layout.itemAt(i).widget().dim for i in range(4)]
    assert order == [1, 3, 2, 0]
    assert not window.sliders.row(0).isVisibleTo(window.sliders)
    window.sliders.show_passive.setChecked(True)
    assert window.sliders.row(0).isVisibleTo(window.sliders)


def test_closing_the_window_stops_every_worker(qtbot, empty_models_dir, tiny_ckpt):
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.show()
    open_and_wait(qtbot, win, tiny_ckpt)
    assert latentlab_threads()  # the render thread at least
    win.close()
    assert latentlab_threads() == []


def test_a_model_without_an_encoder_says_so(qtbot, window):
    class Generator(SlowModel):
        pass

    window.state.add_model(make_checkpoint_entry(Generator(), "gen"))
    assert not window.sliders.encode_button.isEnabled()
    assert "no encoder" in window.sliders.encode_button.toolTip()
    qtbot.waitUntil(lambda: "no encoder" in window.latent_map.status.text(), timeout=5000)


def test_the_preview_decodes_through_the_verified_trace_and_still_shows_the_exact_decode(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    worker = window.bridge.worker
    qtbot.waitUntil(lambda: (r := worker.renderer_of(entry.token)) is not None and r.tracer.active, timeout=30000)
    for v in (0.25, -1.5, 2.75):
        window.sliders.row(1).slider.setFloatValue(v)
        z = window.state.z.copy()
        wait_for_frame(qtbot, window, z)
        assert np.array_equal(window.preview.shown_image(), decoded(entry.model, z))
    assert worker.threads == max(1, min(torch.get_num_threads(), len(os.sched_getaffinity(0)) - 1))
