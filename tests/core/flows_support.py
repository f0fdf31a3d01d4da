"""Small models for the flows tests: cheap to decode, with a decoder that visibly reacts to its latents."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from latentlab.core.data.base import FactorDataset
from latentlab.core.model import ModelInfo, Posterior


class LinearDecoderModel(nn.Module):
    """sigmoid(z W) as a 1 x side x side image: every latent direction changes the picture."""

    def __init__(self, latent_dim: int, side: int = 16, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(latent_dim, side * side, generator=g))
        self.side = side
        self.info = ModelInfo(f"linear-{latent_dim}", latent_dim, (1, side, side))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z @ self.w).view(-1, 1, self.side, self.side)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self.w.device)


class BlobDataset(FactorDataset):
    """A bright blob on a dark 16 x 16 canvas; factors posX and posY (8 classes each)."""

    name = "blobs"
    factor_names = ("posX", "posY")
    factor_sizes = (8, 8)
    image_shape = (1, 16, 16)

    def factor_values(self, k: int) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.factor_sizes[k])

    def _render(self, factors: np.ndarray) -> np.ndarray:
        pos = factors / 7.0
        return render_blobs(torch.from_numpy(pos.astype(np.float32))).numpy()


def render_blobs(pos: torch.Tensor) -> torch.Tensor:
    """(n, 2) positions in [0, 1] -> (n, 1, 16, 16) Gaussian blobs centred at 3 + 10 * pos pixels."""
    grid = torch.arange(16, dtype=torch.float32)
    cx = 3 + 10 * pos[:, 0]
    cy = 3 + 10 * pos[:, 1]
    gx = torch.exp(-((grid[None] - cx[:, None]) ** 2) / 4.0)
    gy = torch.exp(-((grid[None] - cy[:, None]) ** 2) / 4.0)
    return (gy[:, :, None] * gx[:, None, :]).unsqueeze(1)


class BlobModel(nn.Module):
    """An oracle model: latent (x, y) renders the blob there, and the encoder reads the blob's centroid back."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device
        self.info = ModelInfo("blob-oracle", 2, (1, 16, 16), dataset="blobs", factor_names=("posX", "posY"))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return render_blobs(z.float().cpu()).to(self.anchor.device)

    def encode(self, x: torch.Tensor) -> Posterior:
        grid = torch.arange(16, dtype=x.dtype, device=x.device)
        mass = x.sum(dim=(1, 2, 3)).clamp_min(1e-6)
        cx = (x.sum(dim=(1, 2)) * grid).sum(dim=1) / mass
        cy = (x.sum(dim=(1, 3)) * grid).sum(dim=1) / mass
        return Posterior(mean=torch.stack([(cx - 3) / 10, (cy - 3) / 10], dim=1))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, 2, generator=generator).to(self.anchor.device)
