"""How much each ground-truth factor changes along each direction, and how alike the directions are.

For n base latents (posterior means of dataset samples, or prior samples for a model without an encoder)
each direction moves them by -alpha and +alpha; both images are decoded and their factors read back
(``readout``). Every factor is measured in its own natural unit so that columns are comparable: an
ordinal factor in fractions of its full range (class index / last index), a categorical one in probability
mass moved between its classes (total variation).

``matrix[i, k]`` is the *systematic* change of factor k between the two ends: |mean signed change| for
ordinal factors, the total variation between the mean class distributions for categorical ones. Averaging
before taking the size cancels the readout's per-image noise, which would otherwise make every direction
seem to move every factor a little. ``change`` is the mean per-image size of the change (noise included).
A direction *is* factor k when column k dominates its row (``dominant``, ``purity``);
``column_normalised`` scales each column by its largest entry (each factor's best direction reads 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from latentlab.core.data import FactorDataset
from latentlab.core.directions.base import Direction, DirectionSet, cosine_matrix
from latentlab.core.directions.readout import FactorReadout, build_readout
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import Encodes, LatentModel, device_of


@dataclass
class DirectionEvaluation:
    direction_names: list[str]
    factor_names: list[str]
    matrix: np.ndarray  # (n_dirs, K) systematic change of each factor between -alpha and +alpha
    change: np.ndarray  # (n_dirs, K) mean per-image size of the change (includes readout noise)
    signed: np.ndarray  # (n_dirs, K) mean signed change of ordinal factors (NaN for categorical ones)
    variation: np.ndarray  # (K,) mean change between two random dataset images, same units (a yardstick)
    cosine: np.ndarray  # (n_dirs, n_dirs)
    alpha: float
    n: int
    readout: str
    seed: int

    @property
    def dominant(self) -> list[str]:
        """The factor each direction changes most."""
        return [self.factor_names[int(j)] for j in np.argmax(self.matrix, axis=1)] if len(self.matrix) else []

    @property
    def purity(self) -> np.ndarray:
        """Share of a row's total change taken by its dominant factor (1: one factor only)."""
        tot = self.matrix.sum(1)
        return np.divide(self.matrix.max(1, initial=0.0), tot, out=np.zeros_like(tot), where=tot > 0)

    @property
    def column_normalised(self) -> np.ndarray:
        """``matrix`` with each factor's column divided by its largest entry."""
        top = self.matrix.max(0, initial=0.0)
        return np.divide(self.matrix, top[None], out=np.zeros_like(self.matrix), where=top[None] > 1e-12)

    def row(self, name: str) -> dict[str, float]:
        i = self.direction_names.index(name)
        return dict(zip(self.factor_names, (float(v) for v in self.matrix[i]), strict=True))

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> Any:
            return [[None if not np.isfinite(v) else float(v) for v in r] for r in np.atleast_2d(a)] if a.ndim == 2 \
                else [None if not np.isfinite(v) else float(v) for v in a]

        return {"directions": self.direction_names, "factors": self.factor_names, "matrix": clean(self.matrix),
                "column_normalised": clean(self.column_normalised), "change": clean(self.change),
                "signed": clean(self.signed), "variation": clean(self.variation),
                "cosine": clean(self.cosine), "dominant": self.dominant, "purity": clean(self.purity),
                "alpha": self.alpha, "n": self.n, "readout": self.readout, "seed": self.seed}


def _decode(model: LatentModel, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    dev = device_of(model)
    out = []
    with torch.inference_mode():
        for a in range(0, len(z), batch_size):
            out.append(model.decode(torch.as_tensor(z[a:a + batch_size], device=dev)).float().cpu().numpy())
    return np.concatenate(out)


def evaluate_directions(model: LatentModel, directions: DirectionSet | Sequence[Direction], dataset: FactorDataset, *,
                        n: int = 200, alpha: float = 2.0, readout: FactorReadout | None = None, n_fit: int = 2000,
                        seed: int = 0, ctx: JobContext | None = None) -> DirectionEvaluation:
    """The direction x factor change matrix and the cosine matrix (see the module docstring)."""
    ctx = ensure_context(ctx)
    dirs = list(directions)
    if tuple(model.info.image_shape) != tuple(dataset.image_shape):
        raise ValueError(f"the model makes {model.info.image_shape} images but {dataset.name} has {dataset.image_shape}")
    if alpha <= 0 or n < 2:
        raise ValueError("evaluation needs alpha > 0 and at least two samples")
    if readout is None:
        readout = build_readout(model, dataset, n_fit, seed, ctx.sub(0.0, 0.3))
    ctx.check()
    # Base samples are drawn apart from the readout's fitting samples (another seed).
    factors = dataset.sample_factors(n, np.random.default_rng(seed + 1))
    images = dataset.images(factors)
    if isinstance(model, Encodes):
        from latentlab.core.encode import encode_images

        z0 = encode_images(model, images)[0]
    else:
        z0 = model.sample_prior(n, generator=torch.Generator().manual_seed(seed + 1)).float().cpu().numpy()
    ref = readout.predict(images)
    perm = np.random.default_rng(seed + 2).permutation(n)
    k_f = len(readout.factor_names)
    variation = np.array([readout.distance(k, ref[k], ref[k][perm]).mean() for k in range(k_f)])
    matrix = np.zeros((len(dirs), k_f))
    change = np.zeros((len(dirs), k_f))
    signed = np.full((len(dirs), k_f), np.nan)
    for i, d in enumerate(dirs):
        ctx.check()
        hi = readout.predict(_decode(model, d.apply(z0, alpha)))
        lo = readout.predict(_decode(model, d.apply(z0, -alpha)))
        for k in range(k_f):
            change[i, k] = readout.distance(k, hi[k], lo[k]).mean()
            if readout.categorical[k]:
                matrix[i, k] = 0.5 * np.abs(hi[k].mean(0) - lo[k].mean(0)).sum()
            else:
                signed[i, k] = float((hi[k] - lo[k]).mean())
                matrix[i, k] = abs(signed[i, k])
        ctx.progress(0.3 + 0.7 * (i + 1) / len(dirs), f"evaluated {d.name}")
    vecs = np.stack([d.mean_vector(z0) for d in dirs]) if dirs else np.zeros((0, model.info.latent_dim))
    return DirectionEvaluation([d.name for d in dirs], list(readout.factor_names), matrix, change, signed, variation,
                               cosine_matrix(vecs), float(alpha), n, readout.kind, seed)
