"""AntixK/PyTorch-VAE's BetaTCVAE, WAE-MMD and ConditionalVAE, rebuilt with their exact parameter names.

- ``pytorch_betatc_vae`` (``BetaTCVAE``): 4x4 stride-2 convs with LeakyReLU and no BatchNorm
  (``encoder.{i}.0``), a 256-unit ``fc`` before ``fc_mu``/``fc_var``; ``decoder_input`` makes 512 features
  that the original reshapes to 32 channels of 4x4; transposed-conv blocks without BatchNorm, then
  ``final_layer`` (transposed conv, LeakyReLU, 3x3 conv, tanh).
- ``pytorch_wae`` (``WAE_MMD``): the VanillaVAE layout with one deterministic code head ``fc_z``; its MMD
  regulariser matches the codes to a standard normal, so that is the prior.
- ``pytorch_cvae`` (``ConditionalVAE``): the VanillaVAE layout whose decoder takes (z, c): ``decoder_input``
  reads the latent followed by the label vector; the encoder reads the image through a 1x1 conv
  (``embed_data``) and, as one more channel, the label through ``embed_class`` (a dense layer to one
  img_size x img_size map). PyTorch-VAE trains it on CelebA's 40 binary attributes (``num_classes: 40``):
  c is a multi-hot attribute vector, each entry a toggle.

Data ranges as for the VanillaVAE (``vae_layouts.PyTorchVAE``): [0, 1] since PyTorch Lightning 1.5, [-1, 1]
before. Sizes are read from the weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.model import ModelInfo, Posterior
from latentlab.core.zoo.models import ZooModel
from latentlab.core.zoo.vae_layouts import (
    DATA_RANGES,
    PyTorchVAE,
    conv_blocks,
    encoder_widths,
    final_layer,
    from_data_range,
    up_blocks,
)

# The 40 attributes of CelebA's list_attr_celeba.txt, in its column order: what torchvision's CelebA (and so
# PyTorch-VAE's data module) hands over as the label of every image.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)


class PyTorchBetaTCVAE(ZooModel):
    """PyTorch-VAE's ``BetaTCVAE`` (any widths; the original's decoder starts from ``hidden_dims[-1]`` x 4 x 4)."""

    architecture = "pytorch_betatc_vae"

    def __init__(self, latent_dim: int, hidden_dims: list[int], in_channels: int = 3, out_channels: int = 3,
                 fc_hidden: int = 256, data_range: str = "unit", info: ModelInfo | None = None):
        if data_range not in DATA_RANGES:
            raise ValueError(f"data_range must be one of {DATA_RANGES}, got {data_range!r}")
        if in_channels != out_channels:
            raise ValueError(f"encoder takes {in_channels} channels but the decoder makes {out_channels}")
        size = 4 * 2 ** len(hidden_dims)
        info = info or ModelInfo(self.architecture, latent_dim, (out_channels, size, size))
        super().__init__(info, dict(latent_dim=latent_dim, hidden_dims=list(hidden_dims), in_channels=in_channels,
                                    out_channels=out_channels, fc_hidden=fc_hidden, data_range=data_range))
        self.data_range, self.top = data_range, hidden_dims[-1]
        self.encoder = conv_blocks(in_channels, list(hidden_dims), kernel=4, norm=False)
        self.fc = nn.Linear(hidden_dims[-1] * 16, fc_hidden)
        self.fc_mu = nn.Linear(fc_hidden, latent_dim)
        self.fc_var = nn.Linear(fc_hidden, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden_dims[-1] * 16)
        rev = list(reversed(hidden_dims))
        self.decoder = up_blocks(rev, norm=False)
        self.final_layer = final_layer(rev[-1], out_channels, norm=False)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        hidden = encoder_widths(shapes)
        return dict(latent_dim=shapes["fc_mu.weight"][0], hidden_dims=hidden,
                    in_channels=shapes["encoder.0.0.weight"][1], out_channels=shapes["final_layer.2.weight"][0],
                    fc_hidden=shapes["fc.weight"][0])

    def encode(self, x: Tensor) -> Posterior:
        if self.data_range == "symmetric":
            x = 2 * x - 1
        h = self.fc(torch.flatten(self.encoder(x), 1))
        return Posterior(mean=self.fc_mu(h), logvar=self.fc_var(h).clamp(-30.0, 20.0))

    def decode(self, z: Tensor) -> Tensor:
        h = self.decoder_input(z).view(z.shape[0], self.top, 4, 4)
        return from_data_range(self.final_layer(self.decoder(h)), self.data_range)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.device)


class PyTorchWAE(PyTorchVAE):
    """PyTorch-VAE's ``WAE_MMD``: a deterministic encoder (``fc_z``) and a standard-normal prior."""

    architecture = "pytorch_wae"

    def make_heads(self, flat: int, latent_dim: int) -> None:
        self.fc_z = nn.Linear(flat, latent_dim)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        return _vanilla_sizes(shapes, shapes["fc_z.weight"])

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(mean=self.fc_z(self.features(x)))


