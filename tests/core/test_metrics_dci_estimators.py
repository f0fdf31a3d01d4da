"""The fast DCI estimator against scikit-learn's GradientBoostingClassifier (disentanglement_lib's DCI)."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.metrics.dci import dci_from_importance, importance_matrix

from .metric_fixtures import rotation


def noisy_code(kind: str, seed: int, n: int = 600, sizes=(4, 3, 5)):
    rng = np.random.default_rng(seed)
    k = len(sizes)
    w = {"identity": np.eye(k), "duplicated": np.vstack([np.eye(k), np.eye(k)]),
         "rotated": rotation(k, seed), "partial": np.array([[1.0, 0.5, 0], [0, 1.0, 0.0], [0.3, 0, 1.0], [0, 0, 0.2]])}[kind]

    def draw(m):
        y = np.stack([rng.integers(0, s, m) for s in sizes], 1)
        z = (y / (np.asarray(sizes) - 1)) @ w.T
        if kind != "duplicated":
            z = z + 0.15 * rng.standard_normal(z.shape)
        return z, y

    return (*draw(n), *draw(n // 2))


# (kind, n): the noisy identity code is checked where every latent value gets its own bin (n <= 255);
# with more points the 255 quantile bins cost it a few hundredths of D (see the benchmark's fixture table).
@pytest.mark.parametrize("kind,n", [("identity", 250), ("duplicated", 600), ("rotated", 600), ("partial", 600)])
def test_fast_dci_within_003_of_gradient_boosting(kind, n):
    z, y, zt, yt = noisy_code(kind, seed=1, n=n)
    r_ref, acc_ref, _ = importance_matrix(z, y, zt, yt, "gbt", seed=0)
    r_fast, acc_fast, _ = importance_matrix(z, y, zt, yt, "fast", seed=0)
    d_ref, c_ref, _, _ = dci_from_importance(r_ref)
    d_fast, c_fast, _, _ = dci_from_importance(r_fast)
    assert abs(d_fast - d_ref) < 0.03, (d_fast, d_ref)
    assert abs(c_fast - c_ref) < 0.03, (c_fast, c_ref)
    assert np.abs(acc_fast - acc_ref).max() < 0.1  # the same boosted model, up to binning


def test_binary_factor_and_single_class_factor():
    rng = np.random.default_rng(0)
    y = np.stack([rng.integers(0, 2, 400), np.zeros(400, int)], 1)
    z = np.stack([y[:, 0] + 0.3 * rng.standard_normal(400), rng.standard_normal(400)], 1)
    for est in ("fast", "gbt"):
        r, acc, acc_test = importance_matrix(z, y, z, y, est)
        assert r[0, 0] > 0.8 and np.all(r[:, 1] == 0) and acc[1] == 1.0, est
