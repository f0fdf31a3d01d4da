"""FactorVAE score (Kim & Mnih 2018), as disentanglement_lib computes it (fresh samples per vote by default;
``sampling=pool`` is the faster, biased variant described in ``sampling.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.metrics.base import View, child_seed
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.metrics.sampling import (
    VOTE_CHUNK,
    FactorPool,
    fixed_factor_batches,
    represent_batches,
    resolve_sampling,
    uniform_factors,
)

DEFAULTS: dict[str, Any] = ABOUT["factorvae"].defaults  # the catalogue holds them: read without this module


def _pool_votes(pool: FactorPool, scale: np.ndarray, active: np.ndarray, k_total: int, n: int, batch: int,
                rng) -> np.ndarray:
    votes = np.zeros((k_total, pool.z.shape[1]), dtype=np.int64)
    labels = rng.integers(0, k_total, size=n)
    za = pool.z[:, active]
    for k in range(k_total):
        count = int((labels == k).sum())
        if not count:
            continue
        sizes_present = pool.values(k)
        vals = sizes_present[rng.integers(0, len(sizes_present), size=count)]
        idx = np.stack([pool.draw(k, v, batch, rng) for v in vals])
        local = np.var(za[idx], axis=1, ddof=1) / scale[active]
        choice = np.flatnonzero(active)[np.argmin(local, axis=1)]
        np.add.at(votes, (k, choice), 1)
    return votes


def _fresh_votes(view: View, scale, active, n, batch, rng, ctx) -> np.ndarray:
    """The reference protocol: per vote a factor k and a fresh batch of factor rows sharing k's value."""
    sizes = np.asarray(view.inputs.factor_sizes)
    votes = np.zeros((len(sizes), len(view.latents)), dtype=np.int64)
    columns = np.flatnonzero(active)
    for a in range(0, n, VOTE_CHUNK):
        ctx.check()
        ks = rng.integers(0, len(sizes), size=min(VOTE_CHUNK, n - a))
        z = represent_batches(view, fixed_factor_batches(sizes, ks, batch, rng))
        local = np.var(z[:, :, active], axis=1, ddof=1) / scale[active]
        np.add.at(votes, (ks, columns[np.argmin(local, axis=1)]), 1)
        ctx.progress((a + len(ks)) / n, f"FactorVAE: {a + len(ks)}/{n} votes")
    return votes


def accuracy(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Majority-vote classifier latent -> factor from the training votes; (train acc, eval acc, classifier)."""
    cls = np.argmax(train_votes, axis=0)
    cols = np.arange(train_votes.shape[1])
    tr = train_votes.sum()
    ev = eval_votes.sum()
    train_acc = float(train_votes[cls, cols].sum() / tr) if tr else 0.0
    eval_acc = float(eval_votes[cls, cols].sum() / ev) if ev else 0.0
    return train_acc, eval_acc, cls


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    sampling, notes = resolve_sampling(view, params["sampling"])
    b, n_train, n_eval = params["batch_size"], params["num_train"], params["num_eval"]
    k = view.inputs.num_factors
    rng = child_seed(view.seed, "factorvae")
    pool_train = view.z_train
    n_var = min(params["num_variance_estimate"], len(pool_train))
    if sampling == "fresh":
        sizes = np.asarray(view.inputs.factor_sizes)
        var_points = view.represent(uniform_factors(sizes, (params["num_variance_estimate"],), rng))
        n_var = len(var_points)
    else:
        var_points = pool_train[rng.choice(len(pool_train), size=n_var, replace=False)]
    global_var = np.var(var_points, axis=0, ddof=1) if len(view.latents) else np.zeros(0)
    active = np.sqrt(global_var) >= params["prune_std"]
    if not active.any():
        notes.append("no latent has a standard deviation above the pruning threshold: score 0")
        zeros = np.zeros((k, len(view.latents)), dtype=np.int64)
        return {"values": {"factorvae": 0.0, "factorvae_train": 0.0},
                "arrays": {"votes": zeros, "global_variance": global_var, "active": active},
                "samples": {"train_votes": 0, "eval_votes": 0, "variance_points": n_var}, "notes": notes}
    if sampling == "pool":
        train_votes = _pool_votes(FactorPool(view.z_train, view.y_train), global_var, active, k, n_train, b, rng)
        ctx.check()
        eval_votes = _pool_votes(FactorPool(view.z_test, view.y_test), global_var, active, k, n_eval, b, rng)
    else:
        split = n_train / (n_train + n_eval)
        train_votes = _fresh_votes(view, global_var, active, n_train, b, rng, ctx.sub(0.0, split))
        eval_votes = _fresh_votes(view, global_var, active, n_eval, b, rng, ctx.sub(split, 1.0))
    train_acc, eval_acc, cls = accuracy(train_votes, eval_votes)
    return {
        "values": {"factorvae": eval_acc, "factorvae_train": train_acc},
        "arrays": {"votes": train_votes.T.copy(), "global_variance": global_var, "active": active,
                   "classifier": cls},  # votes: latents x factors
        "samples": {"train_votes": n_train, "eval_votes": n_eval, "batch_size": b, "variance_points": n_var},
        "notes": notes,
    }
