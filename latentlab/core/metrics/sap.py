"""Separated Attribute Predictability (Kumar et al. 2018), as disentanglement_lib computes it for discrete factors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from latentlab.core.metrics.base import View
from latentlab.core.metrics.catalogue import ABOUT

DEFAULTS: dict[str, Any] = ABOUT["sap"].defaults  # the catalogue holds them: read without this module


def sap_from_matrix(scores: np.ndarray) -> tuple[float, np.ndarray]:
    """(latents x factors) predictability -> (mean gap between best and second-best latent, per-factor gaps)."""
    if scores.shape[0] == 0:
        return 0.0, np.zeros(scores.shape[1])
    top = np.sort(scores, axis=0)[::-1]
    second = top[1] if scores.shape[0] > 1 else np.zeros(scores.shape[1])
    gaps = top[0] - second
    return float(gaps.mean()), gaps


def _accuracy(x_train, y_train, x_test, y_test, c: float) -> float:
    if len(np.unique(y_train)) < 2:
        return float(np.mean(y_test == y_train[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LinearSVC(C=c, class_weight="balanced").fit(x_train[:, None], y_train)
    return float(np.mean(clf.predict(x_test[:, None]) == y_test))


def _r2(x, y) -> float:
    """Squared correlation of one latent with one factor (the continuous-factor variant)."""
    vx, vy = np.var(x, ddof=1), np.var(y, ddof=1)
    if vx <= 0 or vy <= 0:
        return 0.0
    return float(np.cov(x, y, ddof=1)[0, 1] ** 2 / (vx * vy))


def score_matrix(z_train, y_train, z_test, y_test, c: float, continuous: bool = False, ctx=None) -> np.ndarray:
    """(latents x factors) predictability of each factor from each single latent.

    Discrete factors (disentanglement_lib's default): test accuracy of a linear SVM with balanced classes;
    a one-feature linear classifier separates few classes of an ordinal factor, so even a perfect code
    scores well below 1 on factors with many classes. Continuous factors: squared correlation (R^2).
    """
    d, k = z_train.shape[1], y_train.shape[1]
    out = np.zeros((d, k))
    for i in range(d):
        for j in range(k):
            if continuous:
                out[i, j] = _r2(z_train[:, i], y_train[:, j].astype(np.float64))
            else:
                out[i, j] = _accuracy(z_train[:, i], y_train[:, j], z_test[:, i], y_test[:, j], c)
        if ctx is not None:
            ctx.check()
            ctx.progress((i + 1) / max(d, 1), f"SAP latent {i + 1}/{d}")
    return out


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    scores = score_matrix(view.z_train, view.y_train, view.z_test, view.y_test, params["C"],
                          params["continuous_factors"], ctx)
    sap, gaps = sap_from_matrix(scores)
    return {
        "values": {"sap": sap},
        "arrays": {"score_matrix": scores, "gap": gaps},
        "samples": {"train": len(view.z_train), "test": len(view.z_test)},
    }
