"""The Generator panel on a real StyleGAN2 checkpoint in the real window: the space switch re-lays the sliders
(one layer of W+ at a time) and the preview shows the same picture, class / truncation / noise controls redraw,
style mixing and the mixing-grid PNG, and the panel hides what a model does not have."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentlab.core.checkpoints import save_checkpoint
from latentlab.core.export.mixing import parse_seeds
from tests.stylegan_fixtures import tiny_sg2, tiny_sg3
from tests.ui.conftest import decoded, open_and_wait, wait_for_frame


def wait_for_full_frame(qtbot, window, z) -> np.ndarray:
    """The preview's full frame of ``z`` (a loaded machine may show a draft of a generator first)."""
    def shown():
        res = window.preview.last_result
        return res is not None and res.z is not None and np.array_equal(res.z, z) and not res.draft

    qtbot.waitUntil(shown, timeout=30000)
    return window.preview.last_result.image.copy()


@pytest.fixture
def sg2_file(tmp_path):
    return save_checkpoint(tiny_sg2(c_dim=3), tmp_path / "cond-sg2.safetensors")


def test_switching_to_w_plus_shows_one_layer_of_sliders_and_the_same_picture(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    panel = window.generator
    assert window.docks["Generator"].isVisibleTo(window) and panel.space_box.isVisible()
    window.state.random_sample(4)
    before = wait_for_full_frame(qtbot, window, window.state.z)
    panel.space.activated.emit(2)  # W+ (as a click on the third entry)
    g = entry.model
    assert g.latent_space == "w+" and window.state.z.shape == (g.num_ws * g.w_dim,)
    sliders = window.sliders
    assert sliders.layer.isVisible() and len(sliders.rows) == g.w_dim
    sliders.layer.setValue(2)
    assert [r.dim for r in sliders.rows] == list(range(2 * g.w_dim, 3 * g.w_dim))
    assert sliders.rows[0].name_label.text() == "L2·w0"
    after = wait_for_full_frame(qtbot, window, window.state.z)
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 1
    assert "W+" in window.model_label.text()


def test_a_slider_in_w_plus_moves_only_its_layer(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    window.state.set_style(entry, space="w+")
    sliders, g = window.sliders, entry.model
    sliders.layer.setValue(1)
    z = window.state.z.copy()
    row = sliders.rows[3]
    row.valueEdited.emit(row.dim, 1.25, True)
    changed = np.flatnonzero(window.state.z != z)
    assert list(changed) == [g.w_dim + 3]
    assert np.array_equal(wait_for_full_frame(qtbot, window, window.state.z), decoded(entry.model, window.state.z))


def test_class_truncation_and_noise_controls_redraw_the_preview(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    panel, z = window.generator, window.state.z.copy()
    assert panel.class_box.isVisible() and panel.class_combo.count() == 3
    shown = []
    for act in (lambda: panel.class_combo.activated.emit(2), lambda: panel.psi.setValue(0.5),
                lambda: panel.noise_mode.activated.emit(2)):
        act()
        wait_for_frame(qtbot, window, z)
        qtbot.waitUntil(lambda: np.array_equal(window.preview.last_result.image, decoded(entry.model, z)),
                        timeout=30000)
        shown.append(window.preview.last_result.image.copy())
    s = window.state.style_of(entry)
    assert (s.class_index, s.psi, s.noise_mode) == (2, 0.5, "none")
    assert all(np.abs(a.astype(int) - b.astype(int)).max() > 0 for a, b in zip(shown, shown[1:], strict=False))


def test_mix_takes_the_fine_layers_from_the_seed(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    panel = window.generator
    own = window.state.ws(entry, window.state.z)
    panel.mix_seed.setValue(11)
    theirs = window.state.ws(entry, panel.second_latent(11))
    a, b = panel.layer_range()
    assert (a, b) == (panel.preset.itemData(3)) and b == entry.model.num_ws  # "fine" by default
    assert panel.mix()
    ws = window.state.z.reshape(entry.model.num_ws, -1)
    assert np.allclose(ws[:a], own[:a]) and np.allclose(ws[a:b], theirs[a:b])
    assert panel.space.currentData() == "w+"


def test_the_mixing_grid_is_written_as_a_png(qtbot, window, sg2_file, tmp_path):
    open_and_wait(qtbot, window, sg2_file)
    panel = window.generator
    panel.rows_edit.setText("1, 2")
    panel.cols_edit.setText("3-5")
    out = tmp_path / "mix.png"
    with qtbot.waitSignal(panel.runner.finished, timeout=30000):
        assert panel.export_grid(out)
    img = np.asarray(Image.open(out))
    size = window.state.current.model.info.image_shape[-1]
    assert img.shape == (3 * size + 2 * 2, 4 * size + 3 * 2, 3)


def test_bad_seeds_are_a_message_not_a_grid(qtbot, window, sg2_file, tmp_path):
    open_and_wait(qtbot, window, sg2_file)
    panel = window.generator
    said = []
    window.state.message.connect(lambda level, text: said.append((level, text)))
    panel.rows_edit.setText("one, two")
    assert not panel.export_grid(tmp_path / "mix.png")
    assert said and said[-1][0] == "error" and "not a seed" in said[-1][1]
    assert not (tmp_path / "mix.png").exists()
    assert parse_seeds("1, 5-7") == [1, 5, 6, 7]
    for bad in ("", "3-1", "1-100"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_stylegan3_shows_its_transform_and_no_noise(qtbot, window, tmp_path):
    path = save_checkpoint(tiny_sg3(), tmp_path / "sg3.safetensors")
    entry = open_and_wait(qtbot, window, path)
    panel, z = window.generator, window.state.z.copy()
    assert panel.transform_box.isVisible() and not panel.class_box.isVisible()
    assert not panel.noise_box.isEnabled()
    panel.tx.setValue(0.25)
    assert window.state.style_of(entry).translate == (0.25, 0.0)
    wait_for_frame(qtbot, window, z)
    qtbot.waitUntil(lambda: np.array_equal(window.preview.last_result.image, decoded(entry.model, z)),
                        timeout=30000)
    panel.untransform.setChecked(True)  # the output warped back: an equivariance check
    from latentlab.core.layer_view import Untransformed

    assert window.preview.look_token == -entry.token
    qtbot.waitUntil(lambda: np.array_equal(window.preview.last_result.image,
                                           decoded(Untransformed(entry.model, (0.25, 0.0), 0.0), z)), timeout=30000)
    panel.untransform.setChecked(False)
    assert window.preview.look_token is None
    panel.reset_transform.click()
    assert window.state.style_of(entry).translate == (0.0, 0.0) and panel.tx.value() == 0.0


def test_a_vae_shows_the_note_instead_of_the_controls(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.generator
    assert panel.note.isVisibleTo(panel) and not panel.space_box.isVisibleTo(panel)
    assert not window.sliders.layer.isVisibleTo(window.sliders)


def test_imported_codes_and_directions_drive_w_plus_layer_edits(qtbot, window, sg2_file, tmp_path):
    """A projector's W+ code becomes a bookmark; an InterFaceGAN w boundary a slider acting on chosen layers."""
    entry = open_and_wait(qtbot, window, sg2_file)
    g = entry.model
    ws = np.random.default_rng(3).standard_normal((1, g.num_ws, g.w_dim)).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=ws)
    assert window.bookmarks.import_codes(tmp_path / "projected_w.npz") == 1
    bm = window.state.bookmarks[0]
    assert bm.space == "w+" and window.bookmarks.list.count() == 1
    window.state.restore_bookmark(bm)  # the view goes to W+, where the code lives
    assert entry.model.latent_space == "w+" and np.array_equal(window.state.z, ws.reshape(-1))

    boundary = np.zeros((1, g.w_dim), np.float32)
    boundary[0, 1] = 2.0
    np.save(tmp_path / "stylegan_ffhq_smile_w_boundary.npy", boundary)
    panel = window.directions
    assert panel.load(tmp_path / "stylegan_ffhq_smile_w_boundary.npy")
    row = panel.rows[0]
    assert row.direction.name == "smile" and row.layer_from.isVisibleTo(row) and row.slider.isEnabled()
    row.layer_from.setValue(1)
    row.layer_to.setValue(3)
    before = window.state.z.reshape(g.num_ws, g.w_dim).copy()
    row.slider.setFloatValue(1.5)
    moved = window.state.z.reshape(g.num_ws, g.w_dim) - before
    assert np.allclose(moved[1:3, 1], 1.5, atol=1e-5)  # alpha per layer, as GANSpace's sliders move
    assert np.abs(np.delete(moved, [1, 2], axis=0)).max() == 0 and np.abs(moved[:, [0, 2, 3]]).max() < 1e-6

    window.state.set_style(entry, space="z")  # a w direction cannot move z: the row says so
    assert not row.slider.isEnabled() and "switch the latent space to w" in row.slider.toolTip()


def test_a_hostile_latent_file_is_refused_with_a_message(qtbot, window, sg2_file, tmp_path):
    open_and_wait(qtbot, window, sg2_file)
    said = []
    window.state.message.connect(lambda level, text: said.append((level, text)))
    (tmp_path / "latents.pt").write_bytes(b"not a torch file at all")
    assert window.bookmarks.import_codes(tmp_path / "latents.pt") == 0
    assert said[-1][0] == "error" and "latents.pt" in said[-1][1] and window.state.bookmarks == []


def test_look_inside_shows_a_layers_maps_then_its_spectrum_then_the_image_again(qtbot, window, sg2_file):
    from latentlab.core.layer_view import LayerLook

    entry = open_and_wait(qtbot, window, sg2_file)
    panel, z = window.generator, window.state.z.copy()
    image = wait_for_full_frame(qtbot, window, z)
    layer = entry.model.layers[2]
    panel.look_layer.setCurrentIndex(2)
    panel.look_box.setChecked(True)
    look = window.state.look_of(entry)
    assert look is not None and look.layer == layer.name and window.preview.look_token == -entry.token

    def shows(want):
        res = window.preview.last_result
        return res is not None and res.image is not None and res.image.shape == want.shape and \
            np.array_equal(res.image, want)

    qtbot.waitUntil(lambda: shows(decoded(LayerLook(entry.model, look), z)), timeout=30000)
    assert window.preview.last_result.image.shape[:2] == (layer.resolution, layer.resolution)
    panel.look_fft.setChecked(True)
    spectrum_look = window.state.look_of(entry)
    assert spectrum_look.fft
    qtbot.waitUntil(lambda: shows(decoded(LayerLook(entry.model, spectrum_look), z)), timeout=30000)
    window.state.set_style(entry, class_index=1)  # the look follows the generator's settings
    qtbot.waitUntil(lambda: shows(decoded(LayerLook(entry.model, spectrum_look), z)), timeout=30000)
    panel.look_box.setChecked(False)
    assert window.state.look_of(entry) is None and window.preview.look_token is None
    qtbot.waitUntil(lambda: shows(decoded(entry.model, z)), timeout=30000)
    assert image.shape == window.preview.last_result.image.shape


def test_stylespace_shows_one_layers_channels_and_ranks_them_by_effect(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    before = wait_for_full_frame(qtbot, window, window.state.z)
    window.generator.space.activated.emit(3)  # S
    view = entry.model
    assert view.latent_space == "s" and window.state.z.shape == (view.info.latent_dim,)
    after = wait_for_full_frame(qtbot, window, window.state.z)
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 1  # the same picture, now in S
    sliders = window.sliders
    sliders.layer.setValue(1)
    name, a, b = view.groups[1]
    assert [r.dim for r in sliders.rows] == list(range(a, b)) and name in sliders.layer.suffix()
    assert sliders.rank_button.isVisible() and not window.generator.mix_button.isEnabled()
    with qtbot.waitSignal(sliders.ranker.finished, timeout=30000):
        sliders.rank_channels()
    laid = [sliders.rows_layout.itemAt(i).widget() for i in range(len(sliders.rows))]
    scores = [sliders._effects[r.dim] for r in laid]
    assert scores == sorted(scores, reverse=True) and laid[0].badge.text() == "100%"
    lo, hi = window.state.bounds()
    assert np.allclose(hi[a:b], 3 * view.latent_std.numpy()[a:b])  # ±3 of each channel's own spread


def test_blend_seeds_and_a_layers_noise_from_the_panel(qtbot, window, sg2_file):
    from latentlab.core.export.mixing import parse_weighted_seeds

    entry = open_and_wait(qtbot, window, sg2_file)
    panel = window.generator
    panel.blend_edit.setText("3:1, 4:3")
    assert panel.blend_seeds()
    assert entry.model.latent_space == "w+"  # a blend of ws lives in W, not in z
    from latentlab.core.style_edit import blend_seeds

    assert np.allclose(window.state.z, blend_seeds(entry.model, [(3, 1.0), (4, 3.0)]).reshape(-1), atol=1e-6)
    panel.blend_edit.setText("3:x")
    assert not panel.blend_seeds()
    assert parse_weighted_seeds("1, 2:0.5") == [(1, 1.0), (2, 0.5)]
    for bad in ("", "a:1", "1:-2", "1:0"):
        with pytest.raises(ValueError):
            parse_weighted_seeds(bad)
    layer = entry.model.noise_layers[-1]
    panel.noise_layer.setCurrentIndex(panel.noise_layer.findData(layer))
    panel.noise_layer.activated.emit(panel.noise_layer.currentIndex())
    panel.noise_strength.setValue(2.5)
    s = window.state.style_of(entry)
    assert s.noise_strength == 1.0 and s.layer_noise(layer) == 2.5


def test_mix_takes_the_styles_of_a_bookmark(qtbot, window, sg2_file):
    entry = open_and_wait(qtbot, window, sg2_file)
    state, panel = window.state, window.generator
    state.random_sample(21)
    theirs = state.ws(entry, state.z)
    state.add_bookmark("donor")
    state.random_sample(22)
    own = state.ws(entry, state.z)
    index = panel.mix_source.findText("bookmark: donor")
    assert index > 0
    panel.mix_source.setCurrentIndex(index)
    panel.mix_source.activated.emit(index)
    assert not panel.mix_seed.isEnabled()
    a, b = panel.layer_range()
    assert panel.mix()
    ws = state.z.reshape(entry.model.num_ws, -1)
    assert np.allclose(ws[:a], own[:a]) and np.allclose(ws[a:b], theirs[a:b])


def test_a_w_flow_plays_on_a_layer_range_of_w_plus(qtbot, window, sg2_file, tmp_path):
    import torch

    from tests.core.test_pdetraversal_import import ReferenceWavePDE

    entry = open_and_wait(qtbot, window, sg2_file)
    state = window.state
    state.set_style(entry, space="w")
    torch.manual_seed(5)
    torch.save(ReferenceWavePDE(2, entry.model.w_dim, True).state_dict(), tmp_path / "support_sets.pt")
    panel = window.flows
    assert panel.load(tmp_path / "support_sets.pt")
    state.set_style(entry, space="w+")  # the w flow stays, and now moves a range of layers
    g = entry.model
    assert panel.layer_from.isVisibleTo(panel) and panel.layer_to.value() == g.num_ws
    panel.layer_from.setValue(1)
    panel.layer_to.setValue(3)
    start = state.z.copy().reshape(g.num_ws, g.w_dim)
    with qtbot.waitSignal(panel.tracer.finished, timeout=30000):
        panel.trace()
    path = panel.path.reshape(len(panel.path), g.num_ws, g.w_dim)
    moved = np.abs(path - start[None]).max(axis=(0, 2))
    assert moved[1] > 0 and moved[2] > 0 and np.all(moved[[0, *range(3, g.num_ws)]] == 0)
    assert np.allclose(path[:, 1], path[:, 2])  # the same displacement on every layer of the range
