"""StyleSpace S: the view decodes exactly what the ws do, its sliders' scale is the channels' spread, single
channels move the image, the channel ranking agrees with finite differences, and latents go in and come back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.errors import BadInput
from latentlab.core.model import prior_std
from latentlab.core.style_edit import StyleSettings, convert_latent, slider_groups, view_of, ws_of
from latentlab.core.style_space import StyleSpaceView, channel_effects
from tests.stylegan_fixtures import tiny_sg2, tiny_sg3


def mapped_sg2():
    """tiny_sg2 with its mapping initialised as StyleGAN2 does (N(0, 1) / lr_mul), so w depends on z."""
    from latentlab.core.zoo.stylegan2_layers import EqualLinear

    g = tiny_sg2()
    torch.manual_seed(0)
    with torch.no_grad():
        for m in g.style.modules():
            if isinstance(m, EqualLinear):
                m.weight.normal_(0.0, 1.0 / m.lr_mul)
    return g


def decode(view, latent) -> np.ndarray:
    with torch.no_grad():
        return view.decode(torch.as_tensor(np.asarray(latent, np.float32)[None]))[0].numpy()


@pytest.mark.parametrize("make", [tiny_sg2, tiny_sg3])
def test_z_to_s_keeps_the_picture(make):
    g = make()
    z_view = view_of(g, StyleSettings(space="z", psi=0.8))
    s_view = view_of(g, StyleSettings(space="s", psi=0.8))
    assert isinstance(s_view, StyleSpaceView) and s_view.latent_space == "s"
    z = np.random.default_rng(0).standard_normal(g.z_dim).astype(np.float32)
    s, note = convert_latent(z_view, s_view, z)
    assert note is None and s.shape == (s_view.info.latent_dim,)
    assert s_view.info.latent_dim == sum(layer.style_dim for layer in g.layers)
    assert np.abs(decode(s_view, s) - decode(z_view, z)).max() < 1e-5


def test_the_groups_cover_s_layer_by_layer_and_name_the_sliders():
    g = tiny_sg2()
    s_view = view_of(g, StyleSettings(space="s"))
    groups = slider_groups(s_view)
    assert groups[0][1] == 0 and groups[-1][2] == s_view.info.latent_dim
    assert all(a[2] == b[1] for a, b in zip(groups, groups[1:], strict=False))
    name, start, _ = groups[1]
    assert s_view.info.dim_label(start + 2) == f"{name}·s2"
    assert slider_groups(view_of(g, StyleSettings(space="w+")))[1] == ("L1", g.w_dim, 2 * g.w_dim)
    assert slider_groups(view_of(g, StyleSettings(space="z"))) is None


def test_the_slider_scale_is_each_channels_spread():
    g = mapped_sg2()
    s_view = view_of(g, StyleSettings(space="s"))
    samples = s_view.sample_prior(1000, torch.Generator().manual_seed(0))
    std = prior_std(s_view)
    assert std.shape == (s_view.info.latent_dim,)
    assert torch.allclose(std, samples.std(0).clamp_min(1e-6), rtol=1e-4)
    assert float(std.max() / std.min()) > 1.5  # not all ones: channels differ in spread


def test_one_channel_moves_the_image_and_the_ranking_agrees_with_finite_differences():
    g = mapped_sg2()
    s_view = view_of(g, StyleSettings(space="s"))
    s = s_view.sample_prior(1, torch.Generator().manual_seed(1))[0].numpy()
    name, a, b = s_view.groups[1]
    moved = s.copy()
    moved[a + 1] += 3 * float(s_view.latent_std[a + 1])
    assert np.abs(decode(s_view, moved) - decode(s_view, s)).max() > 1e-3
    scores = channel_effects(s_view, s, name, probes=64)
    assert scores.shape == (b - a,) and (scores >= 0).all()
    # Finite differences agree with the estimate on which channel matters most.
    diffs = []
    for c in range(b - a):
        x = s.copy()
        x[a + c] += 1e-2 * float(s_view.latent_std[a + c])
        diffs.append(np.linalg.norm(decode(s_view, x) - decode(s_view, s)))
    assert int(np.argmax(scores)) == int(np.argmax(diffs))
    with pytest.raises(BadInput, match="no style channels"):
        channel_effects(s_view, s, "nope")


def test_leaving_s_goes_back_to_the_latent_left_and_s_has_no_ws():
    g = tiny_sg2()
    p_view, s_view = view_of(g, StyleSettings(space="w+")), view_of(g, StyleSettings(space="s"))
    wp = p_view.sample_prior(1, torch.Generator().manual_seed(2))[0].numpy()
    s, _ = convert_latent(p_view, s_view, wp)
    back, note = convert_latent(s_view, p_view, s, last={"w+": wp})
    assert np.array_equal(back, wp) and "no way back" in note
    fresh, note = convert_latent(s_view, p_view, s)
    assert np.allclose(fresh, g.latent_avg.numpy().repeat(1)[None].repeat(g.num_ws, 0).reshape(-1))
    with pytest.raises(BadInput, match="no ws"):
        ws_of(s_view, s)
