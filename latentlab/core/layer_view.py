"""Looking inside a style generator, as NVIDIA's visualizer does: a synthesis layer's activations as the image.

``LayerLook`` wraps a generator view (``style_edit.view_of``) into a model whose ``decode`` returns, for the
same latents, one synthesis layer's feature maps instead of the RGB output: one channel as grey or three
consecutive channels as RGB, optionally normalised by their standard deviation, with a gain in dB, or their
power spectrum (``fft``: log-magnitude of the 2-D FFT, centred, over a ``fft_range_db`` window below its
peak, of the chosen channels or of all of them). Being a model, it is decoded by the render service off the
GUI thread, like any other; only the synthesis up to that layer runs.

StyleGAN3's layers carry a margin around the image (its feature maps are larger than their nominal size);
they are shown whole, margin included, as the NVIDIA visualizer does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo
from latentlab.core.zoo.style_api import decode_options, latent_to_ws, layer_index


@dataclass(frozen=True)
class LookSettings:
    """Which layer, which channels and how they are shown (see the module docstring)."""

    layer: str
    channel: int = 0  # the first channel shown
    channels: int = 3  # 1 (grey) or 3 (consecutive channels as RGB)
    normalise: bool = True  # divide by the shown channels' standard deviation
    gain_db: float = 0.0
    fft: bool = False
    fft_all: bool = True  # the spectrum of every channel (averaged), not just of those shown
    fft_range_db: float = 50.0

    def checked(self, model: Any) -> LookSettings:
        info = model.layers[layer_index(model, self.layer)]
        if self.channels not in (1, 3):
            raise BadInput(f"show 1 or 3 channels, not {self.channels}")
        if not 0 <= self.channel < info.channels:
            raise BadInput(f"channel {self.channel} outside [0, {info.channels - 1}]",
                           f"layer {self.layer} has {info.channels} channels")
        if not (math.isfinite(self.gain_db) and -100.0 <= self.gain_db <= 100.0):
            raise BadInput("the gain must be a finite number of dB in [-100, 100]")
        if not (math.isfinite(self.fft_range_db) and 1.0 <= self.fft_range_db <= 200.0):
            raise BadInput("the spectrum's range must lie in [1, 200] dB")
        return self

    def replace(self, **changes: Any) -> LookSettings:
        return replace(self, **changes)


class LayerLook(nn.Module):
    """A generator view whose decode shows one synthesis layer (a model for the render service)."""

    traceable = True

    def __init__(self, view: Any, look: LookSettings):
        super().__init__()
        self.view = view
        self.look = look.checked(view)
        layer = view.layers[layer_index(view, look.layer)]
        side = int(layer.resolution)
        what = "spectrum" if look.fft else f"ch {look.channel}" + (f"-{look.channel + 2}" if look.channels == 3 else "")
        self.info = ModelInfo(f"{view.info.name} · {look.layer} {what}", view.info.latent_dim, (3, side, side),
                              view.info.latent_names, view.info.prior, view.info.dataset, view.info.factor_names)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.view.sample_prior(n, generator)

    def decode(self, latent: Tensor) -> Tensor:
        view = self.view
        if view.latent_space == "s":  # StyleSpace: the styles are the input; no ws
            opts = decode_options(view.base, latent.device)
            act = view.base.activations(None, self.look.layer, styles=view.split(latent), **opts).float()
        else:
            ws = latent_to_ws(view, latent)
            act = view.activations(ws, self.look.layer, **decode_options(view, latent.device)).float()
        return spectrum(act, self.look) if self.look.fft else feature_image(act, self.look)


def _shown_channels(act: Tensor, look: LookSettings) -> Tensor:
    """(B, 1 or 3, H, W): the channels picked; three channels past the last one wrap round to the first."""
    c = act.shape[1]
    idx = [(look.channel + k) % c for k in range(look.channels)]
    return act[:, idx]


def feature_image(act: Tensor, look: LookSettings) -> Tensor:
    """Feature maps (B, C, H, W) as (B, 3, H, W) images in [0, 1]: zero is mid-grey."""
    x = _shown_channels(act, look)
    if look.normalise:
        x = x / x.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-8)
    x = x * (10.0 ** (look.gain_db / 20.0))
    img = (x * 0.5 + 0.5).clamp(0.0, 1.0)
    return img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img


def spectrum(act: Tensor, look: LookSettings) -> Tensor:
    """The centred log power spectrum of the feature maps as a grey (B, 3, H, W) image: the peak is white and
    ``fft_range_db`` below it black (aliasing shows as energy off the centre, at high frequencies)."""
    x = act if look.fft_all else _shown_channels(act, look)
    power = torch.fft.fftshift(torch.fft.fft2(x).abs().square(), dim=(-2, -1)).mean(dim=1, keepdim=True)
    db = 10.0 * torch.log10(power.clamp_min(1e-20))
    peak = db.amax(dim=(-2, -1), keepdim=True)
    img = ((db - peak) / look.fft_range_db + 1.0).clamp(0.0, 1.0)
    return img.expand(-1, 3, -1, -1)


class Untransformed(nn.Module):
    """A StyleGAN3 view whose output is warped back by the inverse of its input transform (NVIDIA's visualizer's
    "untransform"): for an equivariant generator the picture then stays put while the transform moves, so
    what changes is exactly the generator's failure to be equivariant. Pixels warped in from outside are black."""

    traceable = True
    theta: Tensor  # a buffer: (1, 2, 3), moves with the model

    def __init__(self, view: Any, translate: tuple[float, float], rotate: float):
        super().__init__()
        self.view = view
        self.info = replace(view.info, name=f"{view.info.name} · untransformed")
        a = rotate * 2 * math.pi
        # Where each output pixel's content came from, in grid_sample's [-1, 1] coordinates (image widths x 2).
        theta = torch.tensor([[math.cos(a), math.sin(a), 2 * translate[0]],
                              [-math.sin(a), math.cos(a), 2 * translate[1]]], dtype=torch.float32)
        self.register_buffer("theta", theta[None], persistent=False)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.view.sample_prior(n, generator)

    def decode(self, latent: Tensor) -> Tensor:
        img = self.view.decode(latent)
        grid = torch.nn.functional.affine_grid(self.theta.to(img.dtype).expand(img.shape[0], -1, -1), list(img.shape),
                                               align_corners=False)
        return torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
