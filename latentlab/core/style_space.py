"""StyleSpace S (Wu, Lischinski, Shechtman, CVPR 2021): a style generator edited through its style channels.

Every modulated synthesis layer turns its w into a style vector with a learned affine map; the concatenation of
all of them is S. Single channels of S are the most disentangled handles StyleGAN has (one channel can open a
mouth or change hair colour while nothing else moves). ``StyleSpaceView`` is a generator view whose latent
lives in S: its ``decode`` runs the synthesis with those styles (no ws), its prior is the styles of mapped prior
samples, and its per-channel scale (``latent_std``) is measured on them, so a slider's ±3 units span what the
channel takes. ``groups`` (one per layer) let the sliders show one layer's channels at a time.

``channel_effects`` answers "which channels of this layer move the image most, here": the norm of each channel's
column of the decoder's Jacobian at the current latent, times the channel's scale, estimated with random
image-space probes (E[(vᵀJ)_c²] = ‖J_c‖² for v ~ N(0, I)) in a few backward passes instead of one per channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo
from latentlab.core.zoo.style_api import decode_options, latent_to_ws, to_unit

SCALE_SAMPLES = 1000  # mapped prior samples the channels' scale is measured on (mapping + affines only: cheap)


class StyleSpaceView(nn.Module):
    """A generator view whose latent is the concatenated style vectors of its layers (see the module docstring)."""

    latent_space = "s"
    z_dim: int
    w_dim: int
    c_dim: int
    num_ws: int
    latent_std: Tensor  # a buffer: moves with the model

    def __init__(self, base: Any, scale_samples: int = SCALE_SAMPLES):
        super().__init__()
        if base.latent_space != "w+":
            raise ValueError("a StyleSpace view is made from the generator's W+ view (its class and noise)")
        self.base = base
        for name in ("z_dim", "w_dim", "c_dim", "num_ws", "layers", "noise_layers", "truncation",
                     "truncation_cutoff", "noise_mode", "noise_strength", "noise_seed"):
            setattr(self, name, getattr(base, name, None))
        self.groups: list[tuple[str, int, int]] = []  # (layer name, first, end) of each layer's channels
        start = 0
        for layer in base.layers:
            if layer.style_dim > 0:
                self.groups.append((layer.name, start, start + layer.style_dim))
                start += layer.style_dim
        names = tuple(f"{name}·s{c}" for name, a, b in self.groups for c in range(b - a))
        info = base.info
        self.info = ModelInfo(info.name.removesuffix(" (w+)") + " (S)", start, info.image_shape, names, info.prior,
                              info.dataset, info.factor_names)
        self.register_buffer("latent_std", self._measure_scale(scale_samples), persistent=False)

    # --- between ws and S ------------------------------------------------------------------------------------------
    def styles_of_ws(self, ws: Tensor) -> Tensor:
        """(B, num_ws, w_dim) -> (B, D) concatenated style vectors in ``groups`` order."""
        styles = self.base.style_vectors(ws)
        return torch.cat([styles[name] for name, _, _ in self.groups], dim=1)

    def split(self, s: Tensor) -> dict[str, Tensor]:
        return {name: s[:, a:b] for name, a, b in self.groups}

    def _measure_scale(self, n: int) -> Tensor:
        with torch.no_grad():
            s = self.sample_prior(n, torch.Generator().manual_seed(0))
        return s.std(dim=0).clamp_min(1e-6).cpu()

    # --- the model contract --------------------------------------------------------------------------------------------
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = next(self.base.parameters()).device
        z = torch.randn(n, self.z_dim, generator=generator).to(device)
        with torch.no_grad():
            ws = self.base.mapping(z, None, self.base.truncation, self.base.truncation_cutoff)
            return self.styles_of_ws(ws)

    def decode(self, s: Tensor) -> Tensor:
        return to_unit(self.base.synthesis(None, styles=self.split(s), **decode_options(self.base, s.device)))

    # --- what panels ask of a style generator ------------------------------------------------------------------------
    def mapping(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.base.mapping(*args, **kwargs)

    def synthesis(self, ws: Tensor | None, **options: Any) -> Any:
        return self.base.synthesis(ws, **options)

    def style_vectors(self, ws: Tensor) -> dict[str, Tensor]:
        return self.base.style_vectors(ws)

    def activations(self, ws: Tensor | None, layer: str, **options: Any) -> Tensor:
        return self.base.activations(ws, layer, **options)

    def one_hot(self, index: int) -> Tensor:
        return self.base.one_hot(index)


def styles_of(view: Any, latent: np.ndarray) -> np.ndarray:
    """The S latent of ``latent`` (of ``view``'s z / w / W+ space) for a StyleSpace view made from it."""
    device = next(view.parameters()).device
    with torch.no_grad():
        ws = latent_to_ws(view, torch.as_tensor(np.asarray(latent, np.float32).reshape(1, -1), device=device))
        styles = view.style_vectors(ws)
    names = [layer.name for layer in view.layers if layer.style_dim > 0]
    return torch.cat([styles[n] for n in names], dim=1)[0].cpu().numpy().astype(np.float32)


def channel_effects(view: StyleSpaceView, s: np.ndarray, layer: str, probes: int = 16, seed: int = 0) -> np.ndarray:
    """How much each style channel of ``layer`` moves the image at ``s``: ‖∂image/∂s_c‖ × scale_c, estimated
    with ``probes`` random image-space projections (one backward pass each)."""
    group = next(((a, b) for name, a, b in view.groups if name == layer), None)
    if group is None:
        raise BadInput(f"layer {layer!r} has no style channels", f"S has {', '.join(n for n, _, _ in view.groups)}")
    a, b = group
    device = next(view.parameters()).device
    x = torch.as_tensor(np.asarray(s, np.float32).reshape(1, -1), device=device).clone().requires_grad_(True)
    image = view.decode(x)
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(b - a, device=device)
    for k in range(probes):
        v = torch.randn(image.shape, generator=gen).to(device)
        (g,) = torch.autograd.grad(image, x, grad_outputs=v, retain_graph=k < probes - 1)
        total += g[0, a:b].square()
    norms = (total / probes).sqrt() * view.latent_std.to(device)[a:b]
    return norms.detach().cpu().numpy()
