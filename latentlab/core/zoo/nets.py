"""The 64x64 convolutional encoder/decoder used throughout the disentanglement literature.

Four 4x4 stride-2 convolutions (32-32-64-64 channels), a 256-unit dense layer, and the mirror image for
the decoder (Higgins et al. 2017; Locatello et al. 2019). ``base`` scales the channel counts so tests can
build tiny copies of the same shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _channels(base: int) -> list[int]:
    return [base, base, 2 * base, 2 * base]


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int, out_features: int, image_size: int = 64, base: int = 32, hidden: int = 256):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image size must be a multiple of 16, got {image_size}")
        ch = _channels(base)
        layers: list[nn.Module] = []
        prev = in_channels
        for c in ch:
            layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            prev = c
        self.conv = nn.Sequential(*layers)
        side = image_size // 16
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(prev * side * side, hidden), nn.ReLU(inplace=True))
        self.out = nn.Linear(hidden, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.fc(self.conv(x)))


class ConvDecoder(nn.Module):
    """Latent -> image logits (the caller applies the sigmoid)."""

    def __init__(self, latent_dim: int, out_channels: int, image_size: int = 64, base: int = 32, hidden: int = 256):
        super().__init__()
        ch = _channels(base)
        self.side = image_size // 16
        self.top = ch[-1]
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, self.top * self.side * self.side),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        rev = list(reversed(ch))  # 64, 64, 32, 32
        outs = rev[1:] + [out_channels]
        for i, (cin, cout) in enumerate(zip(rev, outs, strict=True)):
            layers.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            if i < len(rev) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(z.shape[0], self.top, self.side, self.side)
        return self.deconv(h)

    @property
    def first_layer(self) -> nn.Linear:
        """The dense layer latents enter first (SeFa and GANSpace read it)."""
        layer = self.fc[0]
        assert isinstance(layer, nn.Linear)  # __init__ builds fc as Linear, activation
        return layer


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def to_unit_interval(logits: Tensor) -> Tensor:
    return torch.sigmoid(logits)
