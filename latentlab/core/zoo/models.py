"""Built-in latent models: the Gaussian-latent VAE family and the quantized-latent autoencoder (QLAE).

Both are plain ``nn.Module``s that satisfy ``LatentModel`` and ``Encodes``; QLAE also satisfies
``Quantized``. Training objectives live in ``objectives.py`` so one network serves every VAE variant.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.model import ModelInfo, Posterior
from latentlab.core.zoo.nets import ConvDecoder, ConvEncoder

LIKELIHOODS = ("bernoulli", "gaussian")


class ZooModel(nn.Module):
    """Shared plumbing: ``info``, the hyper-parameters that rebuild the network, and the device."""

    architecture: str = ""
    prior: str = "normal"  # what sample_prior draws from (ModelInfo.prior of a freshly trained model)
    info: ModelInfo
    hparams: dict[str, Any]
    card: dict[str, Any]  # set by the checkpoint readers, with the notes of what they had to guess
    load_notes: list[str]

    def __init__(self, info: ModelInfo, hparams: dict[str, Any]):
        super().__init__()
        self.info = info
        self.hparams = dict(hparams)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def decode_logits(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z))


class GaussianVAE(ZooModel):
    """Diagonal-Gaussian posterior, standard-normal prior; used by VAE, beta-VAE, beta-TCVAE, FactorVAE,
    DIP-VAE and the annealed-capacity VAE."""

    architecture = "conv_vae"

    def __init__(
        self,
        latent_dim: int = 10,
        channels: int = 1,
        image_size: int = 64,
        base: int = 32,
        hidden: int = 256,
        likelihood: str = "bernoulli",
        info: ModelInfo | None = None,
    ):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        info = info or ModelInfo("conv_vae", latent_dim, (channels, image_size, image_size))
        super().__init__(
            info,
            dict(latent_dim=latent_dim, channels=channels, image_size=image_size, base=base, hidden=hidden,
                 likelihood=likelihood),
        )
        self.likelihood = likelihood
        self.encoder = ConvEncoder(channels, 2 * latent_dim, image_size, base, hidden)
        self.decoder = ConvDecoder(latent_dim, channels, image_size, base, hidden)

    def encode(self, x: Tensor) -> Posterior:
        h = self.encoder(x)
        mean, logvar = h.chunk(2, dim=1)
        # Clamping keeps exp(logvar) finite when a corrupt or adversarial input saturates the encoder.
        return Posterior(mean=mean, logvar=logvar.clamp(-30.0, 20.0))

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.info.latent_dim, generator=generator)
        return z.to(self.device)


class CodebookLatent:
    """Per-dimension scalar codebooks in a ``values`` parameter of shape (D, V): the latent space of QLAE and
    of the quantized InfoWGAN-GP. Satisfies the ``Quantized`` capability."""

    values: nn.Parameter
    device: torch.device

    @property
    def codebooks(self) -> list[Tensor]:
        v = self.values.detach()
        return [torch.sort(v[j]).values for j in range(v.shape[0])]

    def quantize(self, zc: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codebook value per dimension: (quantized values, code indices)."""
        dist = (zc.unsqueeze(-1) - self.values.unsqueeze(0)).abs()  # B, D, V
        codes = dist.argmin(dim=-1)
        zq = torch.gather(self.values.unsqueeze(0).expand(zc.shape[0], -1, -1), 2, codes.unsqueeze(-1)).squeeze(-1)
        return zq, codes

    def snap(self, z: Tensor) -> Tensor:
        """Snap any latent to the codebook grid (what sliders do for quantized models)."""
        return self.quantize(z)[0]

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        d, v = self.values.shape
        return torch.randint(0, v, (n, d), generator=generator)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        codes = self.sample_codes(n, generator)
        vals = self.values.detach().cpu()
        return torch.gather(vals.unsqueeze(0).expand(n, -1, -1), 2, codes.unsqueeze(-1)).squeeze(-1).to(self.device)


class QuantizedAE(CodebookLatent, ZooModel):
    """QLAE (Hsu et al. 2023, "Disentanglement via Latent Quantization").

    Each latent dimension has its own small scalar codebook of learnable values; the encoder's continuous
    output snaps to the nearest value with a straight-through gradient. The prior is uniform over codes.
    """

    architecture = "qlae"
    prior = "codebook"

    def __init__(
        self,
        latent_dim: int = 10,
        channels: int = 1,
        image_size: int = 64,
        base: int = 32,
        hidden: int = 256,
        n_values: int = 10,
        likelihood: str = "bernoulli",
        info: ModelInfo | None = None,
    ):
        if n_values < 2:
            raise ValueError("a codebook needs at least two values")
        info = info or ModelInfo("qlae", latent_dim, (channels, image_size, image_size), prior="codebook")
        super().__init__(
            info,
            dict(latent_dim=latent_dim, channels=channels, image_size=image_size, base=base, hidden=hidden,
                 n_values=n_values, likelihood=likelihood),
        )
        self.likelihood = likelihood
        self.encoder = ConvEncoder(channels, latent_dim, image_size, base, hidden)
        self.decoder = ConvDecoder(latent_dim, channels, image_size, base, hidden)
        # One row per latent dimension; initialised evenly in [-1, 1] as in the paper.
        self.values = nn.Parameter(torch.linspace(-1.0, 1.0, n_values).repeat(latent_dim, 1))

    def encode(self, x: Tensor) -> Posterior:
        zc = self.encoder(x)
        zq, codes = self.quantize(zc)
        return Posterior(mean=zq, logvar=None, codes=codes, extras={"continuous": zc})

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)


NETWORKS: dict[str, type[ZooModel]] = {
    GaussianVAE.architecture: GaussianVAE,
    QuantizedAE.architecture: QuantizedAE,
}
