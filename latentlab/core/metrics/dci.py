"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018), disentanglement_lib protocol.

Two estimators of the importance matrix R (latents x factors):

- ``gbt``: scikit-learn's GradientBoostingClassifier with its defaults, one per factor, importances from
  ``feature_importances_`` -- exactly what disentanglement_lib does. Multiclass boosting fits one tree per
  class per stage, so dSprites (3 + 6 + 40 + 32 + 32 classes) costs ~11,300 trees: minutes on a CPU.
- ``fast`` (default): the same algorithm -- multinomial deviance, one depth-3 squared-error tree per class
  per stage on the residuals, Newton leaf values, 100 stages at learning rate 0.1, importance = each
  latent's total squared-error reduction -- with the trees grown by scikit-learn's histogram grower on
  latents binned into 255 quantiles (boosting.py). Factors run in parallel processes. Binning is the only
  approximation: where a latent has more than 255 distinct values, split thresholds snap to quantile bin
  edges. benchmarks/metrics_speed.py prints both estimators' D and C side by side; tests pin their
  agreement (within 0.03) on synthetic codes and against the PyPI package disent.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from latentlab.core.metrics.base import View
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.info import normalized_entropy

ESTIMATORS = ("fast", "gbt")
DEFAULTS: dict[str, Any] = ABOUT["dci"].defaults  # the catalogue holds them: read without this module


def dci_from_importance(r: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(latents x factors) importances -> (D, C, per-latent D, per-factor C); all-zero R gives 0."""
    r = np.abs(np.asarray(r, dtype=np.float64))
    d_lat, k = r.shape
    if r.size == 0 or r.sum() <= 0:
        return 0.0, 0.0, np.zeros(d_lat), np.zeros(k)
    per_latent = 1.0 - normalized_entropy(r, axis=1)
    per_factor = 1.0 - normalized_entropy(r, axis=0)
    total = r.sum()
    d = float(np.sum(per_latent * r.sum(axis=1) / total))
    c = float(np.sum(per_factor * r.sum(axis=0) / total))
    return d, c, per_latent, per_factor


def _fit_gbt(x, y, x_test, y_test, seed: int):
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=seed).fit(x, y)
    return (np.abs(model.feature_importances_), float(np.mean(model.predict(x) == y)),
            float(np.mean(model.predict(x_test) == y_test)))


def tie_groups(x: np.ndarray) -> list[np.ndarray]:
    """Groups of columns that no threshold split can tell apart: equal, or monotone images of each other.

    Exact boosting breaks such ties at random at every node, so in expectation it shares their importance
    equally; a histogram grower would always pick the first column. Fitting one column per group and sharing
    the group's importance restores the exact behaviour (it is what makes duplicated latents lower completeness).
    """
    groups: dict[bytes, list[int]] = {}
    for j in range(x.shape[1]):
        dense = np.unique(x[:, j], return_inverse=True)[1].astype(np.int64)
        key = min(dense.tobytes(), (dense.max() - dense).tobytes())
        groups.setdefault(key, []).append(j)
    return [np.asarray(g) for g in groups.values()]


def _fit_fast(x, y, x_test, y_test, seed: int, stages: int, lr: float):
    from threadpoolctl import threadpool_limits

    from latentlab.core.metrics.boosting import boost_importances

    groups = tie_groups(x)
    reps = np.array([g[0] for g in groups])
    # One OpenMP thread per model: the parallelism is over factors, and OpenMP teams on a busy 2-core
    # machine spend more time waiting at barriers than computing on trees this small.
    with threadpool_limits(1, user_api="openmp"):
        gain, acc_train, acc_test = boost_importances(x[:, reps], y, x_test[:, reps], y_test, stages, lr)
    importance = np.zeros(x.shape[1])
    for g, share in zip(groups, gain, strict=True):
        importance[g] = share / len(g)
    return importance, acc_train, acc_test


def _fit_one(estimator, x, y, x_test, y_test, seed, stages, lr):
    if len(np.unique(y)) < 2:
        # One class only: nothing to learn, every prediction right, no latent important.
        return np.zeros(x.shape[1]), 1.0, float(np.mean(y_test == y[0]))
    if estimator == "gbt":
        return _fit_gbt(x, y, x_test, y_test, seed)
    return _fit_fast(x, y, x_test, y_test, seed, stages, lr)


def importance_matrix(z_train, y_train, z_test, y_test, estimator: str = "fast", seed: int = 0, n_jobs: int = 1,
                      stages: int = 100, lr: float = 0.1, ctx=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per factor a boosted-tree classifier on the latents -> (R latents x factors, train acc, test acc)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"DCI estimator must be one of {ESTIMATORS}, got {estimator!r}")
    d, k = z_train.shape[1], y_train.shape[1]
    r = np.zeros((d, k))
    acc_train, acc_test = np.zeros(k), np.zeros(k)
    if d == 0:
        return r, acc_train, acc_test
    # Largest factors first so parallel workers finish together.
    order = sorted(range(k), key=lambda j: -len(np.unique(y_train[:, j])))
    jobs = [(estimator, z_train, y_train[:, j], z_test, y_test[:, j], seed, stages, lr) for j in order]
    n_jobs = max(1, min(n_jobs, k, os.cpu_count() or 1))
    if n_jobs > 1:
        from joblib import Parallel, delayed

        outs = []
        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
        for i, out in enumerate(parallel(delayed(_fit_one)(*job) for job in jobs)):
            outs.append(out)
            if ctx is not None:
                ctx.check()
                ctx.progress((i + 1) / k, f"DCI factor {i + 1}/{k}")
    else:
        outs = []
        for i, job in enumerate(jobs):
            if ctx is not None:
                ctx.check()
            outs.append(_fit_one(*job))
            if ctx is not None:
                ctx.progress((i + 1) / k, f"DCI factor {i + 1}/{k}")
    for j, (imp, a_tr, a_te) in zip(order, outs, strict=True):
        r[:, j], acc_train[j], acc_test[j] = imp, a_tr, a_te
    return r, acc_train, acc_test


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    r, acc_train, acc_test = importance_matrix(
        view.z_train, view.y_train, view.z_test, view.y_test, params["estimator"], view.seed, params["n_jobs"],
        params["fast_stages"], params["fast_learning_rate"], ctx)
    d, c, per_latent, per_factor = dci_from_importance(r)
    return {
        "values": {"dci_disentanglement": d, "dci_completeness": c,
                   "dci_informativeness": float(acc_test.mean()), "dci_informativeness_train": float(acc_train.mean())},
        "arrays": {"importance": r, "disentanglement_per_latent": per_latent, "completeness_per_factor": per_factor,
                   "accuracy_test": acc_test, "accuracy_train": acc_train},
        "samples": {"train": len(view.z_train), "test": len(view.z_test)},
    }
