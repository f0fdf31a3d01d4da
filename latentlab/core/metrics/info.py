"""Plug-in information measures on discretised data (nats), shared by MIG, Modularity and the unsupervised scores."""

from __future__ import annotations

import numpy as np

NUM_BINS = 20  # disentanglement_lib's histogram discretisation


def discretize(z: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Per column, equal-width bins between its min and max on these points -> integer labels 0..num_bins-1."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"expected a 2-D array (n, D), got shape {z.shape}")
    out = np.zeros(z.shape, dtype=np.int64)
    for j in range(z.shape[1]):
        col = z[:, j]
        edges = np.histogram_bin_edges(col, bins=num_bins)
        # Interior edges only, as np.digitize(x, edges[:-1]) - 1: the maximum falls in the last bin.
        out[:, j] = np.digitize(col, edges[1:-1])
    return out


def _labels(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary integer labels to 0..m-1 (m = number of distinct values)."""
    uniq, inv = np.unique(x, return_inverse=True)
    return inv.astype(np.int64), len(uniq)


def mutual_info_pair(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats for two integer label vectors (the plug-in estimator)."""
    la, na = _labels(a)
    lb, nb = _labels(b)
    if na < 2 or nb < 2:
        return 0.0  # a constant carries no information (exactly, not up to rounding)
    n = len(la)
    joint = np.bincount(la * nb + lb, minlength=na * nb).reshape(na, nb).astype(np.float64) / n
    pa = joint.sum(axis=1, keepdims=True)
    pb = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    mi = float(np.sum(joint[nz] * (np.log(joint[nz]) - np.log((pa @ pb)[nz]))))
    return mi if mi > 1e-12 else 0.0  # rounding leaves +-1e-16 where there is nothing


def mutual_info_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, D) and (n, K) integer labels -> (D, K) plug-in mutual information in nats."""
    a = np.asarray(a)
    b = np.asarray(b)
    out = np.zeros((a.shape[1], b.shape[1]))
    for j in range(a.shape[1]):
        for k in range(b.shape[1]):
            out[j, k] = mutual_info_pair(a[:, j], b[:, k])
    return out


def entropy(b: np.ndarray) -> np.ndarray:
    """(n, K) integer labels -> per-column plug-in entropy in nats."""
    b = np.asarray(b)
    out = np.zeros(b.shape[1])
    for k in range(b.shape[1]):
        _, counts = np.unique(b[:, k], return_counts=True)
        p = counts / counts.sum()
        out[k] = float(-np.sum(p * np.log(p)))
    return out


def normalized_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of distributions along ``axis`` (rows of non-negative weights), in base = their length.

    Zero rows give entropy 1 (no information), so ``1 - entropy`` is 0 for them; length-1 axes give 0.
    """
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[axis]
    total = p.sum(axis=axis, keepdims=True)
    if m <= 1:
        return np.where(np.squeeze(total, axis=axis) > 0, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / m)
        h = -np.sum(np.where(q > 0, q * np.log(q), 0.0), axis=axis) / np.log(m)
    return np.clip(h, 0.0, 1.0)
