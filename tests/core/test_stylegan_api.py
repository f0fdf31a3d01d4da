"""The network-level API every style generator shares (latentlab/core/zoo/style_api.py): mapping with classes
and truncation, noise, StyleSpace, captured activations, drafts, latent spaces and views."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from latentlab.core.errors import BadInput
from latentlab.core.zoo.style_api import StyleGenerator, style_view, to_unit
from latentlab.core.zoo.stylegan2 import Upsample
from tests.stylegan_fixtures import tiny_sg2, tiny_sg3, tiny_swagan


def _z(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


GENERATORS = {"stylegan2": lambda: tiny_sg2(), "swagan": lambda: tiny_swagan(), "stylegan3-t": lambda: tiny_sg3(),
              "stylegan3-r": lambda: tiny_sg3("stylegan3-r")}


@pytest.fixture(params=list(GENERATORS))
def gen(request):
    return GENERATORS[request.param]()


# --- mapping ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: tiny_sg2(c_dim=5), lambda: tiny_sg3(c_dim=5)], ids=["sg2-ada", "sg3"])
def test_class_labels_in_every_form_and_class_interpolation(make):
    g = make()
    assert isinstance(g, StyleGenerator) and g.c_dim == 5
    assert g.num_ws == 1 + max(x.ws_index for x in g.layers if x.ws_index is not None)
    z = _z(2, g.z_dim)
    with torch.no_grad():
        by_index = g.mapping(z, torch.tensor([0, 3]))
        assert by_index.shape == (2, g.num_ws, g.w_dim)
        assert torch.equal(by_index, g.mapping(z, F.one_hot(torch.tensor([0, 3]), 5).float()))
        assert torch.equal(g.mapping(z, 3), g.mapping(z, torch.tensor([3, 3])))
        assert torch.equal(g.mapping(z), g.mapping(z, 0))  # None: the model's class (class 0 by default)
        assert not torch.allclose(by_index[0], g.mapping(z, 3)[0])  # the class changes w
        blend = 0.5 * (g.one_hot(1) + g.one_hot(2))
        mid = g.mapping(z, blend)
        assert not torch.allclose(mid, g.mapping(z, 1)) and not torch.allclose(mid, g.mapping(z, 2))
        view = style_view(g, "z", c=4)
        assert torch.equal(view.decode(z), to_unit(g.synthesis(g.mapping(z, 4))))
    for bad in (torch.zeros(2, 4), torch.tensor([0, 5]), 7):
        with pytest.raises(BadInput):
            g.mapping(z, bad)


def test_unconditional_generators_refuse_a_class(gen):
    assert gen.c_dim == 0 and gen.class_vector is None
    with pytest.raises(BadInput, match="not class-conditional"):
        gen.mapping(_z(1, gen.z_dim), 1)


def test_truncation_with_a_layer_cutoff_pulls_only_the_first_layers(gen):
    z = _z(3, gen.z_dim)
    with torch.no_grad():
        ws = gen.mapping(z)
        cut = gen.mapping(z, truncation_psi=0.5, truncation_cutoff=3)
        avg = gen.w_avg
        assert torch.allclose(cut[:, :3], avg + 0.5 * (ws[:, :3] - avg)) and torch.equal(cut[:, 3:], ws[:, 3:])
        assert torch.allclose(gen.mapping(z, truncation_psi=0.0)[:, :], avg.expand_as(ws))
        assert torch.equal(ws[:, 0], ws[:, -1])  # one w broadcast to every layer before truncation


# --- synthesis: noise ------------------------------------------------------------------------------------------

def test_stylegan2_noise_modes_and_per_layer_strengths():
    g = tiny_sg2(seed=3)
    ws = g.mapping(_z(2, 8))
    with torch.no_grad():
        const = g.synthesis(ws)
        assert torch.equal(const, g.synthesize(ws)) and torch.equal(const, g.synthesis(ws, noise_mode="const"))
        off = g.synthesis(ws, noise_mode="none")
        assert not torch.allclose(off, const) and torch.equal(off, g.synthesis(ws, noise_strength=0.0))
        r1 = g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(1))
        assert torch.equal(r1, g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(1)))
        assert not torch.allclose(r1, g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(2)))
        # A per-layer multiplier is that layer's learned strength scaled, and nothing else.
        quiet = copy.deepcopy(g)
        quiet.convs[0].noise.weight.mul_(0.25)
        assert torch.allclose(g.synthesis(ws, noise_strength={"b8.conv0": 0.25}), quiet.synthesis(ws), atol=1e-6)
    assert g.noise_layers == tuple(x.name for x in g.layers if x.kind == "conv")
    with pytest.raises(BadInput, match="b8.torgb"):
        g.synthesis(ws, noise_strength={"b8.torgb": 0.5})
    with pytest.raises(BadInput, match="noise_mode"):
        g.synthesis(ws, noise_mode="fresh")


def test_stylegan3_has_no_noise_inputs_and_says_so():
    g = tiny_sg3()
    ws = g.mapping(_z(1, 8))
    with torch.no_grad():
        assert torch.equal(g.synthesis(ws, noise_mode="random", noise_strength=0.5), g.synthesis(ws))
    with pytest.raises(BadInput, match="no noise inputs"):
        g.synthesis(ws, noise_strength={"L0_36_8": 0.0})


# --- StyleSpace and layers --------------------------------------------------------------------------------------

def test_stylespace_reproduces_the_image_and_an_edited_channel_moves_it(gen):
    ws = gen.mapping(_z(2, gen.z_dim, seed=4))
    with torch.no_grad():
        full = gen.synthesis(ws)
        styles = gen.style_vectors(ws)
        assert list(styles) == [x.name for x in gen.layers if x.style_dim > 0]
        for layer in gen.layers:
            if layer.style_dim:
                assert styles[layer.name].shape == (2, layer.style_dim)
        assert torch.equal(gen.synthesis(None, styles=styles), full)
        name = [x.name for x in gen.layers if x.kind == "conv"][1]
        edited = styles[name].clone()
        edited[:, 0] += 3.0
        moved = gen.synthesis(ws, styles={name: edited})
        assert not torch.allclose(moved, full)
    with pytest.raises(BadInput, match="must be"):
        gen.synthesis(ws, styles={name: edited[:, 1:]})
    with pytest.raises(BadInput, match="no ws"):
        gen.synthesis(None, styles={name: edited})


def test_every_layer_can_be_captured_and_its_activations_fit_the_layer_table(gen):
    ws = gen.mapping(_z(2, gen.z_dim))
    with torch.no_grad():
        full = gen.synthesis(ws)
        for layer in gen.layers:
            act = gen.activations(ws, layer.name)
            assert act.shape == (2, layer.channels, layer.resolution, layer.resolution), layer
            img, captured = gen.synthesis(ws, capture=layer.name)
            assert torch.equal(img, full) and torch.equal(captured, act)
    with pytest.raises(BadInput, match="no synthesis layer"):
        gen.activations(ws, "b9.conv7")


# --- drafts -----------------------------------------------------------------------------------------------------

def test_stylegan2_draft_is_the_running_skip_sum_and_costs_less():
    g = tiny_sg2()
    ws = g.mapping(_z(2, 8))
    with torch.no_grad():
        assert g.draft_resolutions == (4, 8, 16)
        d4, d8 = g.synthesis(ws, stop_at_resolution=4), g.synthesis(ws, stop_at_resolution=8)
        assert d4.shape == (2, 3, 4, 4) and d8.shape == (2, 3, 8, 8)
        up = Upsample([1, 3, 3, 1])
        assert torch.allclose(d8, g.activations(ws, "b8.torgb") + up(d4), atol=1e-6)
        assert torch.equal(g.synthesis(ws, stop_at_resolution=16), g.synthesis(ws))
        img, act = g.synthesis(ws, stop_at_resolution=8, capture="b8.conv1")
        assert torch.equal(img, d8) and act.shape == (2, 8, 8, 8)
    costs = [g.draft_cost(r) for r in g.draft_resolutions]
    assert costs == sorted(costs) and 0 < costs[0] < costs[1] < 1 and costs[-1] == 1.0
    with pytest.raises(BadInput, match="no draft"):
        g.synthesis(ws, stop_at_resolution=12)
    with pytest.raises(BadInput, match="after the draft"):
        g.synthesis(ws, stop_at_resolution=4, capture="b16.conv0")


def test_swagan_drafts_are_images_and_stylegan3_has_none():
    g = tiny_swagan()
    ws = g.mapping(_z(1, 8))
    with torch.no_grad():
        assert g.draft_resolutions == (8, 16, 32)
        for r in g.draft_resolutions:
            assert g.synthesis(ws, stop_at_resolution=r).shape == (1, 3, r, r)
        assert torch.equal(g.synthesis(ws, stop_at_resolution=32), g.synthesis(ws))
    s3 = tiny_sg3()
    assert s3.draft_resolutions == ()
    with pytest.raises(BadInput, match="no draft"):
        s3.synthesis(s3.mapping(_z(1, 8)), stop_at_resolution=8)


# --- latent spaces and views ------------------------------------------------------------------------------------

def test_z_w_and_w_plus_views_decode_the_same_images(gen):
    z = _z(2, gen.z_dim)
    with torch.no_grad():
        ws = gen.mapping(z)
        ref = gen.decode(z)
        w_view, wp_view = style_view(gen, "w"), style_view(gen, "w+")
        assert wp_view.info.latent_dim == gen.num_ws * gen.w_dim and w_view.info.latent_dim == gen.w_dim
        assert torch.allclose(w_view.decode(ws[:, 0]), ref, atol=1e-6)
        assert torch.allclose(wp_view.decode(ws.reshape(2, -1)), ref, atol=1e-6)
        assert torch.equal(wp_view.latent_mean, gen.w_avg.repeat(gen.num_ws))
        assert wp_view.sample_prior(3, torch.Generator().manual_seed(0)).shape == (3, gen.num_ws * gen.w_dim)
        cut = style_view(gen, "z", truncation=0.4, truncation_cutoff=2)
        assert torch.equal(cut.decode(z), to_unit(gen.synthesis(gen.mapping(z, None, 0.4, 2))))
        assert cut.hparams["truncation_cutoff"] == 2 and gen.truncation_cutoff is None
    assert gen.latent_space == "z"  # views never change the model they came from
    with pytest.raises(ValueError, match="truncation_cutoff"):
        style_view(gen, truncation_cutoff=gen.num_ws + 1)


def test_stylegan2_view_with_seeded_random_noise_decodes_reproducibly():
    g = tiny_sg2(seed=2)
    z = _z(1, 8)
    with torch.no_grad():
        a, b = style_view(g, "z", noise_mode="random", noise_seed=5), style_view(g, "z", noise_mode="random", noise_seed=6)
        assert torch.equal(a.decode(z), a.decode(z)) and not torch.allclose(a.decode(z), b.decode(z))
        assert not a.traceable and g.traceable
        off = style_view(g, "z", noise_strength={"b4.conv1": 0.0})
        assert torch.equal(off.decode(z), to_unit(g.synthesis(g.mapping(z), noise_strength={"b4.conv1": 0.0})))


def test_stylegan3_input_transform_moves_the_features_of_a_view_only():
    g = tiny_sg3()
    z = _z(1, 8)
    with torch.no_grad():
        base = g.decode(z)
        moved = style_view(g, input_transform=(0.25, 0.0, 0.0))
        turned = style_view(g, input_transform=(0.0, 0.0, 0.125))
        assert not torch.allclose(moved.decode(z), base) and not torch.allclose(turned.decode(z), base)
        assert torch.equal(g.decode(z), base) and g.input_transform is None
        assert torch.equal(style_view(moved, input_transform=None).decode(z), base)
        # a whole-pixel shift of the Fourier features shifts the input features by that many pixels
        shift = style_view(g, input_transform=(2 / g.synthesis_network.input.sampling_rate, 0.0, 0.0))
        a = g.activations(g.mapping(z), "input")
        b = shift.activations(g.mapping(z), "input")
        assert torch.allclose(b[..., :, 2:], a[..., :, :-2], atol=1e-4) or torch.allclose(
            b[..., :, :-2], a[..., :, 2:], atol=1e-4)
    with pytest.raises(BadInput, match="only StyleGAN3"):
        style_view(tiny_sg2(), input_transform=(0.1, 0.0, 0.0))
