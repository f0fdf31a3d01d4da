"""Reading ground-truth factors back from images, to measure what moving along a direction changes.

With an encoder: the image is re-encoded and a k-nearest-neighbour predictor, fitted on the posterior means
of dataset samples with known factors, gives each factor (deterministic, no training). Without one (a GAN):
a small CNN is trained on dataset images to predict the factors. Ordinal factors are predicted as a value
in [0, 1] (class index over the last index); categorical ones as class probabilities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentlab.core.data import FactorDataset
from latentlab.core.directions.labels import categorical_class_names
from latentlab.core.encode import encode_factors, encode_images
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import Encodes, LatentModel, device_of

log = logging.getLogger(__name__)


@dataclass
class FactorReadout:
    """Predicts every factor of ``dataset`` from (n, C, H, W) images in [0, 1]."""

    kind: str  # "encoder" | "image-predictor"
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    categorical: tuple[bool, ...]
    _predict: Any

    def predict(self, images: np.ndarray) -> list[np.ndarray]:
        """One array per factor: (n,) values in [0, 1] for ordinal factors, (n, C) probabilities otherwise."""
        return self._predict(np.asarray(images, dtype=np.float32))

    def distance(self, k: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-sample change of factor ``k`` between predictions: |a - b|, or total variation for classes."""
        if self.categorical[k]:
            return 0.5 * np.abs(a - b).sum(1)
        return np.abs(a - b)


def _targets(dataset: FactorDataset, factors: np.ndarray, categorical: tuple[bool, ...]) -> list[np.ndarray]:
    out = []
    for k, size in enumerate(dataset.factor_sizes):
        f = factors[:, k]
        out.append(f if categorical[k] else f / max(1, size - 1))
    return out


def encoder_readout(model: LatentModel, dataset: FactorDataset, n: int = 2000, seed: int = 0, neighbours: int = 10,
                    ctx: JobContext | None = None) -> FactorReadout:
    """kNN predictors of each factor from the posterior means of ``n`` encoded dataset samples."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    ctx = ensure_context(ctx)
    categorical = tuple(categorical_class_names(dataset, k) is not None for k in range(dataset.num_factors))
    factors = dataset.sample_factors(n, np.random.default_rng(seed))
    enc = encode_factors(model, dataset, factors, ctx=ctx)
    k = min(neighbours, n)
    models = []
    for j, t in enumerate(_targets(dataset, factors, categorical)):
        m = KNeighborsClassifier(k) if categorical[j] else KNeighborsRegressor(k)
        models.append(m.fit(enc.mean, t))

    def predict(images: np.ndarray) -> list[np.ndarray]:
        z, _, _ = encode_images(model, images)
        out = []
        for j, m in enumerate(models):
            if categorical[j]:
                p = np.zeros((len(z), dataset.factor_sizes[j]))
                p[:, m.classes_] = m.predict_proba(z)
                out.append(p)
            else:
                out.append(m.predict(z))
        return out

    return FactorReadout("encoder", tuple(dataset.factor_names), tuple(dataset.factor_sizes), categorical, predict)


def image_readout(dataset: FactorDataset, steps: int = 600, batch_size: int = 64, seed: int = 0,
                  device: str | torch.device = "cpu", base: int = 8, hidden: int = 64,
                  ctx: JobContext | None = None) -> FactorReadout:
    """A small CNN trained on dataset images to predict every factor (for models without an encoder)."""
    from latentlab.core.zoo.nets import ConvEncoder

    ctx = ensure_context(ctx)
    categorical = tuple(categorical_class_names(dataset, k) is not None for k in range(dataset.num_factors))
    widths = [s if c else 1 for s, c in zip(dataset.factor_sizes, categorical, strict=True)]
    c, h, _ = dataset.image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = ConvEncoder(c, sum(widths), h, base, hidden).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    bounds = np.cumsum([0, *widths])

    def loss_of(out: torch.Tensor, targets: list[np.ndarray]) -> torch.Tensor:
        total = out.new_zeros(())
        for j, t in enumerate(targets):
            o = out[:, bounds[j]:bounds[j + 1]]
            tt = torch.as_tensor(t, device=out.device)
            total = total + (F.cross_entropy(o, tt.long()) if categorical[j] else 12.0 * F.mse_loss(o[:, 0], tt.float()))
        return total

    net.train()
    for step in range(steps):
        if step % 10 == 0:
            ctx.check()
            ctx.progress(step / steps, f"factor predictor: step {step}/{steps}")
        f = dataset.sample_factors(batch_size, rng)
        x = torch.from_numpy(dataset.images(f)).to(device)
        loss = loss_of(net(x), _targets(dataset, f, categorical))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()

    def predict(images: np.ndarray) -> list[np.ndarray]:
        outs = []
        with torch.inference_mode():
            for a in range(0, len(images), 256):
                outs.append(net(torch.as_tensor(images[a:a + 256], device=device)).float().cpu())
        o = torch.cat(outs)
        return [torch.softmax(o[:, bounds[j]:bounds[j + 1]], 1).numpy() if categorical[j]
                else o[:, bounds[j]].clamp(0, 1).numpy() for j in range(len(widths))]

    ctx.progress(1.0, "factor predictor trained")
    return FactorReadout("image-predictor", tuple(dataset.factor_names), tuple(dataset.factor_sizes), categorical, predict)


def build_readout(model: LatentModel, dataset: FactorDataset, n: int = 2000, seed: int = 0,
                  ctx: JobContext | None = None, image_steps: int = 600) -> FactorReadout:
    """The encoder readout when the model encodes, else a CNN factor predictor trained on the dataset."""
    if isinstance(model, Encodes):
        return encoder_readout(model, dataset, n, seed, ctx=ctx)
    log.info("%s has no encoder; training a factor predictor on %s images", model.info.name, dataset.name)
    return image_readout(dataset, image_steps, seed=seed, device=device_of(model), ctx=ctx)
