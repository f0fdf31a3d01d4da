"""Synthetic factor datasets and "models" for metric tests: the images are the factors themselves.

A ``LinearCode`` model maps the K factor values (scaled to [-1, 1]) through a fixed matrix: the identity
(a perfectly disentangled code), a rotation (a mixed code), duplicated columns, or zeros (constant).
Encoding is a matrix product, so a metric test costs milliseconds, not a network's forward passes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from latentlab.core.data import FactorDataset
from latentlab.core.encode import Encoded
from latentlab.core.metrics import MetricInputs
from latentlab.core.model import ModelInfo, Posterior


class FactorImages(FactorDataset):
    """K uniform factors; the "image" of a factor row is the row itself, scaled to [0, 1]."""

    name = "synthetic"

    def __init__(self, sizes: tuple[int, ...] = (10,) * 10):
        self.factor_sizes = tuple(sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(sizes)))
        self.image_shape = (1, 1, len(sizes))

    def factor_values(self, k: int) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.factor_sizes[k])

    def _render(self, factors: np.ndarray) -> np.ndarray:
        vals = factors / (np.asarray(self.factor_sizes) - 1)
        return vals.astype(np.float32)[:, None, None, :]


class LinearCode(nn.Module):
    """z = W (2 x - 1); posterior variance ``var`` on coding latents, 1 on ``passive`` ones (which output 0)."""

    def __init__(self, weight: np.ndarray, var: float = 1e-3, passive: int = 0, name: str = "linear"):
        super().__init__()
        w = np.asarray(weight, dtype=np.float32)
        self.weight = nn.Parameter(torch.from_numpy(w), requires_grad=False)
        self.var = var
        self.passive = passive
        d = w.shape[0] + passive
        self.info = ModelInfo(name, d, (1, 1, w.shape[1]), dataset="synthetic")

    def encode(self, x: torch.Tensor) -> Posterior:
        v = 2 * x.flatten(1) - 1
        z = v @ self.weight.T
        lv = torch.full_like(z, float(np.log(self.var)))
        if self.passive:
            z = torch.cat([z, torch.zeros(len(z), self.passive)], 1)
            lv = torch.cat([lv, torch.zeros(len(lv), self.passive)], 1)
        return Posterior(mean=z, logvar=lv)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, : self.weight.shape[1]].view(-1, *self.info.image_shape)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.info.latent_dim, generator=generator)


def rotation(k: int, seed: int = 0) -> np.ndarray:
    """An orthogonal matrix that mixes every factor into every latent with equal weight where it can.

    For k a power of two, a normalised Hadamard matrix (all entries +-1/sqrt(k)): the most mixed code there
    is. Otherwise a random rotation.
    """
    if k & (k - 1) == 0:
        from scipy.linalg import hadamard

        return hadamard(k) / np.sqrt(k)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))
    return q


def inputs_from_arrays(z_train, y_train, z_test, y_test, sizes, logvar: float = np.log(1e-3)) -> MetricInputs:
    """MetricInputs straight from latents and factors (no model)."""
    def enc(z, y):
        z = np.asarray(z, dtype=np.float32)
        return Encoded(z, np.full_like(z, logvar), np.asarray(y, dtype=np.int64))
    return MetricInputs(enc(z_train, y_train), enc(z_test, y_test), tuple(sizes),
                        tuple(f"f{k}" for k in range(len(sizes))))


def code_inputs(kind: str, n: int = 2000, sizes=(10,) * 10, seed: int = 0, noise: float = 0.0) -> MetricInputs:
    """Identity / rotated / duplicated / constant codes of uniform factors, as MetricInputs."""
    rng = np.random.default_rng(seed)
    k = len(sizes)
    y_train = np.stack([rng.integers(0, s, n) for s in sizes], 1)
    y_test = np.stack([rng.integers(0, s, n // 2) for s in sizes], 1)
    w = {"identity": np.eye(k), "rotated": rotation(k, seed), "duplicated": np.vstack([np.eye(k), np.eye(k)]),
         "constant": np.zeros((k, k))}[kind]

    def code(y):
        v = 2 * y / (np.asarray(sizes) - 1) - 1
        z = v @ w.T
        return z + noise * rng.standard_normal(z.shape) if noise else z

    return inputs_from_arrays(code(y_train), y_train, code(y_test), y_test, sizes)


# A partly mixed, noisy code of three factors in four latents: BetaVAE and FactorVAE scores well below 1, with
# a seed-to-seed spread, so a protocol's bias shows against a reference implementation.
PROTOCOL_SIZES = (4, 3, 5)
PROTOCOL_W = np.array([[1.0, 0.8, 0.0], [0.6, 1.0, 0.3], [0.3, 0.0, 1.0], [0.0, 0.5, 0.3]])
PROTOCOL_VAR = 0.5


def protocol_model() -> LinearCode:
    return LinearCode(PROTOCOL_W, var=PROTOCOL_VAR, name="protocol")


def posterior_sampler(model: LinearCode, seed: int):
    """observations -> one draw z ~ q(z|x) each (the "sampled" representation a reference implementation queries)."""
    from latentlab.core.encode import encode_images

    rng = np.random.default_rng(seed)

    def represent(obs):
        m, lv, _ = encode_images(model, np.asarray(obs))
        return m + rng.standard_normal(m.shape) * np.exp(0.5 * lv)

    return represent


def seed_spread(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1))
