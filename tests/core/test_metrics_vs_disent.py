"""Independent cross-check: our metrics against the PyPI package disent on identical encoded data.

disent (0.8) implements MIG, DCI, SAP, the FactorVAE score and the unsupervised scores; it has no BetaVAE
score (test_metrics_vs_dlib.py checks that one against disentanglement_lib) and no Modularity (checked by the
closed forms and reference behaviours instead).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.metrics import compute, prepare_inputs

from .disent_shim import load_disent_metrics
from .metric_fixtures import (
    PROTOCOL_SIZES,
    FactorImages,
    inputs_from_arrays,
    posterior_sampler,
    protocol_model,
    seed_spread,
)

DISENT = load_disent_metrics()
pytestmark = pytest.mark.skipif(DISENT is None, reason="disent is not installed (make installs it --no-deps)")

SIZES = (4, 3, 5)
W = np.array([[1.0, 0.4, 0.0], [0.0, 1.0, 0.0], [0.3, 0.0, 1.0], [0.0, 0.0, 0.3]])  # partly mixed, 4 latents


def code(seed: int, n: int):
    rng = np.random.default_rng(seed)
    y = np.stack([rng.integers(0, s, n) for s in SIZES], 1)
    z = (2 * y / (np.asarray(SIZES) - 1) - 1) @ W.T + 0.2 * rng.standard_normal((n, len(W)))
    return z, y


@pytest.fixture(scope="module")
def data():
    z, y = code(0, 800)
    zt, yt = code(1, 400)
    return z, y, zt, yt, inputs_from_arrays(z, y, zt, yt, SIZES)


def test_mig_equals_disent(data):
    z, y, _, _, inputs = data
    ref = DISENT["_mig"]._compute_mig(z.T, y.T)["mig.discrete_score"]
    ours = compute(["mig"], inputs)["mig"].values["mig"]
    assert ours == pytest.approx(ref, abs=1e-10)


def test_sap_equals_disent(data):
    z, y, zt, yt, inputs = data
    ref = DISENT["_sap"]._compute_sap(z.T, y.T, zt.T, yt.T, continuous_factors=False)["sap.score"]
    ours = compute(["sap"], inputs)["sap"].values["sap"]
    assert ours == pytest.approx(ref, abs=1e-6)
    ref_c = DISENT["_sap"]._compute_sap(z.T, y.T, zt.T, yt.T, continuous_factors=True)["sap.score"]
    ours_c = compute(["sap"], inputs, {"sap": {"continuous_factors": True}})["sap"].values["sap"]
    assert ours_c == pytest.approx(ref_c, abs=1e-9)


def test_dci_agrees_with_disent(data):
    z, y, zt, yt = (a[:400] for a in data[:4])  # boosted trees are the slow part: fewer points
    inputs = inputs_from_arrays(z, y, zt, yt, SIZES)
    ref = DISENT["_dci"]._compute_dci(z.T, y.T, zt.T, yt.T)
    for estimator, tol in (("gbt", 0.01), ("fast", 0.03)):
        ours = compute(["dci"], inputs, {"dci": {"estimator": estimator, "n_jobs": 1}})["dci"].values
        assert ours["dci_disentanglement"] == pytest.approx(ref["dci.disentanglement"], abs=tol), estimator
        assert ours["dci_completeness"] == pytest.approx(ref["dci.completeness"], abs=tol), estimator
        assert ours["dci_informativeness"] == pytest.approx(ref["dci.informativeness_test"], abs=0.05), estimator


def test_unsupervised_equals_disent(data):
    z, y, _, _, inputs = data
    ref = DISENT["_unsupervised"]
    ours = compute(["unsupervised"], inputs)["unsupervised"].values
    # (our inputs hold latents in float32, as encoders produce them)
    assert ours["gaussian_tc"] == pytest.approx(ref._gaussian_total_correlation(np.cov(z.T)), rel=1e-5)
    utils = __import__("disent.metrics.utils", fromlist=["x"])
    binned = utils.histogram_discretize(z.T, num_bins=20)
    mi = utils.discrete_mutual_info(binned, binned)
    np.fill_diagonal(mi, 0)
    assert ours["mean_pairwise_mi"] == pytest.approx(mi.sum() / (len(mi) ** 2 - len(mi)), rel=1e-6)


class DuckDataset:
    """The four calls disent's FactorVAE score makes on a DisentDataset, over our synthetic factors."""

    def __init__(self, ds: FactorImages, rng: np.random.Generator):
        self.ds = ds
        self.gt_data = self
        self.num_factors = ds.num_factors
        self.rng = rng

    def sample_factors(self, n):
        return self.ds.sample_factors(n, self.rng)

    def dataset_batch_from_factors(self, factors, mode="input"):
        return self.ds.images(np.asarray(factors))

    def dataset_sample_batch(self, n, mode="input"):
        return self.dataset_batch_from_factors(self.sample_factors(n))


@pytest.mark.slow
def test_factorvae_agrees_with_disent_within_its_seed_spread():
    """Over six seeds on one model, our default (fresh votes) FactorVAE mean lies within disent's seed spread."""
    ds, model = FactorImages(PROTOCOL_SIZES), protocol_model()
    votes = {"num_train": 1000, "num_eval": 500, "num_variance_estimate": 2000}
    ref, ours = [], []
    for seed in range(6):
        np.random.seed(seed)  # disent draws its factor index from NumPy's global generator
        torch.manual_seed(seed)
        ref.append(DISENT["_factor_vae"].metric_factor_vae(DuckDataset(ds, np.random.default_rng(seed)),
                                                           posterior_sampler(model, seed), **votes)
                   ["factor_vae.eval_accuracy"])
        inputs = prepare_inputs(model, ds, n=3000, seed=seed)
        ours.append(compute(["factorvae"], inputs, {"factorvae": votes}, representation="sampled", seed=seed)
                    ["factorvae"].values["factorvae"])
    ref_mean, ref_std = seed_spread(ref)
    ours_mean, ours_std = seed_spread(ours)
    assert 0.6 < ref_mean < 0.99
    assert abs(ours_mean - ref_mean) <= 2 * ref_std, (ours_mean, ref_mean, ref_std)
    assert ours_std <= 2 * ref_std, (ours_std, ref_std)