class PyTorchConditionalVAE(PyTorchVAE):
    """PyTorch-VAE's ``ConditionalVAE``: ``decode(z)`` decodes (z, ``condition``); see ``Conditioned``."""

    architecture = "pytorch_cvae"
    condition_exclusive = False  # independent attribute toggles, not one class at a time

    def __init__(self, latent_dim: int, hidden_dims: list[int], num_classes: int, in_channels: int = 3,
                 out_channels: int = 3, side: int = 2, data_range: str = "unit", info: ModelInfo | None = None):
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        super().__init__(latent_dim, hidden_dims, in_channels, out_channels, side, data_range, info)
        self.hparams["num_classes"] = num_classes
        size = self.info.image_shape[1]
        self.img_size = size
        self.embed_class = nn.Linear(num_classes, size * size)
        self.embed_data = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.condition_names = CELEBA_ATTRIBUTES if num_classes == len(CELEBA_ATTRIBUTES) else tuple(
            f"c{i}" for i in range(num_classes))
        # Not saved with the weights: the condition is a setting of the explorer, like the latent.
        self.register_buffer("condition", torch.zeros(num_classes), persistent=False)

    def encoder_in(self, in_channels: int) -> int:
        return in_channels + 1  # the label's embedded map is one more input channel

    def decoder_in(self, latent_dim: int) -> int:
        return latent_dim + self.num_classes

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        hp = _vanilla_sizes(shapes, shapes["fc_mu.weight"])
        hp["in_channels"] = shapes["embed_data.weight"][0]
        hp["num_classes"] = shapes["embed_class.weight"][1]
        return hp

    def set_condition(self, c: Tensor) -> None:
        c = torch.as_tensor(c, dtype=torch.float32).reshape(-1)
        if c.numel() != self.num_classes:
            raise ValueError(f"this conditional VAE takes {self.num_classes} condition values, got {c.numel()}")
        if not torch.isfinite(c).all():
            raise ValueError("condition values must be finite")
        self.condition = c.to(self.device)

    def _labels(self, n: int) -> Tensor:
        return self.condition.reshape(1, -1).expand(n, -1)

    def encode(self, x: Tensor, c: Tensor | None = None) -> Posterior:
        """The posterior of images ``x`` under labels ``c`` (B, n); the model's ``condition`` when None."""
        if self.data_range == "symmetric":
            x = 2 * x - 1
        y = (self._labels(x.shape[0]) if c is None else c).to(x)
        label_map = self.embed_class(y).view(-1, 1, self.img_size, self.img_size)
        h = torch.flatten(self.encoder(torch.cat([self.embed_data(x), label_map], dim=1)), 1)
        return Posterior(mean=self.fc_mu(h), logvar=self.fc_var(h).clamp(-30.0, 20.0))

    def decode_given(self, z: Tensor, c: Tensor) -> Tensor:
        """Images of latents ``z`` (B, D) under labels ``c`` (B, n)."""
        h = self.decoder_input(torch.cat([z, c.to(z)], dim=1))
        h = h.view(z.shape[0], self.top, self.side, self.side)
        return from_data_range(self.final_layer(self.decoder(h)), self.data_range)

    def decode(self, z: Tensor) -> Tensor:
        return self.decode_given(z, self._labels(z.shape[0]))


def _vanilla_sizes(shapes: dict[str, tuple[int, ...]], head: tuple[int, ...]) -> dict[str, Any]:
    hidden = encoder_widths(shapes)
    side = int(round((head[1] // hidden[-1]) ** 0.5))
    return dict(latent_dim=head[0], hidden_dims=hidden, in_channels=shapes["encoder.0.0.weight"][1],
                out_channels=shapes["final_layer.3.weight"][0], side=side)


ANTIXK_NETWORKS: dict[str, type[ZooModel]] = {
    PyTorchBetaTCVAE.architecture: PyTorchBetaTCVAE,
    PyTorchWAE.architecture: PyTorchWAE,
    PyTorchConditionalVAE.architecture: PyTorchConditionalVAE,
}
