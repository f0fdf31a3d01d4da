"""GAN generators of the zoo: InfoWGAN-GP and its quantized-latent variant (Hsu et al. 2023's baselines).

The generator is the zoo's standard 64x64 conv decoder (the VAEs' decoder, so GANs and VAEs compare on the
same architecture, as in the latent-quantization paper); the critic with its InfoGAN code head lives in
``adversarial.py`` because it only exists during training. A GAN has no encoder: it does not satisfy
``Encodes``, and images reach its latent space by inversion (``latentlab.core.invert``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.model import ModelInfo
from latentlab.core.zoo.models import CodebookLatent, ZooModel
from latentlab.core.zoo.nets import ConvDecoder

PRIOR_LOW, PRIOR_HIGH = -1.0, 1.0


def _decoder_hparams(shapes: dict[str, tuple[int, ...]], prefix: str) -> dict[str, Any]:
    """Size of a ConvDecoder from its weights: latent size, channels, image size, base width, hidden units."""
    fc0 = shapes[f"{prefix}.fc.0.weight"]  # hidden, latent_dim
    fc2 = shapes[f"{prefix}.fc.2.weight"]  # top * side^2, hidden
    first = shapes[f"{prefix}.deconv.0.weight"]  # 2*base, 2*base, 4, 4
    last = shapes[f"{prefix}.deconv.6.weight"]  # base, channels, 4, 4
    base = first[0] // 2
    side = int(round(math.sqrt(fc2[0] // first[0])))
    return dict(latent_dim=fc0[1], channels=last[1], image_size=16 * side, base=base, hidden=fc0[0])


class InfoWGAN(ZooModel):
    """InfoWGAN-GP generator: z ~ U[-1, 1]^D -> 64x64 image (sigmoid of the decoder's logits)."""

    architecture = "infowgan"
    prior = "uniform"

    def __init__(self, latent_dim: int = 10, channels: int = 1, image_size: int = 64, base: int = 32,
                 hidden: int = 256, info: ModelInfo | None = None):
        info = info or ModelInfo(self.architecture, latent_dim, (channels, image_size, image_size), prior=self.prior)
        super().__init__(info, self._hparams(latent_dim, channels, image_size, base, hidden))
        self.generator = ConvDecoder(latent_dim, channels, image_size, base, hidden)

    @staticmethod
    def _hparams(latent_dim, channels, image_size, base, hidden, **extra) -> dict[str, Any]:
        return dict(latent_dim=latent_dim, channels=channels, image_size=image_size, base=base, hidden=hidden, **extra)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        return _decoder_hparams(shapes, "generator")

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.generator(z)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, self.info.latent_dim, generator=generator)
        return (PRIOR_LOW + (PRIOR_HIGH - PRIOR_LOW) * u).to(self.device)

    def clamp_latent(self, z: Tensor) -> Tensor:
        """Keep a latent inside the prior's support (what inversion projects onto)."""
        return z.clamp(PRIOR_LOW, PRIOR_HIGH)


class QuantizedInfoWGAN(CodebookLatent, InfoWGAN):
    """Quantized-latent InfoWGAN-GP: each dimension takes one of ``n_values`` learnable scalars, and the
    generator only ever sees codebook values (sampled uniformly over codes)."""

    architecture = "qinfowgan"
    prior = "codebook"

    def __init__(self, latent_dim: int = 10, channels: int = 1, image_size: int = 64, base: int = 32,
                 hidden: int = 256, n_values: int = 10, info: ModelInfo | None = None):
        if n_values < 2:
            raise ValueError("a codebook needs at least two values")
        super().__init__(latent_dim, channels, image_size, base, hidden, info)
        self.hparams["n_values"] = n_values
        # Evenly spaced over the same [-1, 1] range as InfoWGAN's uniform prior; learnable, as in the paper.
        self.values = nn.Parameter(torch.linspace(PRIOR_LOW, PRIOR_HIGH, n_values).repeat(latent_dim, 1))

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        return {**_decoder_hparams(shapes, "generator"), "n_values": shapes["values"][1]}

    def clamp_latent(self, z: Tensor) -> Tensor:
        v = self.values.detach()
        return torch.maximum(torch.minimum(z, v.max(1).values), v.min(1).values)


GAN_NETWORKS: dict[str, type[ZooModel]] = {
    InfoWGAN.architecture: InfoWGAN,
    QuantizedInfoWGAN.architecture: QuantizedInfoWGAN,
}
