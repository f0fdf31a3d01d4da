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

- ``burgess_vae``: YannDubs/disentangling-vae's Burgess encoder/decoder, saved as ``model.pt`` (a plain
  state_dict) beside ``specs.json`` in a results folder.

AntixK PyTorch-VAE's BetaTCVAE, WAE-MMD and ConditionalVAE are in ``antixk.py``.

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


def conv_blocks(prev: int, widths: list[int], kernel: int = 3, norm: bool = True) -> nn.Sequential:
    """PyTorch-VAE's encoder: one stride-2 conv block per width (``encoder.{i}.0`` conv, ``.1`` BatchNorm)."""
    blocks = []
    for h in widths:
        layers: list[nn.Module] = [nn.Conv2d(prev, h, kernel, stride=2, padding=1)]
        layers += [nn.BatchNorm2d(h), nn.LeakyReLU()] if norm else [nn.LeakyReLU()]
        blocks.append(nn.Sequential(*layers))
        prev = h
    return nn.Sequential(*blocks)


def up_blocks(widths: list[int], norm: bool = True) -> nn.Sequential:
    """PyTorch-VAE's decoder: a stride-2 transposed conv block from each width to the next (``decoder.{i}``)."""
    blocks = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers: list[nn.Module] = [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1)]
        layers += [nn.BatchNorm2d(b), nn.LeakyReLU()] if norm else [nn.LeakyReLU()]
        blocks.append(nn.Sequential(*layers))
    return nn.Sequential(*blocks)


