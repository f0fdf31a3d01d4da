"""Unsupervised scores: Gaussian total correlation and mean pairwise mutual information between latents."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.metrics.base import View
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.info import discretize, mutual_info_matrix

DEFAULTS: dict[str, Any] = ABOUT["unsupervised"].defaults  # the catalogue holds them: read without this module


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """KL between N(0, cov) and the product of its marginals, in nats."""
    if cov.shape[0] < 2:
        return 0.0
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(max(0.5 * (np.sum(np.log(np.diag(cov))) - logdet), 0.0))


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    z = view.z_train
    varying = np.ptp(z, axis=0) > 0 if z.shape[1] else np.zeros(0, dtype=bool)
    notes = []
    if (~varying).any():
        notes.append(f"{int((~varying).sum())} constant latent(s) left out of the total correlation")
    zv = z[:, varying]
    cov = np.atleast_2d(np.cov(zv, rowvar=False)) if zv.shape[1] else np.zeros((0, 0))
    tc = gaussian_total_correlation(cov) if zv.shape[1] else 0.0
    d = z.shape[1]
    binned = discretize(z, params["num_bins"])
    mi = mutual_info_matrix(binned, binned) if d else np.zeros((0, 0))
    off = mi[~np.eye(d, dtype=bool)] if d > 1 else np.zeros(0)
    corr = np.corrcoef(zv, rowvar=False) if zv.shape[1] > 1 else np.eye(zv.shape[1])
    return {
        "values": {"gaussian_tc": tc, "mean_pairwise_mi": float(off.mean()) if off.size else 0.0},
        "arrays": {"pairwise_mi": mi, "correlation": np.atleast_2d(corr)},
        "samples": {"train": len(z)},
        "notes": notes,
    }
