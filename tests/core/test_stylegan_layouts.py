"""Every style-generator layout: sized from its tensor shapes, saved and reopened without trust, decoding
finite images in [0, 1]; the published networks' sizes; rosinality SWAGAN files; NVIDIA mapping errors."""

from __future__ import annotations

import pytest
import torch

from latentlab.core.checkpoint import CheckpointError, open_checkpoint, save_checkpoint
from latentlab.core.formats import nvidia_sg3
from latentlab.core.zoo import build_network
from latentlab.core.zoo.style_api import style_view
from latentlab.core.zoo.stylegan2 import StyleGAN2Generator
from latentlab.core.zoo.stylegan3 import StyleGAN3Generator
from latentlab.core.zoo.swagan import HaarTransform, InverseHaarTransform, SWAGANGenerator
from tests.stylegan_fixtures import ada_tensors, seeded, tiny_sg2, tiny_sg3, tiny_swagan

LAYOUTS = {
    "stylegan2": lambda: tiny_sg2(),
    "stylegan2-ada-conditional": lambda: tiny_sg2(c_dim=3),
    "stylegan2-1024px": lambda: tiny_sg2(channels=(4,) * 9),
    "swagan": lambda: tiny_swagan(),
    "stylegan3-t-conditional": lambda: tiny_sg3("stylegan3-t", c_dim=2),
    "stylegan3-r": lambda: tiny_sg3("stylegan3-r"),
}


@pytest.mark.parametrize("layout", [pytest.param(k, marks=pytest.mark.slow) if k.endswith("1024px") else k
                                    for k in LAYOUTS])
def test_every_layout_round_trips_through_safetensors_and_decodes_images(layout, tmp_path):
    model = LAYOUTS[layout]()
    for space in ("z", "w+"):
        view = style_view(model, space, truncation=0.8)
        ck = open_checkpoint(save_checkpoint(view, tmp_path / f"{layout}-{space}.safetensors"))
        again = ck.model
        assert ck.format == "safetensors" and type(again) is type(model)
        assert again.hparams == view.hparams and again.info.latent_dim == view.info.latent_dim
        z = view.sample_prior(2, torch.Generator().manual_seed(1))
        with torch.no_grad():
            img = again.decode(z)
            assert torch.equal(img, view.decode(z))
        assert img.shape == (2, *model.info.image_shape) and torch.isfinite(img).all()
        assert 0 <= img.min() and img.max() <= 1 and img.std() > 0


def test_stylegan3_card_keeps_what_shapes_cannot_tell(tmp_path):
    g = seeded(StyleGAN3Generator.from_config("stylegan3-t", 16, channel_base=128, channel_max=8, num_layers=6,
                                              z_dim=8, w_dim=8, margin_size=6, output_scale=0.5, conv_clamp=None))
    again = open_checkpoint(save_checkpoint(g, tmp_path / "g.safetensors")).model
    assert again.hparams["margin_size"] == 6 and again.hparams["conv_clamp"] is None
    assert [x.name for x in again.layers] == [x.name for x in g.layers]
    default = StyleGAN3Generator.from_config("stylegan3-t", 16, channel_base=128, channel_max=8, num_layers=6)
    assert again.layers[1].resolution == default.layers[1].resolution - 8  # a margin of 6 px instead of 10
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(again.decode(z), g.decode(z))


# --- sizes of the published networks ---------------------------------------------------------------------------

def _rosinality_channels(size: int, multiplier: int) -> list[int]:
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier, 256: 64 * multiplier,
             512: 32 * multiplier, 1024: 16 * multiplier}
    return [table[4 * 2 ** i] for i in range(size.bit_length() - 2)]


