"""Style-generator editing: the space switch keeps the image, layer ranges, style mixing and its grid, classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.errors import BadInput
from latentlab.core.style_edit import (
    StyleSettings,
    convert_latent,
    layer_presets,
    lift,
    mix_styles,
    mixing_grid,
    settings_of,
    view_of,
    ws_of,
)
from tests.stylegan_fixtures import tiny_sg2, tiny_sg3


def decode(view, latent) -> np.ndarray:
    with torch.no_grad():
        return view.decode(torch.as_tensor(np.asarray(latent, np.float32)[None]))[0].numpy()


@pytest.mark.parametrize("make", [tiny_sg2, tiny_sg3])
def test_switching_z_to_w_to_w_plus_keeps_the_image(make):
    g = make()
    z_view = view_of(g, settings_of(g).replace(space="z", psi=0.7))
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    want = decode(z_view, z)
    w_view = view_of(z_view, StyleSettings(space="w", psi=0.7))
    w, note = convert_latent(z_view, w_view, z)
    assert note is None and w.shape == (g.w_dim,)
    assert np.abs(decode(w_view, w) - want).max() < 1e-5
    p_view = view_of(w_view, StyleSettings(space="w+", psi=0.7))
    wp, note = convert_latent(w_view, p_view, w)
    assert note is None and wp.shape == (g.num_ws * g.w_dim,)
    assert np.abs(decode(p_view, wp) - want).max() < 1e-5


def test_back_to_z_takes_the_z_it_came_from_and_says_so():
    g = tiny_sg2()
    z_view, w_view = view_of(g, StyleSettings(space="z")), view_of(g, StyleSettings(space="w"))
    z = np.arange(g.z_dim, dtype=np.float32) / 10
    w, _ = convert_latent(z_view, w_view, z)
    back, note = convert_latent(w_view, z_view, w, last_z=z)
    assert np.array_equal(back, z) and "no way back" in note


def test_edited_w_plus_layers_become_their_mean_in_w_with_a_note():
    g = tiny_sg2()
    p_view, w_view = view_of(g, StyleSettings(space="w+")), view_of(g, StyleSettings(space="w"))
    ws = np.random.default_rng(1).standard_normal((g.num_ws, g.w_dim)).astype(np.float32)
    w, note = convert_latent(p_view, w_view, ws.reshape(-1))
    assert np.allclose(w, ws.mean(axis=0)) and "mean" in note


def test_a_lifted_direction_moves_only_its_layers_by_alpha_each():
    g = tiny_sg2()
    v = np.zeros(g.w_dim, np.float32)
    v[2] = 1.0
    vec, gain = lift(v, g.num_ws, 1, 3)
    moved = (np.zeros(g.num_ws * g.w_dim, np.float32) + 1.5 * gain * vec).reshape(g.num_ws, g.w_dim)
    assert np.isclose(np.linalg.norm(vec), 1.0)
    assert np.allclose(moved[1:3, 2], 1.5) and np.abs(np.delete(moved, [1, 2], axis=0)).max() == 0
    with pytest.raises(BadInput, match="layer range"):
        lift(v, g.num_ws, 3, 3)


def test_layer_presets_cover_every_layer_once():
    for num_ws in (4, 8, 14, 16, 18):
        p = layer_presets(num_ws)
        assert p["all"] == (0, num_ws) and p["coarse"][0] == 0 and p["fine"][1] == num_ws
        assert p["coarse"][1] == p["middle"][0] and p["middle"][1] == p["fine"][0]


def test_style_mixing_takes_the_chosen_layers_from_the_second_latent():
    a, b = np.zeros((6, 4), np.float32), np.ones((6, 4), np.float32)
    mixed = mix_styles(a, b, 2, 4)
    assert mixed[2:4].min() == 1 and np.delete(mixed, [2, 3], axis=0).max() == 0
    with pytest.raises(BadInput, match="same shape"):
        mix_styles(a, b[:3], 0, 1)


def test_the_mixing_grid_shows_sources_and_their_mixes():
    g = tiny_sg2()
    view = view_of(g, StyleSettings(space="z"))
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal(g.z_dim).astype(np.float32) for _ in range(2)]
    cols = [rng.standard_normal(g.z_dim).astype(np.float32) for _ in range(3)]
    grid = mixing_grid(view, rows, cols, 0, g.num_ws)
    assert grid.shape[:2] == (3, 4) and grid.dtype == np.uint8
    assert (grid[0, 0] == 255).all()  # the blank corner
    # Every layer from the column source: each mix is that column's image.
    for r in range(2):
        for c in range(3):
            assert np.abs(grid[1 + r, 1 + c].astype(int) - grid[0, 1 + c].astype(int)).max() <= 1
    none_taken = mixing_grid(view, rows, cols, 0, 1)
    assert np.abs(none_taken[1, 1].astype(int) - none_taken[1, 0].astype(int)).max() > 0


def test_a_class_blend_decodes_between_the_two_classes():
    g = tiny_sg2(c_dim=3)
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    one = decode(view_of(g, StyleSettings(class_index=0)), z)
    two = decode(view_of(g, StyleSettings(class_index=2)), z)
    half = view_of(g, StyleSettings(class_index=0, class_blend=2, class_t=0.5))
    assert np.allclose(half.class_vector.numpy(), [0.5, 0, 0.5])
    mid = decode(half, z)
    assert np.abs(mid - one).max() > 0 and np.abs(mid - two).max() > 0
    assert np.abs(decode(view_of(g, StyleSettings(class_index=0, class_blend=2, class_t=1.0)), z) - two).max() < 1e-6
    with pytest.raises(BadInput, match="3 classes"):
        view_of(g, StyleSettings(class_index=3))


def test_random_noise_is_reproducible_from_its_seed_and_differs_between_seeds():
    g = tiny_sg2()
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    s = StyleSettings(noise_mode="random", noise_seed=4)
    assert np.array_equal(decode(view_of(g, s), z), decode(view_of(g, s), z))
    assert np.abs(decode(view_of(g, s.replace(noise_seed=5)), z) - decode(view_of(g, s), z)).max() > 0
    off = decode(view_of(g, s.replace(noise_mode="none")), z)
    assert np.abs(decode(view_of(g, s.replace(noise_mode="random", noise_strength=0.0)), z) - off).max() < 1e-6


def test_a_stylegan3_translation_moves_the_image_and_zero_gives_it_back():
    g = tiny_sg3()
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    base = decode(view_of(g, StyleSettings()), z)
    moved = decode(view_of(g, StyleSettings(translate=(0.25, 0.0))), z)
    assert np.abs(moved - base).max() > 1e-3
    assert np.array_equal(decode(view_of(g, StyleSettings(translate=(0.0, 0.0))), z), base)


def test_settings_survive_json_and_refuse_the_wrong_types():
    s = StyleSettings(space="w+", class_index=1, class_blend=2, class_t=0.25, psi=0.5, cutoff=4,
                      noise_mode="random", noise_strength=0.5, noise_seed=9, translate=(0.1, -0.2), rotate=0.05)
    assert StyleSettings.from_dict(s.to_dict()) == s
    for bad in ({"space": 3}, {"cutoff": "4"}, {"translate": [1]}, {"psi": True}, {"noise_seed": 1.5}, []):
        with pytest.raises(BadInput):
            StyleSettings.from_dict(bad)
    g = tiny_sg2()
    for bad in (StyleSettings(space="q"), StyleSettings(psi=1.5), StyleSettings(cutoff=99),
                StyleSettings(noise_mode="loud"), StyleSettings(rotate=float("nan"))):
        with pytest.raises(BadInput):
            bad.checked(g)


def test_ws_of_a_w_plus_latent_is_its_rows():
    g = tiny_sg2()
    view = view_of(g, StyleSettings(space="w+"))
    ws = np.random.default_rng(2).standard_normal((g.num_ws, g.w_dim)).astype(np.float32)
    assert np.array_equal(ws_of(view, ws.reshape(-1)), ws)


def test_one_layers_noise_strength_changes_only_what_that_layer_adds():
    g = tiny_sg2()
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    layer = g.noise_layers[-1]
    base = StyleSettings(noise_mode="random", noise_seed=1)
    louder = base.with_layer_noise(layer, 3.0)
    assert louder.layer_noise(layer) == 3.0 and louder.layer_noise(g.noise_layers[0]) == 1.0
    assert np.abs(decode(view_of(g, louder), z) - decode(view_of(g, base), z)).max() > 1e-4
    assert louder.with_layer_noise(layer, 1.0) == base  # back to as trained: nothing stored
    # Every other layer's noise off: only that layer's noise is left, and its strength matters.
    quiet = base.replace(noise_strength=0.0)
    assert np.array_equal(decode(view_of(g, quiet.with_layer_noise(layer, 5.0)), z), decode(view_of(g, quiet), z))
    assert StyleSettings.from_dict(louder.to_dict()) == louder
    with pytest.raises(BadInput, match="no noise input"):
        base.with_layer_noise("b999.conv9", 2.0).checked(g)
    with pytest.raises(BadInput):
        StyleSettings.from_dict({"noise_layers": [["a"]]})


def test_blending_seeds_is_the_weighted_mean_of_their_ws():
    from latentlab.core.style_edit import blend_seeds

    g = tiny_sg2()
    view = view_of(g, StyleSettings(space="w+"))
    z_view = view_of(g, StyleSettings(space="z"))
    ws = [ws_of(z_view, z_view.sample_prior(1, torch.Generator().manual_seed(s))[0].numpy()) for s in (1, 7)]
    assert np.allclose(blend_seeds(view, [(1, 3.0), (7, 1.0)]), 0.75 * ws[0] + 0.25 * ws[1], atol=1e-6)
    assert np.allclose(blend_seeds(view, [(7, 2.0)]), ws[1], atol=1e-6)
    for bad in ([], [(1, -1.0)], [(1, 0.0)], [(1, float("nan"))]):
        with pytest.raises(BadInput):
            blend_seeds(view, bad)


def test_a_w_path_lifted_onto_a_layer_range_moves_only_those_layers():
    from latentlab.core.style_edit import layer_mean, lift_path

    num_ws, w_dim = 5, 3
    wplus = np.arange(num_ws * w_dim, dtype=np.float32)
    assert np.allclose(layer_mean(wplus, num_ws, 1, 3), wplus.reshape(num_ws, w_dim)[1:3].mean(0))
    path = np.stack([np.zeros(w_dim), np.ones(w_dim), 2 * np.ones(w_dim)]).astype(np.float32)
    lifted = lift_path(wplus, path, num_ws, 1, 3).reshape(3, num_ws, w_dim)
    assert np.array_equal(lifted[0], wplus.reshape(num_ws, w_dim))
    assert np.allclose(lifted[2, 1:3] - lifted[0, 1:3], 2.0) and np.array_equal(lifted[:, [0, 3, 4]],
                                                                                 lifted[:1, [0, 3, 4]].repeat(3, 0))
