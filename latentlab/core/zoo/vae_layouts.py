"""Conv VAEs of two common PyTorch code bases, rebuilt with their exact parameter names.

- ``pytorch_vae``: AntixK/PyTorch-VAE's BaseVAE models (VanillaVAE, BetaVAE, ...): stride-2 3x3 conv blocks
  with BatchNorm and LeakyReLU (``encoder.{i}.{0,1}``), ``fc_mu``/``fc_var``, ``decoder_input``, transposed
  conv blocks (``decoder.{i}``) and ``final_layer`` (transposed conv, BatchNorm, LeakyReLU, 3x3 conv, tanh).
  Its data were in [0, 1] since December 2021 (PyTorch Lightning 1.5) and in [-1, 1] before.
- ``beta_vae_konny``: 1Konny/Beta-VAE's ``BetaVAE_H`` (Higgins et al. 2017) and ``BetaVAE_B`` (Burgess et
  al. 2018) nets, saved as ``{"model_states": {"net": state_dict}, ...}``; the decoder's logits always go
  through a sigmoid there (for both its Bernoulli and Gaussian losses).
- ``disent_conv64``: disent's ``EncoderConv64``/``DecoderConv64`` (the disentanglement_lib / beta-VAE paper
  64x64 nets: 4x4 stride-2 convs 32-32-64-64 with padding 2, 256-unit dense layers), which the disent
  Lightning frameworks hold as ``_model._encoder.model.*`` and ``_model._decoder.model.*``.

Sizes (latent size, channel widths, image size) are read from the weights' shapes, never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.model import ModelInfo, Posterior
from latentlab.core.zoo.models import ZooModel

DATA_RANGES = ("unit", "symmetric")
OUTPUTS = ("sigmoid", "linear")


class PyTorchVAE(ZooModel):
    """AntixK PyTorch-VAE ``VanillaVAE``/``BetaVAE`` layout (any hidden widths and depth)."""

    architecture = "pytorch_vae"

    def __init__(self, latent_dim: int, hidden_dims: list[int], in_channels: int = 3, out_channels: int = 3,
                 side: int = 2, data_range: str = "unit", info: ModelInfo | None = None):
        if data_range not in DATA_RANGES:
            raise ValueError(f"data_range must be one of {DATA_RANGES}, got {data_range!r}")
        if in_channels != out_channels:
            raise ValueError(f"encoder takes {in_channels} channels but the decoder makes {out_channels}")
        size = side * 2 ** len(hidden_dims)
        info = info or ModelInfo(self.architecture, latent_dim, (out_channels, size, size))
        super().__init__(info, dict(latent_dim=latent_dim, hidden_dims=list(hidden_dims), in_channels=in_channels,
                                    out_channels=out_channels, side=side, data_range=data_range))
        self.data_range, self.side, self.top = data_range, side, hidden_dims[-1]
        blocks, prev = [], in_channels
        for h in hidden_dims:
            blocks.append(nn.Sequential(nn.Conv2d(prev, h, 3, stride=2, padding=1), nn.BatchNorm2d(h), nn.LeakyReLU()))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        flat = hidden_dims[-1] * side * side
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_var = nn.Linear(flat, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, flat)
        rev = list(reversed(hidden_dims))
        self.decoder = nn.Sequential(*[
            nn.Sequential(nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(b),
                          nn.LeakyReLU())
            for a, b in zip(rev[:-1], rev[1:], strict=True)
        ])
        self.final_layer = nn.Sequential(
            nn.ConvTranspose2d(rev[-1], rev[-1], 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(rev[-1]),
            nn.LeakyReLU(), nn.Conv2d(rev[-1], out_channels, 3, padding=1), nn.Tanh(),
        )

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        hidden, i = [], 0
        while f"encoder.{i}.0.weight" in shapes:
            hidden.append(shapes[f"encoder.{i}.0.weight"][0])
            i += 1
        if not hidden:
            raise KeyError("encoder.0.0.weight")
        mu = shapes["fc_mu.weight"]
        side = int(round(math.sqrt(mu[1] // hidden[-1])))
        return dict(latent_dim=mu[0], hidden_dims=hidden, in_channels=shapes["encoder.0.0.weight"][1],
                    out_channels=shapes["final_layer.3.weight"][0], side=side)

    def encode(self, x: Tensor) -> Posterior:
        if self.data_range == "symmetric":
            x = 2 * x - 1
        h = torch.flatten(self.encoder(x), 1)
        return Posterior(mean=self.fc_mu(h), logvar=self.fc_var(h).clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        h = self.decoder_input(z).view(z.shape[0], self.top, self.side, self.side)
        y = self.final_layer(self.decoder(h))
        # tanh output: images in [0, 1] were trained against it directly, [-1, 1] ones need mapping back.
        return ((y + 1) / 2 if self.data_range == "symmetric" else y).clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.device)


class _Holder(nn.Module):
    """disent wraps each half's Sequential in a module whose attribute is ``model``."""

    def __init__(self, model: nn.Sequential):
        super().__init__()
        self.model = model


