"""Seeded random-weight style generators for the reference-pixel tests, made by our own code only.

The weights are drawn name by name (sorted) from one seeded torch.Generator over the shapes of our own
networks, so they do not depend on how any constructor initialises; filters, kernels and Haar buffers are
the designed ones. ``tests/fixtures/record_stylegan_reference.py`` loaded exactly these weights into the
reference implementations (NVlabs/stylegan3, NVlabs/stylegan2-ada-pytorch, rosinality swagan.py) and
recorded their images in ``tests/fixtures/stylegan_reference.npz``; the tests rebuild the weights here
from the same seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from latentlab.core.zoo import stylegan3_ops as ops
from latentlab.core.zoo.stylegan2 import StyleGAN2Generator
from latentlab.core.zoo.stylegan3 import StyleGAN3Generator
from latentlab.core.zoo.swagan import SWAGANGenerator

FIXTURE = Path(__file__).parent / "fixtures" / "stylegan_reference.npz"
STRIDE = {"stylegan3-t": 4, "stylegan3-r": 4, "ada-conditional": 2, "swagan": 1}  # pixels kept: a 16x16 grid

CASES: dict[str, dict[str, Any]] = {
    "stylegan3-t": dict(seed=31, network="stylegan3", hparams=dict(
        channels=ops.reference_channels(64, 3, 512, 16), img_resolution=64, z_dim=16, w_dim=16, c_dim=4,
        conv_kernel=3, use_radial_filters=False, conv_clamp=1.5)),  # a clamp that bites
    "stylegan3-r": dict(seed=32, network="stylegan3", hparams=dict(
        channels=ops.reference_channels(64, 3, 1024, 16), img_resolution=64, z_dim=16, w_dim=16, c_dim=0,
        conv_kernel=1, use_radial_filters=True, conv_clamp=256.0)),
    "ada-conditional": dict(seed=33, network="stylegan2", hparams=dict(
        channels=[16, 16, 16, 8], mapping=[16, 16, 16, 16], c_dim=5, embed_dim=12, conv_clamp=1.0)),
    "swagan": dict(seed=34, network="swagan", hparams=dict(channels=[512, 512], mapping=[32, 32, 32])),
}
# What each case renders: (z seed, class index or None, truncation psi, truncation cutoff, input transform).
RENDERS: dict[str, list[tuple[int, int | None, float, int | None, tuple[float, float, float] | None]]] = {
    "stylegan3-t": [(1, 1, 1.0, None, None), (2, 3, 0.6, 5, None), (3, 2, 1.0, None, (0.13, -0.07, 0.05))],
    "stylegan3-r": [(1, None, 1.0, None, None), (2, None, 0.6, 5, (0.1, 0.2, -0.11))],
    "ada-conditional": [(1, 4, 1.0, None, None), (2, 0, 0.6, 3, None)],
    "swagan": [(1, None, 1.0, None, None)],
}


def _value(key: str, x: Tensor) -> Tensor:
    """A random value of the kind the tensor ``key`` holds (positive magnitudes, unit-ish scales)."""
    if key.endswith("magnitude_ema"):
        return 0.5 + x.abs()
    if key == "synthesis.input.freqs":
        return x * 0.7
    if key == "synthesis.input.phases":
        return x * 0.3
    if key == "synthesis.input.affine.bias":
        return torch.tensor([1.0, 0.0, 0.0, 0.0]) + 0.2 * x
    if key.endswith("affine.bias") or key.endswith("modulation.bias"):
        return 1.0 + 0.2 * x
    if key in ("mapping.w_avg", "latent_avg"):
        return 0.5 * x
    if key.endswith("bias") or key.endswith("noise.weight"):
        return 0.3 * x
    return x


def _designed(key: str) -> bool:
    return key.endswith(("_filter", ".kernel", "input.transform")) or any(
        key.endswith(f".{b}") for b in ("ll", "lh", "hl", "hh"))


def seeded_state(model: torch.nn.Module, seed: int) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, t in sorted(model.state_dict().items()):
        out[key] = t.clone() if _designed(key) else _value(key, torch.randn(t.shape, generator=g))
    return out


def seeded_network(case: str) -> Any:
    """Our network of ``case`` holding that case's seeded weights."""
    spec = CASES[case]
    cls = {"stylegan3": StyleGAN3Generator, "stylegan2": StyleGAN2Generator, "swagan": SWAGANGenerator}[spec["network"]]
    model = cls(**spec["hparams"]).eval()
    model.load_state_dict(seeded_state(model, spec["seed"]))
    return model


def render_inputs(model: Any, case: str) -> list[dict[str, Any]]:
    """The z, class and truncation of each recorded image."""
    out = []
    for z_seed, cls, psi, cutoff, transform in RENDERS[case]:
        z = torch.randn(1, model.z_dim, generator=torch.Generator().manual_seed(z_seed))
        out.append(dict(z=z, c=None if cls is None else torch.nn.functional.one_hot(torch.tensor([cls]),
                                                                                    model.c_dim).float(),
                        psi=psi, cutoff=cutoff, transform=transform))
    return out


