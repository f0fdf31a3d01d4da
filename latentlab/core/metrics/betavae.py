"""BetaVAE score (Higgins et al. 2017), as disentanglement_lib computes it (fresh samples per point by default;
``sampling=pool`` is the faster, biased variant described in ``sampling.py``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from latentlab.core.metrics.base import View, child_seed
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.sampling import (
    VOTE_CHUNK,
    FactorPool,
    represent_batches,
    resolve_sampling,
    uniform_factors,
)

DEFAULTS: dict[str, Any] = ABOUT["betavae"].defaults  # the catalogue holds them: read without this module


def _pool_features(pool: FactorPool, num_factors: int, n: int, batch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Each point: a factor k, ``batch`` pairs sharing factor k, feature = mean |z1 - z2|."""
    labels = rng.integers(0, num_factors, size=n)
    feats = np.zeros((n, pool.z.shape[1]))
    for k in range(num_factors):
        rows = np.flatnonzero(labels == k)
        if not len(rows):
            continue
        first = rng.integers(0, len(pool.z), size=(len(rows), batch))
        vals = pool.y[first, k]
        second = np.empty_like(first)
        for v in np.unique(vals):
            mask = vals == v
            members = pool.members(k, v)
            second[mask] = members[rng.integers(0, len(members), size=int(mask.sum()))]
        feats[rows] = np.abs(pool.z[first] - pool.z[second]).mean(axis=1)
    return feats, labels


def _fresh_features(view: View, n: int, batch: int, rng, ctx) -> tuple[np.ndarray, np.ndarray]:
    """The reference protocol: per point a factor k and two fresh batches of factor rows sharing factor k."""
    sizes = np.asarray(view.inputs.factor_sizes)
    labels = rng.integers(0, len(sizes), size=n)
    feats = np.zeros((n, len(view.latents)))
    for a in range(0, n, VOTE_CHUNK):
        ctx.check()
        ks = labels[a : a + VOTE_CHUNK]
        f1 = uniform_factors(sizes, (len(ks), batch), rng)
        f2 = uniform_factors(sizes, (len(ks), batch), rng)
        f2[np.arange(len(ks)), :, ks] = f1[np.arange(len(ks)), :, ks]
        z = represent_batches(view, np.concatenate([f1, f2], axis=1))
        feats[a : a + len(ks)] = np.abs(z[:, :batch] - z[:, batch:]).mean(axis=1)
        ctx.progress((a + len(ks)) / n, f"BetaVAE: {a + len(ks)}/{n} points")
    return feats, labels


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    sampling, notes = resolve_sampling(view, params["sampling"])
    k = view.inputs.num_factors
    b, n_train, n_eval = params["batch_size"], params["num_train"], params["num_eval"]
    rng = child_seed(view.seed, "betavae")
    if sampling == "pool":
        x_train, y_train = _pool_features(FactorPool(view.z_train, view.y_train), k, n_train, b, rng)
        x_eval, y_eval = _pool_features(FactorPool(view.z_test, view.y_test), k, n_eval, b, rng)
        samples = {"pool_train": len(view.z_train), "pool_test": len(view.z_test)}
    else:
        x_train, y_train = _fresh_features(view, n_train, b, rng, ctx.sub(0.0, n_train / (n_train + n_eval)))
        x_eval, y_eval = _fresh_features(view, n_eval, b, rng, ctx.sub(n_train / (n_train + n_eval), 1.0))
        samples = {"fresh_images": 2 * b * (n_train + n_eval)}
    ctx.check()
    if x_train.shape[1] == 0 or len(np.unique(y_train)) < 2:
        # Nothing to learn from: the classifier can only guess the most frequent factor.
        guess = np.bincount(y_train, minlength=k).argmax()
        train_acc, eval_acc = float(np.mean(y_train == guess)), float(np.mean(y_eval == guess))
        coef = np.zeros((k, x_train.shape[1]))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(random_state=view.seed).fit(x_train, y_train)
        train_acc = float(np.mean(clf.predict(x_train) == y_train))
        eval_acc = float(np.mean(clf.predict(x_eval) == y_eval))
        coef = clf.coef_ if clf.coef_.shape[0] == k else np.zeros((k, x_train.shape[1]))
    return {
        "values": {"betavae": eval_acc, "betavae_train": train_acc},
        "arrays": {"classifier_weights": coef.T.copy()},  # latents x factors
        "samples": {"train_votes": n_train, "eval_votes": n_eval, "batch_size": b, **samples},
        "notes": notes,
    }
