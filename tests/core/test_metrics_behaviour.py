"""Reference behaviours of every metric on synthetic codes: identity, constant, duplicated, rotated."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.metrics import METRICS, MetricResult, compute

from .metric_fixtures import code_inputs

# Small but protocol-shaped: fewer points and boosting stages than the defaults keep this file fast.
FAST = {"dci": {"fast_stages": 30, "n_jobs": 1}, "betavae": {"num_train": 2000, "num_eval": 1000},
        "factorvae": {"num_train": 2000, "num_eval": 1000}}


@pytest.fixture(scope="module")
def suite():
    cache: dict[str, dict[str, MetricResult]] = {}

    def run(kind: str) -> dict[str, MetricResult]:
        if kind not in cache:
            sizes = {"duplicated": (5,) * 5, "rotated": (5,) * 8}.get(kind, (5,) * 10)
            cache[kind] = compute(None, code_inputs(kind, n=1000, sizes=sizes), FAST)
        return cache[kind]

    return run


def values(results: dict[str, MetricResult]) -> dict[str, float]:
    return {k: v for r in results.values() for k, v in r.values.items()}


def test_identity_code_scores_near_one(suite):
    v = values(suite("identity"))
    for key in ("betavae", "factorvae", "mig", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                "modularity", "explicitness", "infom", "infoc", "infoe"):
        assert v[key] > 0.95, (key, v[key])
    # Independent latents: no total correlation, little pairwise MI (the plug-in estimator's small bias).
    assert v["gaussian_tc"] < 0.05 and v["mean_pairwise_mi"] < 0.05
    assert v["n_active"] == 10 and v["n_passive"] == 0


def test_identity_sap_is_the_protocols_best(suite):
    # A one-feature linear SVM cannot carve 5 ordinal classes out of one line, so SAP's discrete protocol
    # tops out well below 1 even for a perfect code; its continuous variant (R^2) reaches 1.
    res = compute(["sap"], code_inputs("identity", n=1000, sizes=(5,) * 10), {"sap": {"continuous_factors": True}})
    assert res["sap"].values["sap"] > 0.95
    assert suite("identity")["sap"].values["sap"] > 5 * suite("rotated")["sap"].values["sap"]


def test_constant_code_scores_zero_or_chance(suite):
    v = values(suite("constant"))
    for key in ("factorvae", "mig", "dci_disentanglement", "dci_completeness", "sap", "modularity", "infom",
                "infoc", "gaussian_tc", "mean_pairwise_mi"):
        assert v[key] == pytest.approx(0.0, abs=1e-9), key
    assert v["infoe"] < 0.02
    # Accuracy-type figures fall to chance, not to 0: 1/#factors, 1/#classes, AUC 0.5.
    assert v["betavae"] < 0.2
    assert v["dci_informativeness"] < 0.3
    assert v["explicitness"] == pytest.approx(0.5)


def test_duplicated_latents_lower_completeness_only(suite):
    v = values(suite("duplicated"))
    assert v["dci_completeness"] == pytest.approx(1 - np.log(2) / np.log(10), abs=0.03)
    assert v["dci_disentanglement"] > 0.97
    # Two equally informative latents per factor: no gap at all.
    assert v["mig"] == pytest.approx(0.0, abs=1e-9)
    assert v["infoc"] < 0.6 and v["infom"] > 0.95


def test_rotated_code_scores_low_but_stays_informative(suite):
    v = values(suite("rotated"))
    for key in ("mig", "dci_disentanglement", "dci_completeness", "modularity", "infom", "infoc"):
        assert v[key] < 0.3, (key, v[key])
    assert v["factorvae"] < 0.5 and v["betavae"] < 0.6
    assert v["gaussian_tc"] < 0.05  # a rotation of independent factors is still uncorrelated...
    assert v["mean_pairwise_mi"] > 2 * values(suite("identity"))["mean_pairwise_mi"]  # ...but not independent
    # Linear information survives a rotation: explicitness metrics stay high.
    assert v["explicitness"] > 0.9 and v["infoe"] > 0.9


def test_results_record_how_they_were_made(suite):
    res = suite("identity")
    assert set(res) == set(METRICS)
    for name, r in res.items():
        assert r.ok and r.seconds >= 0 and r.params == {**METRICS[name].defaults, **FAST.get(name, {})}
        assert r.representation == "mean" and r.seed == 0 and r.samples
        back = MetricResult.from_dict(r.to_dict())
        assert back.values == pytest.approx(r.values)
        for key, arr in r.arrays.items():
            assert np.array_equal(back.arrays[key], arr, equal_nan=True) and back.arrays[key].dtype == arr.dtype
    assert res["mig"].arrays["mi"].shape == (10, 10)
    assert res["dci"].arrays["importance"].shape == (10, 10)
    assert res["infomec"].arrays["nmi"].shape == (10, 10)
    assert res["kl"].arrays["kl"].shape == (10,)
    assert res["activity"].arrays["labels"].shape == (10,)
