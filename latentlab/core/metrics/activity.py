"""Per-dimension KL to the prior and the active / mixed / passive classification (Bonheme & Grzes, "Be More Active!")."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.encode import Encoded
from latentlab.core.metrics.base import MetricUnavailable, View

ACTIVE, MIXED, PASSIVE = 0, 1, 2
LABELS = ("active", "mixed", "passive")
DEFAULTS: dict[str, Any] = {"threshold": 0.1}


def classify(variances: np.ndarray, threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, D) posterior variances -> (labels, mean variance, variance of the variances) per dimension.

    passive: the variance barely changes across inputs and stays at the prior's 1 (collapsed);
    active: it barely changes and stays near 0 (the encoder is confident); mixed: anything else.
    """
    v = np.asarray(variances, dtype=np.float64)
    mean = v.mean(axis=0)
    spread = v.var(axis=0)
    stable = spread < threshold
    labels = np.full(v.shape[1], MIXED, dtype=np.int64)
    labels[stable & (np.abs(mean - 1.0) <= threshold)] = PASSIVE
    labels[stable & (mean <= threshold)] = ACTIVE
    return labels, mean, spread


def classify_encoded(enc: Encoded, threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classification for encoded points; deterministic encoders (no variances) have only active latents."""
    var = enc.variance if enc.logvar is not None else np.zeros_like(enc.mean)
    return classify(var, threshold)


def kl_per_dim(enc: Encoded) -> np.ndarray:
    """Mean over inputs of KL(q(z_j|x) || N(0, 1)) per latent dimension, in nats."""
    if enc.logvar is None:
        raise MetricUnavailable("per-dimension KL needs posterior variances; this encoder is deterministic")
    m = np.asarray(enc.mean, dtype=np.float64)
    lv = np.asarray(enc.logvar, dtype=np.float64)
    return (0.5 * (m**2 + np.exp(lv) - lv - 1.0)).mean(axis=0)


def compute_activity(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    labels, mean, spread = classify_encoded(view.inputs.train, params["threshold"])
    labels, mean, spread = labels[view.latents], mean[view.latents], spread[view.latents]
    notes = [] if view.inputs.train.logvar is not None else ["deterministic encoder: every latent is active"]
    return {
        "values": {"n_active": float((labels == ACTIVE).sum()), "n_mixed": float((labels == MIXED).sum()),
                   "n_passive": float((labels == PASSIVE).sum())},
        "arrays": {"labels": labels, "mean_variance": mean, "variance_of_variance": spread},
        "samples": {"train": view.inputs.train.n},
        "notes": notes,
    }


def compute_kl(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    kl = kl_per_dim(view.inputs.train)[view.latents]
    return {
        "values": {"kl_total": float(kl.sum())},
        "arrays": {"kl": kl},
        "samples": {"train": view.inputs.train.n},
    }
