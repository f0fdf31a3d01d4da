"""Per-dimension KL to the prior and the active / mixed / passive classification (Bonheme & Grzes, "Be More Active!")."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.activity import ACTIVE as _ACTIVE
from latentlab.core.activity import ACTIVE_BELOW, MIN_SHARE, classify_activity
from latentlab.core.activity import MIXED as _MIXED
from latentlab.core.activity import PASSIVE as _PASSIVE
from latentlab.core.encode import Encoded
from latentlab.core.metrics.base import MetricUnavailable, View
from latentlab.core.metrics.catalogue import ABOUT

# Integer codes in result arrays (JSON- and heatmap-friendly); LABELS[code] is the name.
ACTIVE, MIXED, PASSIVE = 0, 1, 2
LABELS = (_ACTIVE, _MIXED, _PASSIVE)
DEFAULTS: dict[str, Any] = ABOUT["activity"].defaults  # the catalogue holds them: read without this module


def _codes(act) -> np.ndarray:
    return np.array([LABELS.index(lab) for lab in act.labels], dtype=np.int64)


def classify(variances: np.ndarray, active_below: float = ACTIVE_BELOW,
             min_share: float = MIN_SHARE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, D) posterior variances -> (label codes, mean variance, variance of the variances) per dimension."""
    act = classify_activity(variances, active_below=active_below, min_share=min_share)
    return _codes(act), act.mean_variance, act.variance_of_variance


def classify_encoded(enc: Encoded, active_below: float = ACTIVE_BELOW, min_share: float = MIN_SHARE):
    """The classification for encoded points (label codes, the Activity); deterministic encoders: constant
    dimensions are passive."""
    act = classify_activity(enc.variance, enc.mean, active_below=active_below, min_share=min_share)
    return _codes(act), act


def kl_per_dim(enc: Encoded) -> np.ndarray:
    """Mean over inputs of KL(q(z_j|x) || N(0, 1)) per latent dimension, in nats."""
    if enc.logvar is None:
        raise MetricUnavailable("per-dimension KL needs posterior variances; this encoder is deterministic")
    m = np.asarray(enc.mean, dtype=np.float64)
    lv = np.asarray(enc.logvar, dtype=np.float64)
    return (0.5 * (m**2 + np.exp(lv) - lv - 1.0)).mean(axis=0)


def compute_activity(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    labels, act = classify_encoded(view.inputs.train, params["active_below"], params["min_share"])
    j = view.latents
    labels = labels[j]
    notes = [f"per input: active where the posterior variance is below {params['active_below']:g}; per latent: "
             f"active on all but {params['min_share']:.0%} of inputs -> active, on at most that share -> passive, "
             "else mixed"] if act.active_share is not None else [
        "deterministic encoder: constant latents are passive, the others active"]
    arrays = {"labels": labels, "mean_variance": np.asarray(act.mean_variance[j], dtype=np.float64),
              "variance_of_variance": np.asarray(act.variance_of_variance[j], dtype=np.float64)}
    if act.active_share is not None:
        arrays["active_share"] = np.asarray(act.active_share[j], dtype=np.float64)
    return {
        "values": {"n_active": float((labels == ACTIVE).sum()), "n_mixed": float((labels == MIXED).sum()),
                   "n_passive": float((labels == PASSIVE).sum())},
        "arrays": arrays,
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
