"""The metric protocols the references define: fresh samples per vote (through an exact encoding memo) for
BetaVAE and FactorVAE, one-hot codes for InfoE on quantized latents."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.encode import Encoded, FactorEncodings, encode_images, representation_fn
from latentlab.core.metrics import MetricInputs, compute, prepare_inputs

from .metric_fixtures import PROTOCOL_SIZES, FactorImages, LinearCode, protocol_model


def test_encoding_memo_encodes_each_image_once_and_returns_what_encoding_returns():
    ds, model = FactorImages(PROTOCOL_SIZES), protocol_model()
    memo = FactorEncodings(model, ds)
    rng = np.random.default_rng(0)
    f = ds.sample_factors(5000, rng)
    mean, logvar = memo.lookup(f)
    direct_mean, direct_logvar, _ = encode_images(model, ds.images(f))
    np.testing.assert_allclose(mean, direct_mean, atol=1e-6)
    np.testing.assert_allclose(logvar, direct_logvar, atol=1e-6)
    assert memo.encoded == len(np.unique(ds.factors_to_index(f))) <= ds.num_samples
    again, _ = memo.lookup(ds.sample_factors(5000, rng))
    assert memo.encoded <= ds.num_samples == 60, "no image is encoded twice"
    sampled = representation_fn(model, ds, "sampled", seed=1, encodings=memo)
    a, b = sampled(f[:500]), sampled(f[:500])
    assert not np.allclose(a, b), "the sampled representation draws fresh noise on every lookup"
    assert np.std(a - mean[:500]) == pytest.approx(np.sqrt(0.5), rel=0.1)


def test_memo_steps_aside_for_datasets_too_large_to_hold():
    ds, model = FactorImages((10,) * 6), LinearCode(np.eye(6))
    memo = FactorEncodings(model, ds, max_bytes=1000)
    f = ds.sample_factors(300, np.random.default_rng(0))
    m1, _ = memo.lookup(f)
    m2, _ = memo.lookup(f)
    np.testing.assert_allclose(m1, m2, atol=1e-6)
    assert memo.encoded == 600, "without the memo every lookup encodes"


def test_betavae_and_factorvae_default_to_fresh_votes_and_say_so():
    ds, model = FactorImages(PROTOCOL_SIZES), protocol_model()
    inputs = prepare_inputs(model, ds, n=400, seed=0)
    small = {"betavae": {"num_train": 200, "num_eval": 100}, "factorvae": {"num_train": 200, "num_eval": 100,
                                                                          "num_variance_estimate": 300}}
    res = compute(["betavae", "factorvae"], inputs, small, representation="sampled")
    for name in ("betavae", "factorvae"):
        assert res[name].params["sampling"] == "auto"
        assert "fresh factor draws for every vote (the reference protocol)" in res[name].notes
    assert res["betavae"].samples["fresh_images"] == 2 * 64 * 300
    pooled = compute(["factorvae"], inputs, {"factorvae": {**small["factorvae"], "sampling": "pool"}})
    assert any("not the reference protocol" in n for n in pooled["factorvae"].notes)
    bare = MetricInputs(inputs.train, inputs.test, inputs.factor_sizes, inputs.factor_names)  # no model
    fallback = compute(["factorvae"], bare, small)["factorvae"]
    assert fallback.ok and any("no model to draw fresh samples from" in n for n in fallback.notes)
    explicit = compute(["factorvae"], bare, {"factorvae": {**small["factorvae"], "sampling": "fresh"}})["factorvae"]
    assert not explicit.ok and "fresh sampling needs a model" in explicit.message


def _discrete_inputs(discrete: bool) -> MetricInputs:
    """Two factors, each in one quantized latent where every factor value has two codes that are not
    neighbours (value = code mod size): recoverable from one-hot codes, not linearly from the code values."""
    rng = np.random.default_rng(0)
    sizes = (3, 4)

    def enc(n):
        y = np.stack([rng.integers(0, s, n) for s in sizes], 1)
        codes = np.stack([y[:, 0] + 3 * rng.integers(0, 2, n), y[:, 1] + 4 * rng.integers(0, 2, n),
                          rng.integers(0, 3, n)], 1)
        values = (codes / 7.0 * 2 - 1).astype(np.float32)
        return Encoded(values, None, y, codes=codes)

    return MetricInputs(enc(1500), enc(750), sizes, ("a", "b"), discrete_latents=discrete)


def test_infoe_on_quantized_latents_uses_one_hot_codes_and_says_so():
    discrete = compute(["infomec"], _discrete_inputs(True))["infomec"]
    continuous = compute(["infomec"], _discrete_inputs(False))["infomec"]
    assert discrete.values["infoe"] > 0.95, discrete.values
    assert continuous.values["infoe"] < 0.8, continuous.values
    assert any("one-hot codes for InfoE" in n for n in discrete.notes)
    assert any("standardised latents for InfoE" in n for n in continuous.notes)
