"""Looking inside a generator: a layer's feature maps (1 or 3 channels, normalised, gain) and their spectrum,
decoded like a model; checked against the activations themselves and against planted signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentlab.core.errors import BadInput
from latentlab.core.layer_view import LayerLook, LookSettings, feature_image, spectrum
from latentlab.core.style_edit import StyleSettings, view_of
from tests.stylegan_fixtures import tiny_sg2, tiny_sg3


@pytest.mark.parametrize("make", [tiny_sg2, tiny_sg3])
def test_a_layer_look_shows_that_layers_channels(make):
    g = view_of(make(), StyleSettings())
    layer = g.layers[len(g.layers) // 2]
    look = LayerLook(g, LookSettings(layer.name, channel=1, channels=3, normalise=False))
    z = g.sample_prior(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        img = look.decode(z)
        act = g.activations(g.mapping(z), layer.name)
    assert img.shape == (2, 3, layer.resolution, layer.resolution) == (2, *look.info.image_shape)
    want = (act[:, [1, 2, 3 % act.shape[1]]] * 0.5 + 0.5).clamp(0, 1)
    assert torch.allclose(img, want, atol=1e-6)


def test_normalising_and_gain_scale_the_maps():
    act = torch.randn(1, 4, 8, 8) * 7.0
    shown = feature_image(act, LookSettings("x", channels=1, normalise=True, gain_db=0.0))
    x = (shown[:, :1] - 0.5) * 2  # back from [0, 1]; unclipped where |x| < 1
    inside = x.abs() < 0.99
    assert torch.allclose(x[inside], (act[:, :1] / act[:, :1].square().mean().sqrt())[inside], atol=1e-5)
    louder = feature_image(act * 1e-3, LookSettings("x", channels=1, normalise=False, gain_db=60.0))
    assert torch.allclose(louder, feature_image(act, LookSettings("x", channels=1, normalise=False)), atol=1e-4)


def test_the_spectrum_of_a_planted_wave_peaks_at_its_frequency():
    n, k = 16, 3
    xs = torch.arange(n).float()
    wave = torch.cos(2 * math.pi * k * xs / n)[None, None, None, :].expand(1, 1, n, n)
    img = spectrum(wave, LookSettings("x", channels=1, fft_all=True, fft_range_db=40.0))[0, 0]
    peaks = {tuple(p) for p in torch.nonzero(img >= 0.999).tolist()}
    centre = n // 2
    assert peaks == {(centre, centre + k), (centre, centre - k)}
    assert float(img[0, 0]) == 0.0  # far below the peak: black


def test_bad_look_settings_are_refused():
    g = view_of(tiny_sg2(), StyleSettings())
    name = g.layers[1].name
    for bad in (LookSettings("nope"), LookSettings(name, channels=2), LookSettings(name, channel=10_000),
                LookSettings(name, gain_db=float("nan")), LookSettings(name, fft_range_db=0.0)):
        with pytest.raises(BadInput):
            LayerLook(g, bad)


def test_the_look_follows_the_views_class_and_space():
    g = tiny_sg2(c_dim=3)
    name = g.layers[2].name
    z = np.random.default_rng(0).standard_normal((1, g.z_dim)).astype(np.float32)
    with torch.no_grad():
        a = LayerLook(view_of(g, StyleSettings(class_index=0)), LookSettings(name)).decode(torch.from_numpy(z))
        b = LayerLook(view_of(g, StyleSettings(class_index=2)), LookSettings(name)).decode(torch.from_numpy(z))
    assert float((a - b).abs().max()) > 0


@pytest.mark.parametrize("translate, rotate", [((0.125, 0.0), 0.0), ((0.0, -0.125), 0.0), ((0.0, 0.0), 0.04)])
def test_untransforming_a_moved_stylegan3_brings_the_picture_back(translate, rotate):
    """StyleGAN3 is equivariant by construction, random weights or not: the untransformed output of a moved
    input is much nearer the unmoved picture than the moved output is (the sign conventions are right)."""
    from latentlab.core.layer_view import Untransformed
    from latentlab.core.zoo.stylegan3 import StyleGAN3Generator
    from tests.stylegan_fixtures import seeded

    g = seeded(StyleGAN3Generator.from_config("stylegan3-r" if rotate else "stylegan3-t", 64, channel_base=1024,
                                              channel_max=32, num_layers=6, z_dim=16, w_dim=16), 1)
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(0))
    base = view_of(g, StyleSettings())
    moved = view_of(g, StyleSettings(translate=translate, rotate=rotate))
    with torch.no_grad():
        a, b = base.decode(z), moved.decode(z)
        back = Untransformed(moved, translate, rotate).decode(z)
    crop = (slice(None), slice(None), slice(16, 48), slice(16, 48))  # away from the black border warped in
    assert float((back - a)[crop].abs().mean()) < 0.5 * float((b - a)[crop].abs().mean())