@pytest.mark.parametrize("size, multiplier", [(512, 1), (512, 2), (1024, 1), (1024, 2)])
def test_stylegan2_512_and_1024_config_e_and_f_are_sized_from_their_shapes(size, multiplier):
    """config-e / config-f are rosinality's channel_multiplier 1 / 2 (NVIDIA's fmap_base 8192 / 16384)."""
    channels = _rosinality_channels(size, multiplier)
    with torch.device("meta"):
        g = StyleGAN2Generator(channels=channels, mapping=[512] * 9)
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    hp = StyleGAN2Generator.hparams_from_shapes(shapes)
    assert hp["channels"] == channels and hp["mapping"] == [512] * 9 and hp["c_dim"] == 0
    last = 2 * (len(channels) - 2)  # the up-sampling conv of the last block
    assert shapes[f"convs.{last}.conv.weight"] == (1, 16 * multiplier * 1024 // size, 32 * multiplier * 1024 // size, 3, 3)
    assert shapes[f"to_rgbs.{len(channels) - 2}.conv.weight"] == (1, 3, 16 * multiplier * 1024 // size, 1, 1)
    assert shapes[f"noises.noise_{g.num_layers - 1}"] == (1, 1, size, size)
    assert g.size == size and g.num_ws == {512: 16, 1024: 18}[size]
    # Parameter counts of NVIDIA's StyleGAN2-ADA Generator of the same size (channel_base 32768 / 16384),
    # counted once from its code: the two layouts hold the same parameters.
    ada = {(1024, 2): 30_370_060, (512, 1): 24_860_935}
    if (size, multiplier) in ada:
        assert sum(p.numel() for p in g.parameters()) == ada[size, multiplier]


def test_stylegan3_1024_configs_have_the_published_layers():
    """Layer names, parameter and buffer counts of NVIDIA's stylegan3-t/-r-ffhqu-1024x1024 networks."""
    with torch.device("meta"):
        t = StyleGAN3Generator.from_config("stylegan3-t", 1024)
        r = StyleGAN3Generator.from_config("stylegan3-r", 1024)
    assert [x.name for x in t.layers[1:]] == [
        "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512", "L7_276_323",
        "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    assert [x.name for x in r.layers[1:]] == [
        "L0_36_1024", "L1_36_1024", "L2_52_1024", "L3_52_1024", "L4_84_1024", "L5_148_1024", "L6_148_1024",
        "L7_276_645", "L8_276_406", "L9_532_256", "L10_1044_161", "L11_1044_102", "L12_1044_64", "L13_1024_64",
        "L14_1024_3"]
    assert sum(p.numel() for p in r.parameters()) == 15_093_151
    net = r.synthesis_network
    assert [sum(b.numel() for b in getattr(net, n).buffers()) for n in net.layer_names] == [
        157, 157, 169, 157, 169, 169, 157, 169, 157, 169, 169, 157, 25, 25, 1]  # ema + up + (radial) down filters
    assert r.num_ws == t.num_ws == 16
    shapes = {k: tuple(v.shape) for k, v in r.state_dict().items()}
    assert StyleGAN3Generator.hparams_from_shapes(shapes) == dict(
        channels=[x.channels for x in r.layers[1:]], img_resolution=1024, z_dim=512, w_dim=512, c_dim=0,
        mapping_layers=2, conv_kernel=1, use_radial_filters=True)


# --- rosinality SWAGAN files ---------------------------------------------------------------------------------

def test_rosinality_swagan_checkpoint_opens_as_swagan(tmp_path):
    g = tiny_swagan(seed=5)
    sd = {k: v for k, v in g.state_dict().items() if k != "latent_avg"}
    path = tmp_path / "swagan-100000.pt"
    torch.save({"g_ema": sd, "latent_avg": g.latent_avg.clone()}, path)
    ck = open_checkpoint(path)
    assert ck.format == "plugin:rosinality-stylegan2" and isinstance(ck.model, SWAGANGenerator)
    assert ck.card["source"]["network"] == "swagan.py" and ck.model.info.image_shape == (3, 32, 32)
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(ck.model.decode(z), g.decode(z))
    assert open_checkpoint(path, arch="swagan-w").model.latent_space == "w"


def test_haar_transforms_invert_each_other():
    x = torch.randn(2, 3, 8, 8)
    bands = HaarTransform()(x)
    assert bands.shape == (2, 12, 4, 4)
    assert torch.allclose(InverseHaarTransform()(bands), x, atol=1e-6)


# --- NVIDIA mappings: what they refuse, and why --------------------------------------------------------------------

def _sg3_parts(model: StyleGAN3Generator) -> tuple[dict, dict]:
    tensors = dict(model.state_dict())
    attrs = {"": ("Generator", {"z_dim": model.z_dim, "c_dim": model.c_dim, "w_dim": model.w_dim,
                                "img_resolution": model.size, "img_channels": 3})}
    return tensors, attrs


def test_stylegan3_mapping_refuses_what_it_cannot_reproduce(tmp_path):
    g = tiny_sg3()
    tensors, attrs = _sg3_parts(g)
    path = tmp_path / "x.pkl"
    with pytest.raises(CheckpointError, match="c_dim = 4"):
        nvidia_sg3.ada_to_stylegan3(path, tensors, {"": ("Generator", {**attrs[""][1], "c_dim": 4})})
    geo = g.geometry[1][2]
    bad = {**attrs, f"synthesis.{geo.name}": ("SynthesisLayer", {"out_cutoff": geo.out_cutoff, "padding": [0, 0, 0, 0]})}
    with pytest.raises(CheckpointError, match=f"{geo.name}: padding"):
        nvidia_sg3.ada_to_stylegan3(path, tensors, bad)
    with pytest.raises(CheckpointError, match="not a StyleGAN3"):
        nvidia_sg3.ada_to_stylegan3(path, ada_tensors(tiny_sg2()), {})
    no_input = {k: v for k, v in tensors.items() if not k.startswith("synthesis.input.weight")}
    with pytest.raises(CheckpointError, match="synthesis.input.weight"):
        nvidia_sg3.ada_to_stylegan3(path, no_input, attrs)


def test_stylegan3_mapping_designs_missing_filters_and_notes_unread_attributes(tmp_path):
    g = tiny_sg3("stylegan3-r")
    tensors, attrs = _sg3_parts(g)
    state, options, notes = nvidia_sg3.ada_to_stylegan3(
        tmp_path / "x.pkl", {k: v for k, v in tensors.items() if not k.endswith("_filter")}, attrs)
    assert any("designed" in n for n in notes) and any("not readable" in n for n in notes)
    assert any("StyleGAN3-R" in n for n in notes) and state[f"synthesis.{g.layers[1].name}.down_filter"].ndim == 2
    model = build_network("stylegan3", **StyleGAN3Generator.hparams_from_shapes(
        {k: tuple(v.shape) for k, v in state.items()}), **options)
    model.load_state_dict(state)
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(model.eval().decode(z), g.decode(z))


def test_conditional_ada_mapping_and_the_dispatcher(tmp_path):
    path = tmp_path / "x.pkl"
    cond, plain = tiny_sg2(c_dim=3, seed=1), tiny_sg2(seed=2)
    mapped = nvidia_sg3.map_generator(path, ada_tensors(cond), {"": ("Generator", {"c_dim": 3})})
    assert mapped.network == "stylegan2" and mapped.state["embed.weight"].shape == (8, 3)
    assert any("3 classes" in n for n in mapped.notes)
    unmapped = nvidia_sg3.map_generator(path, ada_tensors(plain), {"": ("Generator", {"c_dim": 0})})
    assert "embed.weight" not in unmapped.state and "convs.0.conv.blur.kernel" in unmapped.state
    for m, ref in ((mapped, cond), (unmapped, plain)):
        model = build_network("stylegan2", **StyleGAN2Generator.hparams_from_shapes(
            {k: tuple(v.shape) for k, v in m.state.items()}), **m.options)
        model.load_state_dict(m.state)
        z = torch.randn(2, 8)
        with torch.no_grad():
            assert torch.allclose(model.eval().decode(z), ref.decode(z), atol=1e-6)
    with pytest.raises(CheckpointError, match="c_dim = 4"):
        nvidia_sg3.ada_conditional_to_stylegan2(path, ada_tensors(cond), {"": ("Generator", {"c_dim": 4})})
    label_only = dict(ada_tensors(cond))
    label_only["mapping.fc0.weight"] = label_only["mapping.fc0.weight"][:, :8]
    with pytest.raises(CheckpointError, match="z_dim = 0"):
        nvidia_sg3.ada_conditional_to_stylegan2(path, label_only, {})
    assert nvidia_sg3.is_stylegan3(*_sg3_parts(tiny_sg3())) and not nvidia_sg3.is_stylegan3(ada_tensors(plain), {})
