"""Matrix-level closed forms and the information helpers the metrics share."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import mutual_info_score

from latentlab.core.metrics.dci import dci_from_importance, tie_groups
from latentlab.core.metrics.info import discretize, entropy, mutual_info_matrix
from latentlab.core.metrics.infomec import info_m_c
from latentlab.core.metrics.knn_mi import mutual_info_classif_1d
from latentlab.core.metrics.mig import mig_from_matrix
from latentlab.core.metrics.modularity import modularity_from_matrix
from latentlab.core.metrics.sap import sap_from_matrix


def test_diagonal_importance_gives_full_disentanglement_and_completeness():
    d, c, per_latent, per_factor = dci_from_importance(np.diag([5.0, 2.0, 1.0, 3.0]))
    assert d == pytest.approx(1.0) and c == pytest.approx(1.0)
    assert np.allclose(per_latent, 1.0) and np.allclose(per_factor, 1.0)


def test_empty_code_gives_zero():
    assert dci_from_importance(np.zeros((6, 4)))[:2] == (0.0, 0.0)
    assert dci_from_importance(np.zeros((0, 4)))[:2] == (0.0, 0.0)


def test_stacked_diagonals_halve_completeness_in_closed_form():
    # Every factor shared by two latents: C = 1 - ln2 / ln(#latents), D stays 1.
    r = np.vstack([np.diag(5.0 * np.ones(5))] * 2)
    d, c, _, _ = dci_from_importance(r)
    assert c == pytest.approx(1 - np.log(2) / np.log(10))
    assert d == pytest.approx(1.0)


def test_one_latent_for_two_factors_lowers_disentanglement_in_closed_form():
    r = np.hstack([np.diag(np.ones(10))] * 2)  # 10 latents, 20 factors, each latent explains two factors
    d, c, _, _ = dci_from_importance(r)
    assert d == pytest.approx(1 - np.log(2) / np.log(20))
    assert c == pytest.approx(1.0)


def test_uniform_importance_gives_zero():
    assert dci_from_importance(np.ones((5, 5)))[:2] == pytest.approx((0.0, 0.0), abs=1e-12)


def test_mig_closed_form_and_edge_cases():
    mi = np.array([[1.0, 0.2], [0.4, 0.6], [0.0, 0.1]])
    h = np.array([2.0, 1.0])
    score, gaps, _ = mig_from_matrix(mi, h)
    assert gaps == pytest.approx([0.3, 0.4])
    assert score == pytest.approx(0.35)
    # a constant factor (zero entropy) is dropped, not divided by
    score, gaps, notes = mig_from_matrix(mi, np.array([2.0, 0.0]))
    assert score == pytest.approx(0.3) and np.isnan(gaps[1]) and notes
    # one latent: the gap is to nothing
    assert mig_from_matrix(np.array([[0.5, 1.0]]), np.array([1.0, 2.0]))[0] == pytest.approx(0.5)


def test_modularity_closed_form():
    assert modularity_from_matrix(np.eye(4))[0] == pytest.approx(1.0)
    # equal MI with all K factors: delta = (K - 1) theta^2 / (theta^2 (K - 1)) = 1
    assert modularity_from_matrix(np.ones((3, 4)))[0] == pytest.approx(0.0)
    assert modularity_from_matrix(np.zeros((3, 4)))[0] == 0.0
    per = modularity_from_matrix(np.array([[2.0, 1.0, 0.0]]))[1]
    assert per[0] == pytest.approx(1 - 1.0 / (4.0 * 2))


def test_sap_closed_form():
    scores = np.array([[0.9, 0.1], [0.3, 0.2], [0.1, 0.8]])
    assert sap_from_matrix(scores)[0] == pytest.approx(((0.9 - 0.3) + (0.8 - 0.2)) / 2)


def test_infomec_closed_forms():
    active = np.ones(4, dtype=bool)
    assert info_m_c(np.eye(4), active) == pytest.approx((1.0, 1.0))
    assert info_m_c(np.ones((4, 4)), active) == pytest.approx((0.0, 0.0))
    assert info_m_c(np.eye(4), np.zeros(4, dtype=bool)) == (0.0, 0.0)


def test_discretize_matches_histogram_protocol():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    ours = discretize(z, 20)
    for j in range(3):
        ref = np.digitize(z[:, j], np.histogram(z[:, j], 20)[1][:-1]) - 1  # disentanglement_lib's recipe, 0-based
        assert np.array_equal(ours[:, j], ref)
    assert ours.min() == 0 and ours.max() == 19
    assert np.all(discretize(np.ones((10, 1))) == discretize(np.ones((10, 1)))[0, 0])


def test_plugin_mi_and_entropy_match_sklearn():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 7, (800, 3))
    b = np.stack([a[:, 0] // 2, rng.integers(0, 4, 800)], 1)
    mi = mutual_info_matrix(a, b)
    for j in range(3):
        for k in range(2):
            assert mi[j, k] == pytest.approx(mutual_info_score(a[:, j], b[:, k]), abs=1e-12)
    assert entropy(b) == pytest.approx([mutual_info_score(b[:, k], b[:, k]) for k in range(2)])


def test_knn_mi_equals_sklearn_estimator():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 8, 1500)
    x = np.stack([y + rng.standard_normal(1500), rng.standard_normal(1500), np.round(y / 3.0), y * 0.5,
                  np.full(1500, 2.0)], 1)
    ours = mutual_info_classif_1d(x, y, n_neighbors=10, seed=5)
    ref = mutual_info_classif(x, y, discrete_features=False, n_neighbors=10, random_state=5)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_tie_groups_join_duplicates_and_monotone_copies():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(400), rng.standard_normal(400)
    x = np.stack([a, b, a, np.exp(b), -a], 1)
    groups = sorted(sorted(g.tolist()) for g in tie_groups(x))
    assert groups == [[0, 2, 4], [1, 3]]
