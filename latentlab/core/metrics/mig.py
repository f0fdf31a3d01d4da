"""Mutual Information Gap (Chen et al. 2018), as disentanglement_lib computes it."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.metrics.base import View
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.info import discretize, entropy, mutual_info_matrix

DEFAULTS: dict[str, Any] = ABOUT["mig"].defaults  # the catalogue holds them: read without this module


def mig_from_matrix(mi: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray, list[str]]:
    """MIG from a (latents x factors) MI matrix and factor entropies -> (score, per-factor gaps, notes)."""
    notes = []
    keep = h > 0
    if not keep.all():
        notes.append(f"{int((~keep).sum())} constant factor(s) dropped (zero entropy)")
    gaps = np.full(len(h), np.nan)
    if mi.shape[0] == 0 or not keep.any():
        return 0.0, np.where(keep, 0.0, np.nan), notes + ["no latents or no varying factors: MIG = 0"]
    top = np.sort(mi, axis=0)[::-1]
    second = top[1] if mi.shape[0] > 1 else np.zeros(mi.shape[1])
    if mi.shape[0] == 1:
        notes.append("one latent only: the second-largest MI is taken as 0")
    gaps[keep] = (top[0, keep] - second[keep]) / h[keep]
    return float(np.mean(gaps[keep])), gaps, notes


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    z = view.z_train
    y = view.y_train
    mi = mutual_info_matrix(discretize(z, params["num_bins"]), y)
    h = entropy(y)
    score, gaps, notes = mig_from_matrix(mi, h)
    best = np.argmax(mi, axis=0) if mi.shape[0] else np.zeros(mi.shape[1], dtype=int)
    return {
        "values": {"mig": score},
        "arrays": {"mi": mi, "factor_entropy": h, "gap": gaps, "best_latent": view.latents[best] if len(view.latents) else best},
        "samples": {"train": len(z)},
        "notes": notes,
    }