class DisentConv64(ZooModel):
    """disent's EncoderConv64/DecoderConv64 pair; ``z_multiplier`` 2 means a Gaussian posterior (VAEs)."""

    architecture = "disent_conv64"

    def __init__(self, latent_dim: int, channels: int = 3, widths: Sequence[int] = (32, 32, 64, 64), hidden: int = 256,
                 z_multiplier: int = 2, output: str = "sigmoid", info: ModelInfo | None = None):
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if z_multiplier not in (1, 2):
            raise ValueError(f"z_multiplier must be 1 (autoencoder) or 2 (VAE), got {z_multiplier}")
        info = info or ModelInfo(self.architecture, latent_dim, (channels, 64, 64))
        super().__init__(info, dict(latent_dim=latent_dim, channels=channels, widths=list(widths), hidden=hidden,
                                    z_multiplier=z_multiplier, output=output))
        self.output, self.z_multiplier = output, z_multiplier
        w = list(widths)
        enc: list[nn.Module] = []
        prev = channels
        for c in w:
            enc += [nn.Conv2d(prev, c, 4, stride=2, padding=2), nn.ReLU()]
            prev = c
        # 64 -> 33 -> 17 -> 9 -> 5 with padding 2: the 1600 = 64 * 5 * 5 features of the original.
        enc += [nn.Flatten(), nn.Linear(w[-1] * 25, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim * z_multiplier)]
        self._encoder = _Holder(nn.Sequential(*enc))
        dec: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, w[-1] * 16), nn.ReLU(),
                                nn.Unflatten(1, (w[-1], 4, 4))]
        rev = list(reversed(w)) + [channels]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:], strict=True)):
            dec.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if i < len(rev) - 2:
                dec.append(nn.ReLU())
        self._decoder = _Holder(nn.Sequential(*dec))

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        widths = [shapes[f"_encoder.model.{2 * i}.weight"][0] for i in range(4)]
        z_total = shapes["_encoder.model.11.weight"][0]
        latent = shapes["_decoder.model.0.weight"][1]
        return dict(latent_dim=latent, channels=shapes["_encoder.model.0.weight"][1], widths=widths,
                    hidden=shapes["_encoder.model.9.weight"][0], z_multiplier=z_total // latent)

    def encode(self, x: Tensor) -> Posterior:
        h = self._encoder.model(x)
        if self.z_multiplier == 1:
            return Posterior(mean=h)
        mean, logvar = h.chunk(2, dim=1)
        return Posterior(mean=mean, logvar=logvar.clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        y = self._decoder.model(z)
        return torch.sigmoid(y) if self.output == "sigmoid" else y.clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.device)


class KonnyBetaVAE(ZooModel):
    """1Konny/Beta-VAE's BetaVAE_H (variant "H") and BetaVAE_B (variant "B"), widths from the weights."""

    architecture = "beta_vae_konny"

    def __init__(self, latent_dim: int, channels: int = 1, widths: Sequence[int] = (32, 32, 64, 64), hidden: int = 256,
                 variant: str = "H", info: ModelInfo | None = None):
        if variant not in ("H", "B"):
            raise ValueError(f"variant must be H or B, got {variant!r}")
        info = info or ModelInfo(self.architecture, latent_dim, (channels, 64, 64))
        super().__init__(info, dict(latent_dim=latent_dim, channels=channels, widths=list(widths), hidden=hidden,
                                    variant=variant))
        c0, c1, c2, c3 = widths
        relu = nn.ReLU
        enc: list[nn.Module] = [nn.Conv2d(channels, c0, 4, 2, 1), relu(), nn.Conv2d(c0, c1, 4, 2, 1), relu(),
                                nn.Conv2d(c1, c2, 4, 2, 1), relu(), nn.Conv2d(c2, c3, 4, 2, 1), relu()]
        ups = [nn.ConvTranspose2d(c3, c2, 4, 2, 1), relu(), nn.ConvTranspose2d(c2, c1, 4, 2, 1), relu(),
               nn.ConvTranspose2d(c1, c0, 4, 2, 1), relu(), nn.ConvTranspose2d(c0, channels, 4, 2, 1)]
        if variant == "H":  # a 4x4 valid conv to a 1x1 map, and its transpose
            enc += [nn.Conv2d(c3, hidden, 4, 1), relu(), nn.Flatten(), nn.Linear(hidden, 2 * latent_dim)]
            dec = [nn.Linear(latent_dim, hidden), nn.Unflatten(1, (hidden, 1, 1)), relu(),
                   nn.ConvTranspose2d(hidden, c3, 4), relu(), *ups]
        else:
            enc += [nn.Flatten(), nn.Linear(c3 * 16, hidden), relu(), nn.Linear(hidden, hidden), relu(),
                    nn.Linear(hidden, 2 * latent_dim)]
            dec = [nn.Linear(latent_dim, hidden), relu(), nn.Linear(hidden, hidden), relu(),
                   nn.Linear(hidden, c3 * 16), relu(), nn.Unflatten(1, (c3, 4, 4)), *ups]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        widths = [shapes[f"encoder.{2 * i}.weight"][0] for i in range(4)]
        variant = "H" if len(shapes.get("encoder.8.weight", ())) == 4 else "B"
        hidden = shapes["encoder.8.weight"][0] if variant == "H" else shapes["encoder.9.weight"][0]
        return dict(latent_dim=shapes["decoder.0.weight"][1], channels=shapes["encoder.0.weight"][1],
                    widths=widths, hidden=hidden, variant=variant)

    def encode(self, x: Tensor) -> Posterior:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return Posterior(mean=mean, logvar=logvar.clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.device)


VAE_LAYOUT_NETWORKS: dict[str, type[ZooModel]] = {
    PyTorchVAE.architecture: PyTorchVAE,
    KonnyBetaVAE.architecture: KonnyBetaVAE,
    DisentConv64.architecture: DisentConv64,
}
