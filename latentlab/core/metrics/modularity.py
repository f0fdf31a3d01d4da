"""Modularity and Explicitness (Ridgeway & Zemel 2018), as disentanglement_lib computes them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from latentlab.core.metrics.base import View, parallel_map
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.info import discretize, mutual_info_matrix

DEFAULTS: dict[str, Any] = ABOUT["modularity"].defaults  # the catalogue holds them: read without this module


def modularity_from_matrix(mi: np.ndarray) -> tuple[float, np.ndarray]:
    """(latents x factors) MI -> (mean modularity, per-latent modularity); a latent with no MI scores 0."""
    if mi.size == 0:
        return 0.0, np.zeros(mi.shape[0])
    k = mi.shape[1]
    sq = mi**2
    theta2 = sq.max(axis=1)
    if k == 1:
        per = np.where(theta2 > 0, 1.0, 0.0)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = (sq.sum(axis=1) - theta2) / (theta2 * (k - 1))
        per = np.where(theta2 > 0, 1.0 - delta, 0.0)
    return float(per.mean()), per


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """One-vs-rest ROC AUC averaged over the classes that have positives and negatives in ``y``."""
    aucs = []
    for c_idx, c in enumerate(classes):
        pos = y == c
        if pos.all() or not pos.any():
            continue
        aucs.append(roc_auc_score(pos, proba[:, c_idx]))
    return float(np.mean(aucs)) if aucs else 0.5


def explicitness(z_train, y_train, z_test, y_test, seed: int, n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per factor: one-vs-rest ROC AUC of a logistic regression on standardised latents (train, test)."""
    k = y_train.shape[1]
    train, test = np.full(k, 0.5), np.full(k, 0.5)
    if z_train.shape[1] == 0:
        return train, test
    scaler = StandardScaler().fit(z_train)
    xs_train, xs_test = scaler.transform(z_train), scaler.transform(z_test)

    def one(i: int) -> tuple[float, float]:
        if len(np.unique(y_train[:, i])) < 2:
            return 0.5, 0.5
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(random_state=seed).fit(xs_train, y_train[:, i])
        return (_macro_auc(y_train[:, i], clf.predict_proba(xs_train), clf.classes_),
                _macro_auc(y_test[:, i], clf.predict_proba(xs_test), clf.classes_))

    for i, (a, b) in enumerate(parallel_map(one, range(k), n_jobs)):
        train[i], test[i] = a, b
    return train, test


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    mi = mutual_info_matrix(discretize(view.z_train, params["num_bins"]), view.y_train)
    score, per = modularity_from_matrix(mi)
    ctx.check()
    e_train, e_test = explicitness(view.z_train, view.y_train, view.z_test, view.y_test, view.seed, params["n_jobs"])
    return {
        "values": {"modularity": score, "explicitness": float(e_test.mean()),
                   "explicitness_train": float(e_train.mean())},
        "arrays": {"mi": mi, "modularity_per_latent": per, "explicitness_per_factor": e_test},
        "samples": {"train": len(view.z_train), "test": len(view.z_test)},
        "notes": [] if view.z_train.shape[1] else ["no latents: explicitness is chance (0.5)"],
    }
