"""InfoMEC: InfoM(odularity), InfoC(ompactness), InfoE(xplicitness) (Hsu et al. 2023, NeurIPS).

Written against current scikit-learn (the reference code passes keywords that scikit-learn 1.8 removed):
an unregularised logistic regression is ``C=inf`` here.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from latentlab.core.metrics.base import View, parallel_map
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.info import entropy, mutual_info_matrix
from latentlab.core.metrics.knn_mi import mutual_info_classif_1d

DEFAULTS: dict[str, Any] = ABOUT["infomec"].defaults  # the catalogue holds them: read without this module


def _label_encode(y: np.ndarray) -> np.ndarray:
    return np.stack([np.unique(y[:, k], return_inverse=True)[1] for k in range(y.shape[1])], axis=1)


def active_latents(z: np.ndarray, discrete: bool, fraction: float) -> np.ndarray:
    """Continuous latents whose range exceeds ``fraction`` of the largest range; discrete ones with any range."""
    if z.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    rng = np.ptp(z, axis=0)
    if discrete:
        return rng > 0
    return (rng > fraction * rng.max()) & (rng > 0)


def nmi_matrix(z: np.ndarray, s: np.ndarray, discrete: bool, n_neighbors: int, seed: int) -> np.ndarray:
    """(factors x latents) I(s_i; z_j) / H(s_i), kNN estimator for continuous latents, plug-in for discrete.

    The kNN estimate equals scikit-learn's ``mutual_info_classif(..., n_neighbors, random_state=seed)``.
    """
    k, d = s.shape[1], z.shape[1]
    out = np.zeros((k, d))
    if d == 0:
        return out
    h = entropy(s)
    if discrete:
        mi = mutual_info_matrix(_label_encode(np.asarray(z)), s).T
    else:
        std = z.std(axis=0)
        x = (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)
        mi = np.stack([mutual_info_classif_1d(x, s[:, i], n_neighbors, seed) for i in range(k)])
    for i in range(k):
        if h[i] > 0:
            out[i] = np.clip(mi[i] / h[i], 0.0, 1.0)
    return out


def _concentration(rows: np.ndarray) -> np.ndarray:
    """max / sum along the last axis; rows with no information count as spread evenly (the chance level)."""
    total = rows.sum(axis=-1)
    m = rows.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, rows.max(axis=-1) / np.where(total > 0, total, 1.0), 1.0 / m)


def info_m_c(nmi: np.ndarray, active: np.ndarray) -> tuple[float, float]:
    """InfoM and InfoC from the (factors x latents) NMI matrix restricted to active latents."""
    a = nmi[:, active]
    k, la = a.shape
    if la == 0 or k == 0:
        return 0.0, 0.0
    infom = 1.0 if k == 1 else (float(np.mean(_concentration(a.T))) - 1 / k) / (1 - 1 / k)
    infoc = 1.0 if la == 1 else (float(np.mean(_concentration(a))) - 1 / la) / (1 - 1 / la)
    return float(np.clip(infom, 0, 1)), float(np.clip(infoc, 0, 1))


def one_hot(codes: np.ndarray) -> np.ndarray:
    """Discrete latents as one-hot features: one column per value each latent takes (the reference's
    treatment of quantized latents for InfoE, with no standardisation)."""
    cols = [(codes[:, j][:, None] == np.unique(codes[:, j])[None, :]) for j in range(codes.shape[1])]
    return np.concatenate(cols, axis=1).astype(np.float64) if cols else np.zeros((len(codes), 0))


def info_e(z: np.ndarray, s: np.ndarray, max_iter: int, seed: int, n_jobs: int = 2,
           discrete: bool = False) -> np.ndarray:
    """Per factor (H0 - H(s|z)) / H0 with H(s|z) the in-sample log-loss of an unregularised logistic regression
    on the standardised latents, or on their one-hot codes when ``discrete``."""
    out = np.zeros(s.shape[1])
    if z.shape[1] == 0:
        return out
    x = one_hot(z) if discrete else StandardScaler().fit_transform(z)

    def one(i: int) -> float:
        classes = np.unique(s[:, i])
        if len(classes) < 2:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            clf = LogisticRegression(C=np.inf, class_weight="balanced", max_iter=max_iter,
                                     random_state=seed).fit(x, s[:, i])
        h0 = np.log(len(classes))
        hc = log_loss(s[:, i], clf.predict_proba(x), labels=clf.classes_)
        return float(np.clip((h0 - hc) / h0, 0.0, 1.0))

    out[:] = parallel_map(one, range(s.shape[1]), n_jobs)
    return out


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    discrete = view.inputs.discrete_latents and view.representation == "mean"
    z = view.z_train
    if discrete and view.inputs.train.codes is not None:
        z = np.asarray(view.inputs.train.codes)[:, view.latents].astype(np.float64)
    s = _label_encode(view.y_train)
    active = active_latents(z, discrete, params["active_fraction"])
    nmi = nmi_matrix(z, s, discrete, params["n_neighbors"], view.seed)
    ctx.check()
    infom, infoc = info_m_c(nmi, active)
    per_e = info_e(z, s, params["max_iter"], view.seed, params["n_jobs"], discrete=discrete)
    notes = [] if active.any() else ["no active latent: InfoM = InfoC = 0"]
    treatment = ("discrete latents (codes): plug-in MI; one-hot codes for InfoE's logistic regression" if discrete
                 else f"continuous latents: kNN MI (k = {params['n_neighbors']}); standardised latents for InfoE's "
                      "logistic regression")
    return {
        "values": {"infom": infom, "infoc": infoc, "infoe": float(per_e.mean())},
        "arrays": {"nmi": nmi.T.copy(), "active": active, "infoe_per_factor": per_e},  # nmi: latents x factors
        "samples": {"train": len(z)},
        "notes": [treatment, *notes],
    }