def ours_render(model: Any, case: str) -> np.ndarray:
    """Our images of ``case`` at the fixture's pixels, (N, C, 16, 16) float32."""
    images = []
    with torch.no_grad():
        for r in render_inputs(model, case):
            if r["transform"] is not None:
                tx, ty, rot = r["transform"]
                model.set_input_transform((tx, ty), rot)
            ws = model.mapping(r["z"], r["c"], r["psi"], r["cutoff"])
            images.append(model.synthesis(ws))
            if r["transform"] is not None:
                model.set_input_transform()
    s = STRIDE[case]
    return torch.cat(images)[:, :, ::s, ::s].numpy().astype(np.float32)


# --- NVIDIA's StyleGAN2-ADA names for our StyleGAN2 weights (the inverse of nvidia.ada_to_stylegan2) -------

def ada_tensors(model: StyleGAN2Generator) -> dict[str, Tensor]:
    sd = model.state_dict()
    out: dict[str, Tensor] = {}
    i = 0
    while f"style.{i + 1}.weight" in sd:
        out[f"mapping.fc{i}.weight"], out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"]
        i += 1
    if "embed.weight" in sd:
        out["mapping.embed.weight"], out["mapping.embed.bias"] = sd["embed.weight"], sd["embed.bias"]
    out["mapping.w_avg"] = sd["latent_avg"]
    out["synthesis.b4.const"] = sd["input.input"][0]
    f = sd["convs.0.conv.blur.kernel"] / 4  # NVIDIA stores the normalised [1, 3, 3, 1] filter

    def layer(src: str, dst: str, noise: int) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"], out[f"{dst}.affine.bias"] = (sd[f"{src}.conv.modulation.weight"],
                                                                  sd[f"{src}.conv.modulation.bias"])
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape(())
        out[f"{dst}.noise_const"] = sd[f"noises.noise_{noise}"][0, 0]
        out[f"{dst}.resample_filter"] = f

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"], out[f"{dst}.affine.bias"] = (sd[f"{src}.conv.modulation.weight"],
                                                                  sd[f"{src}.conv.modulation.bias"])
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)

    layer("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb")
    out["synthesis.b4.resample_filter"] = f
    for k in range(len(model.to_rgbs)):
        r = 8 * 2 ** k
        layer(f"convs.{2 * k}", f"synthesis.b{r}.conv0", 2 * k + 1)
        layer(f"convs.{2 * k + 1}", f"synthesis.b{r}.conv1", 2 * k + 2)
        torgb(f"to_rgbs.{k}", f"synthesis.b{r}.torgb")
        out[f"synthesis.b{r}.resample_filter"] = f
    return {k: v.clone() for k, v in out.items()}


def reference_tensors(case: str, model: Any) -> dict[str, Tensor]:
    """The seeded weights under the reference implementation's names."""
    if case == "ada-conditional":
        return ada_tensors(model)
    return {k: v.clone() for k, v in model.state_dict().items() if k != "latent_avg" or case != "swagan"}


# --- the recorded module attributes, back in flatten_module's form ------------------------------------------

def attrs_from_json(text: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {k: (v[0], v[1]) for k, v in json.loads(text).items()}


def attrs_to_json(attrs: dict[str, tuple[str, dict[str, Any]]]) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v if isinstance(v, (str, int, float, bool)) or v is None else None

    return json.dumps({k: [cls, {a: plain(v) for a, v in d.items() if not a.startswith("_")
                                 and (plain(v) is not None or v is None)}] for k, (cls, d) in attrs.items()},
                      sort_keys=True)


# --- tiny networks for behaviour tests (seeded the same way) ---------------------------------------------------

def seeded(model: Any, seed: int = 0) -> Any:
    model.load_state_dict(seeded_state(model, seed))
    return model.eval()


def tiny_sg3(config: str = "stylegan3-t", c_dim: int = 0, seed: int = 0) -> StyleGAN3Generator:
    """16 px, 6 layers, 8 channels: about 4,000 parameters."""
    return seeded(StyleGAN3Generator.from_config(config, 16, channel_base=128, channel_max=8, num_layers=6, z_dim=8,
                                                 w_dim=8, c_dim=c_dim), seed)


def tiny_sg2(c_dim: int = 0, seed: int = 0, channels=(8, 8, 4)) -> StyleGAN2Generator:
    return seeded(StyleGAN2Generator(channels=list(channels), mapping=[8, 8, 8], c_dim=c_dim), seed)


def tiny_swagan(seed: int = 0) -> SWAGANGenerator:
    return seeded(SWAGANGenerator(channels=[8, 8, 4], mapping=[8, 8, 8]), seed)
