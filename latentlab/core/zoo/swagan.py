"""SWAGAN (Gal et al. 2021), the wavelet StyleGAN2 of rosinality's ``stylegan2-pytorch`` (``swagan.py``), in
plain PyTorch with that file's state_dict names.

The synthesis is StyleGAN2's, run at half the image size: each ToRGB predicts the four Haar sub-bands (LL,
LH, HL, HH) of the colours, 12 channels, and the skip connection carries sub-bands from block to block
(inverse Haar transform, [1, 3, 3, 1] up-sampling, Haar transform); a last inverse Haar transform doubles
the size into the image. The Haar filters are buffers, as in the reference, so its files load unchanged.
A draft (``stop_at_resolution``) is the inverse transform of the running sub-bands: twice the block's size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlab.core.zoo.stylegan2 import StyleGAN2Generator
from latentlab.core.zoo.stylegan2_layers import ModulatedConv2d, Upsample, upfirdn2d


def haar_filters() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The 2x2 Haar analysis filters LL, LH, HL, HH (outer products of the low / high pass pairs)."""
    low = torch.full((1, 2), 2 ** -0.5)
    high = low.clone()
    high[0, 0] = -high[0, 0]
    return low.T * low, high.T * low, low.T * high, high.T * high


class HaarTransform(nn.Module):
    """Image -> its four sub-bands at half size, concatenated on the channel axis."""

    def __init__(self):
        super().__init__()
        for name, f in zip(("ll", "lh", "hl", "hh"), haar_filters(), strict=True):
            self.register_buffer(name, f)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([upfirdn2d(x, getattr(self, n), down=2) for n in ("ll", "lh", "hl", "hh")], dim=1)


class InverseHaarTransform(nn.Module):
    """Four concatenated sub-bands -> the image at twice their size (the synthesis filters: LH, HL negated)."""

    def __init__(self):
        super().__init__()
        ll, lh, hl, hh = haar_filters()
        for name, f in zip(("ll", "lh", "hl", "hh"), (ll, -lh, -hl, hh), strict=True):
            self.register_buffer(name, f)

    def forward(self, x: Tensor) -> Tensor:
        bands = x.chunk(4, dim=1)
        out = [upfirdn2d(b, getattr(self, n), up=2, pad=(1, 0)) for b, n in zip(bands, ("ll", "lh", "hl", "hh"),
                                                                              strict=True)]
        return out[0] + out[1] + out[2] + out[3]


class WaveletToRGB(nn.Module):
    """ToRGB predicting sub-bands; the skip's sub-bands are carried up through the image domain."""

    def __init__(self, in_ch: int, style_dim: int, img_channels: int = 3, upsample: bool = True,
                 clamp: float | None = None):
        super().__init__()
        if upsample:
            self.iwt = InverseHaarTransform()
            self.upsample = Upsample([1, 3, 3, 1])
            self.dwt = HaarTransform()
        self.conv = ModulatedConv2d(in_ch, img_channels * 4, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, img_channels * 4, 1, 1))
        self.clamp = clamp

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        return self.add_skip(self.rgb(x, self.conv.modulation(style)), skip)

    def run(self, x: Tensor, s: Tensor, skip: Tensor | None = None) -> Tensor:
        return self.add_skip(self.rgb(x, s), skip)

    def rgb(self, x: Tensor, s: Tensor) -> Tensor:
        out = self.conv.modulated(x, s) + self.bias
        return out.clamp(-self.clamp, self.clamp) if self.clamp else out

    def add_skip(self, out: Tensor, skip: Tensor | None) -> Tensor:
        return out if skip is None else out + self.dwt(self.upsample(self.iwt(skip)))


class SWAGANGenerator(StyleGAN2Generator):
    """rosinality's SWAGAN generator behind the LatentModel contract and the style_api network API."""

    architecture = "swagan"

    def __init__(self, channels: list[int], mapping: list[int], img_channels: int = 3, **kwargs):
        super().__init__(channels, mapping, img_channels, **kwargs)
        self.iwt = InverseHaarTransform()

    @staticmethod
    def _image_size(n_blocks: int) -> int:
        return 8 * 2 ** (n_blocks - 1)

    def _to_rgb(self, ch: int, img_channels: int, upsample: bool, clamp: float | None) -> nn.Module:
        return WaveletToRGB(ch, self.w_dim, img_channels, upsample=upsample, clamp=clamp)

    def _rgb_channels(self, img_channels: int) -> int:
        return img_channels * 4

    @staticmethod
    def _colours(rgb_out: int) -> int:
        return rgb_out // 4

    def _image_res(self, block_res: int) -> int:
        return 2 * block_res

    def _skip_image(self, skip: Tensor) -> Tensor:
        return self.iwt(skip)
