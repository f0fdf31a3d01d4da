"""UDR: Unsupervised Disentanglement Ranking (Duan et al., "Unsupervised Model Selection for Variational
Disentangled Representation Learning", ICLR 2020).

Model selection without ground truth. Models trained with the same hyper-parameters and different seeds
agree on a disentangled representation (up to permutation and sign of the latents) far more often than on
an entangled one, so a model that is consistent with its siblings is likely disentangled.

For two models A and B encoding the same N observations, a similarity matrix R (latents of A x latents of
B, entries >= 0) is built, either

- ``spearman``: |Spearman rank correlation| between each latent of A and each latent of B, or
- ``lasso``: |weights| of a Lasso regression (alpha 0.1) predicting A's standardised latents from B's,

and only informative latents take part: those whose mean KL divergence from the prior exceeds 0.01 nats
(I_KL in the paper); encoders without posterior variances use the activity rule of InfoMEC instead (a
latent's range above 1/20 of the largest). Then

    UDR_AB = 1 / (d_A + d_B) * [ sum_b r_b^2 / sum_a R_ab  +  sum_a r_a^2 / sum_b R_ab ]

with r_a = max_b R_ab and r_b = max_a R_ab over informative latents, d_A, d_B the numbers of informative
latents (a row or column of zeros adds 0). A model's UDR is the median of UDR_AB over the other models B of
its group. A one-to-one match (a permutation with sign flips) scores 1 with Spearman and 1 - alpha with Lasso
(Lasso shrinks every weight by alpha on standardised data); unrelated representations score near 0.

disentanglement_lib (``evaluation/udr/metrics/udr.py``) averages the two sums each over its own side
before averaging them; that is the paper's formula when d_A = d_B, which is what it supports (it requires
equal latent sizes). Ours takes models of different sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

VARIANTS = ("spearman", "lasso")
KL_THRESHOLD = 0.01  # nats: the paper's I_KL
ACTIVE_RANGE = 1 / 20  # deterministic encoders: InfoMEC's rule for active latents
LASSO_ALPHA = 0.1
UDR_VERSION = 1  # bump when a change alters the figures (stored results carry it in their key)


def informative_latents(mean: np.ndarray, logvar: np.ndarray | None, kl_threshold: float = KL_THRESHOLD) -> np.ndarray:
    """Boolean mask of the latents that carry information (see the module docstring)."""
    mean = np.asarray(mean, dtype=np.float64)
    if logvar is not None:
        lv = np.asarray(logvar, dtype=np.float64)
        kl = 0.5 * np.mean(mean**2 + np.exp(lv) - lv - 1.0, axis=0)
        return kl > kl_threshold
    span = mean.max(axis=0) - mean.min(axis=0) if len(mean) else np.zeros(mean.shape[1])
    top = float(span.max()) if span.size else 0.0
    return span > ACTIVE_RANGE * top if top > 0 else np.zeros(mean.shape[1], dtype=bool)


def _standardise(z: np.ndarray, keep: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    sd = z.std(axis=0)
    out = np.where(sd > 0, (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)
    return out * keep[None, :]  # uninformative latents take no part (not even as regressors)


def similarity(a: np.ndarray, b: np.ndarray, variant: str, keep_a: np.ndarray | None = None,
               keep_b: np.ndarray | None = None, alpha: float = LASSO_ALPHA, seed: int = 0) -> np.ndarray:
    """R (latents of ``a`` x latents of ``b``, >= 0) for the same observations encoded by two models."""
    if variant not in VARIANTS:
        raise ValueError(f"UDR variant must be one of {VARIANTS}, got {variant!r}")
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"both models must encode the same observations (at least 3), got {len(a)} and {len(b)}")
    keep_a = np.ones(a.shape[1], bool) if keep_a is None else np.asarray(keep_a, bool)
    keep_b = np.ones(b.shape[1], bool) if keep_b is None else np.asarray(keep_b, bool)
    za, zb = _standardise(a, keep_a), _standardise(b, keep_b)
    if variant == "spearman":
        ra, rb = (_standardise(rankdata(z, axis=0), k) for z, k in ((za, keep_a), (zb, keep_b)))
        return np.abs(ra.T @ rb) / len(a)  # Pearson correlation of ranks; a constant latent gives 0
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=alpha, random_state=seed)
    model.fit(zb, za)
    return np.abs(np.atleast_2d(model.coef_))  # (targets = latents of a, features = latents of b)


def pair_score(r: np.ndarray, keep_a: np.ndarray, keep_b: np.ndarray) -> float:
    """UDR_AB from the similarity matrix, over informative latents only."""
    sub = np.asarray(r, dtype=np.float64)[np.asarray(keep_a, bool)][:, np.asarray(keep_b, bool)]
    d_a, d_b = sub.shape
    if d_a == 0 or d_b == 0:
        return 0.0
    row_sum, col_sum = sub.sum(axis=1), sub.sum(axis=0)
    rows = np.where(row_sum > 0, sub.max(axis=1) ** 2 / np.where(row_sum > 0, row_sum, 1.0), 0.0).sum()
    cols = np.where(col_sum > 0, sub.max(axis=0) ** 2 / np.where(col_sum > 0, col_sum, 1.0), 0.0).sum()
    return float((rows + cols) / (d_a + d_b))


@dataclass
class Representation:
    """One model's encoding of the group's shared observations."""

    mean: np.ndarray  # (N, D)
    logvar: np.ndarray | None = None

    @property
    def informative(self) -> np.ndarray:
        return informative_latents(self.mean, self.logvar)


@dataclass
class UDRResult:
    variant: str
    scores: np.ndarray  # (P,) each model's UDR: the median over the others
    pairwise: np.ndarray  # (P, P) UDR_AB with A the row, NaN on the diagonal
    informative: list[np.ndarray] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


def udr(reps: list[Representation], variant: str = "spearman", alpha: float = LASSO_ALPHA, seed: int = 0) -> UDRResult:
    """Each model's UDR within one group (same hyper-parameters, different seeds); needs two models or more."""
    if len(reps) < 2:
        raise ValueError("UDR compares models with each other: give at least two of the same hyper-parameters")
    keep = [r.informative for r in reps]
    p = len(reps)
    pairwise = np.full((p, p), np.nan)
    for i in range(p):
        for j in range(p):
            if i != j:
                r = similarity(reps[i].mean, reps[j].mean, variant, keep[i], keep[j], alpha, seed)
                pairwise[i, j] = pair_score(r, keep[i], keep[j])
    scores = np.array([np.median(np.delete(pairwise[i], i)) for i in range(p)])
    params = {"variant": variant, "kl_threshold": KL_THRESHOLD, "version": UDR_VERSION}
    if variant == "lasso":
        params["alpha"] = alpha
    return UDRResult(variant, scores, pairwise, keep, params)