def final_layer(width: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    """The last up-sampling block, then a 3x3 conv to the image and tanh (``final_layer``)."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1)]
    layers += [nn.BatchNorm2d(width), nn.LeakyReLU()] if norm else [nn.LeakyReLU()]
    return nn.Sequential(*layers, nn.Conv2d(width, out_channels, 3, padding=1), nn.Tanh())


def encoder_widths(shapes: dict[str, tuple[int, ...]]) -> list[int]:
    hidden, i = [], 0
    while f"encoder.{i}.0.weight" in shapes:
        hidden.append(shapes[f"encoder.{i}.0.weight"][0])
        i += 1
    if not hidden:
        raise KeyError("encoder.0.0.weight")
    return hidden


def from_data_range(y: Tensor, data_range: str) -> Tensor:
    """A tanh output as an image in [0, 1]: [0, 1] data were trained against it directly, [-1, 1] data map back."""
    return ((y + 1) / 2 if data_range == "symmetric" else y).clamp(0.0, 1.0)


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
        self.encoder = conv_blocks(self.encoder_in(in_channels), list(hidden_dims))
        flat = hidden_dims[-1] * side * side
        self.make_heads(flat, latent_dim)
        self.decoder_input = nn.Linear(self.decoder_in(latent_dim), flat)
        rev = list(reversed(hidden_dims))
        self.decoder = up_blocks(rev)
        self.final_layer = final_layer(rev[-1], out_channels)

    # What the variants of this layout change (WAE-MMD: one code head; ConditionalVAE: inputs with c).
    def encoder_in(self, in_channels: int) -> int:
        return in_channels

    def decoder_in(self, latent_dim: int) -> int:
        return latent_dim

    def make_heads(self, flat: int, latent_dim: int) -> None:
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_var = nn.Linear(flat, latent_dim)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        hidden = encoder_widths(shapes)
        mu = shapes["fc_mu.weight"]
        side = int(round(math.sqrt(mu[1] // hidden[-1])))
        return dict(latent_dim=mu[0], hidden_dims=hidden, in_channels=shapes["encoder.0.0.weight"][1],
                    out_channels=shapes["final_layer.3.weight"][0], side=side)

    def features(self, x: Tensor) -> Tensor:
        if self.data_range == "symmetric":
            x = 2 * x - 1
        return torch.flatten(self.encoder(x), 1)

    def encode(self, x: Tensor) -> Posterior:
        h = self.features(x)
        return Posterior(mean=self.fc_mu(h), logvar=self.fc_var(h).clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        h = self.decoder_input(z).view(z.shape[0], self.top, self.side, self.side)
        return from_data_range(self.final_layer(self.decoder(h)), self.data_range)

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


class BurgessVAE(ZooModel):
    """YannDubs/disentangling-vae's ``EncoderBurgess``/``DecoderBurgess`` (Burgess et al. 2018), 32 or 64 px.

    Three 4x4 stride-2 convs (a fourth, ``conv_64``, for 64x64 images) of ``width`` channels down to 4x4, two
    dense layers of ``hidden`` units, and one layer giving mean and log-variance *interleaved* per latent
    (the original reshapes it to (latent, 2)); the decoder mirrors it and ends in a sigmoid.
    """

    architecture = "burgess_vae"

    def __init__(self, latent_dim: int = 10, channels: int = 1, image_size: int = 64, width: int = 32,
                 hidden: int = 256, info: ModelInfo | None = None):
        if image_size not in (32, 64):
            raise ValueError(f"the Burgess networks take 32x32 or 64x64 images, not {image_size}x{image_size}")
        info = info or ModelInfo(self.architecture, latent_dim, (channels, image_size, image_size))
        super().__init__(info, dict(latent_dim=latent_dim, channels=channels, image_size=image_size, width=width,
                                    hidden=hidden))
        self.big = image_size == 64
        self.width = width
        enc, dec = nn.Module(), nn.Module()
        enc.conv1 = nn.Conv2d(channels, width, 4, stride=2, padding=1)
        enc.conv2 = nn.Conv2d(width, width, 4, stride=2, padding=1)
        enc.conv3 = nn.Conv2d(width, width, 4, stride=2, padding=1)
        if self.big:
            enc.conv_64 = nn.Conv2d(width, width, 4, stride=2, padding=1)
        enc.lin1 = nn.Linear(width * 16, hidden)
        enc.lin2 = nn.Linear(hidden, hidden)
        enc.mu_logvar_gen = nn.Linear(hidden, 2 * latent_dim)
        dec.lin1 = nn.Linear(latent_dim, hidden)
        dec.lin2 = nn.Linear(hidden, hidden)
        dec.lin3 = nn.Linear(hidden, width * 16)
        if self.big:
            dec.convT_64 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        dec.convT1 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        dec.convT2 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        dec.convT3 = nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1)
        self.encoder, self.decoder = enc, dec

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        conv1 = shapes["encoder.conv1.weight"]
        return dict(latent_dim=shapes["decoder.lin1.weight"][1], channels=conv1[1],
                    image_size=64 if "encoder.conv_64.weight" in shapes else 32, width=conv1[0],
                    hidden=shapes["encoder.lin1.weight"][0])

    def encode(self, x: Tensor) -> Posterior:
        e: Any = self.encoder  # submodules named by the checkpoint's keys
        h = torch.relu(e.conv3(torch.relu(e.conv2(torch.relu(e.conv1(x))))))
        if self.big:
            h = torch.relu(e.conv_64(h))
        h = torch.relu(e.lin2(torch.relu(e.lin1(torch.flatten(h, 1)))))
        mean, logvar = e.mu_logvar_gen(h).view(-1, self.info.latent_dim, 2).unbind(-1)
        return Posterior(mean=mean, logvar=logvar.clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        d: Any = self.decoder
        h = torch.relu(d.lin3(torch.relu(d.lin2(torch.relu(d.lin1(z))))))
        h = h.view(z.shape[0], self.width, 4, 4)
        if self.big:
            h = torch.relu(d.convT_64(h))
        h = torch.relu(d.convT2(torch.relu(d.convT1(h))))
        return torch.sigmoid(d.convT3(h))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.device)


VAE_LAYOUT_NETWORKS: dict[str, type[ZooModel]] = {
    PyTorchVAE.architecture: PyTorchVAE,
    KonnyBetaVAE.architecture: KonnyBetaVAE,
    DisentConv64.architecture: DisentConv64,
    BurgessVAE.architecture: BurgessVAE,
}
