"""UDR (Duan et al. 2020) on planted cases: seeds that found the same representation up to permutation and sign
agree, unrelated ones do not, and only informative latents count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from latentlab.core.sweep.udr import (
    LASSO_ALPHA,
    Representation,
    informative_latents,
    pair_score,
    similarity,
    udr,
)

CONFIDENT = -6.0  # log-variance of a posterior far from the prior: an informative latent


def _latents(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def _permuted(z: np.ndarray, seed: int, monotone=lambda x: x) -> np.ndarray:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(z.shape[1])
    sign = rng.choice([-1.0, 1.0], z.shape[1])
    return monotone(z[:, perm] * sign)


def _rep(z: np.ndarray) -> Representation:
    return Representation(z, np.full(z.shape, CONFIDENT))


def test_spearman_permutation_with_sign_flips_scores_near_one_and_unrelated_near_zero():
    z = _latents(10000, 6, 0)
    same = _permuted(z, 1, monotone=lambda x: np.tanh(x) * 3 + 1)  # any monotone map keeps the ranks
    other = _latents(10000, 6, 2)
    res = udr([_rep(z), _rep(same), _rep(other)], "spearman")
    assert res.pairwise[0, 1] > 0.95 and res.pairwise[1, 0] == pytest.approx(res.pairwise[0, 1])
    assert res.pairwise[0, 2] < 0.03 and res.pairwise[2, 1] < 0.03
    # Each model's UDR is the median over its two peers.
    assert res.scores[0] == pytest.approx(np.median([res.pairwise[0, 1], res.pairwise[0, 2]]))


def test_spearman_at_the_reference_size_is_lowered_only_by_chance_correlations():
    # 1,000 points (disentanglement_lib's default): independent latents correlate by ~1/sqrt(n) by chance, and
    # each of a matched row's 5 other entries adds that to its denominator.
    z = _latents(1000, 6, 3)
    score = udr([_rep(z), _rep(_permuted(z, 4))], "spearman").scores[0]
    chance = np.abs(similarity(z, _latents(1000, 6, 5), "spearman")).mean()
    assert 1 / (1 + 5 * 2 * chance) < score < 1.0


def test_lasso_on_an_exactly_decorrelated_representation_is_one_minus_alpha():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2000, 5))
    q, _ = np.linalg.qr(x - x.mean(0))  # centred and exactly orthogonal columns
    z = q * np.sqrt(len(q))
    b = _permuted(z, 7) * 2.5 + 4.0  # a linear map: what the Lasso variant can see
    res = udr([_rep(z), _rep(b)], "lasso")
    # On standardised orthogonal features Lasso shrinks every weight by alpha and leaves the rest at zero.
    assert res.scores == pytest.approx([1 - LASSO_ALPHA] * 2, abs=1e-6)
    assert udr([_rep(z), _rep(_latents(2000, 5, 8))], "lasso").scores[0] < 0.05


def test_our_spearman_matrix_is_scipys():
    a, b = _latents(300, 3, 9), _latents(300, 4, 10) ** 3
    ours = similarity(a, b, "spearman")
    for i in range(3):
        for j in range(4):
            assert ours[i, j] == pytest.approx(abs(spearmanr(a[:, i], b[:, j])[0]), abs=1e-9)


def test_uninformative_latents_take_no_part():
    z = _latents(3000, 4, 11)
    collapsed = np.concatenate([z, np.zeros((3000, 2))], axis=1)  # two latents at the prior: KL = 0
    logvar = np.concatenate([np.full((3000, 4), CONFIDENT), np.zeros((3000, 2))], axis=1)
    a = Representation(collapsed, logvar)
    assert informative_latents(a.mean, a.logvar).tolist() == [True] * 4 + [False] * 2
    b = _rep(_permuted(z, 12))
    full = udr([_rep(z), b], "spearman").scores[0]
    assert udr([a, b], "spearman").scores[0] == pytest.approx(full)
    # Different sizes are fine (disentanglement_lib needs equal ones).
    assert udr([a, b], "lasso").pairwise.shape == (2, 2)


def test_entangled_seeds_score_between_a_match_and_unrelated():
    z = _latents(5000, 4, 13)
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    rot = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, c, -s], [0, 0, s, c]])
    entangled = udr([_rep(z), _rep(z @ rot)], "spearman").scores[0]
    matched = udr([_rep(z), _rep(_permuted(z, 14))], "spearman").scores[0]
    unrelated = udr([_rep(z), _rep(_latents(5000, 4, 15))], "spearman").scores[0]
    assert unrelated + 0.2 < entangled < matched - 0.2


def test_pair_score_closed_forms_and_errors():
    eye = np.eye(3)
    keep = np.ones(3, bool)
    assert pair_score(eye, keep, keep) == pytest.approx(1.0)
    # One latent of B matching all of A's: each row scores 1^2 / 1, that column 1^2 / 3, the unused ones 0.
    one_col = np.zeros((3, 3))
    one_col[:, 0] = 1.0
    assert pair_score(one_col, keep, keep) == pytest.approx((3 + 1 / 3) / 6)
    assert pair_score(eye, np.zeros(3, bool), keep) == 0.0
    with pytest.raises(ValueError):
        udr([_rep(_latents(100, 2, 0))])
    with pytest.raises(ValueError):
        similarity(_latents(100, 2, 0), _latents(90, 2, 0), "spearman")
    with pytest.raises(ValueError):
        similarity(_latents(100, 2, 0), _latents(100, 2, 0), "pearson")


def test_deterministic_encoders_count_latents_by_their_range():
    z = np.concatenate([_latents(500, 3, 16), np.full((500, 1), 0.3), 1e-4 * _latents(500, 1, 17)], axis=1)
    assert informative_latents(z, None).tolist() == [True, True, True, False, False]
