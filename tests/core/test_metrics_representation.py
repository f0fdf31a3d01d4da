"""The ``geometry`` metric (VNE, diffusion spectral entropy, MLE local intrinsic dimension) on known answers.

Each figure is checked where its value is known in closed form: VNE of an isotropic code is log d and of a
rank-1 code 0, and a code whose unit vectors sit on the axes with shares p has autocorrelation diag(p) exactly;
the LID estimator's bias for a locally uniform density is known exactly (E[LID] = m k / (k - 2), geometric mean
m k exp(-psi(k - 1))), so on a plane and a 5-D Gaussian it must land within a few per cent of that; DSE counts
well-separated clusters exactly once diffusion has run long enough.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import digamma

from latentlab.cli import main
from latentlab.core.errors import BadInput
from latentlab.core.metrics import METRICS, compute
from latentlab.core.metrics.representation import diffusion_spectral_entropy, spectral_entropy
from tests.conftest import MODELS

from .metric_fixtures import code_inputs, inputs_from_arrays

KEYS = ("vne", "vne_normalized", "dse", "lid_mean", "lid_geomean")


def geometry(z: np.ndarray, seed: int = 0, **params):
    """The geometry result for latents ``z`` (factors are dummies: the metric reads none)."""
    z = np.asarray(z, dtype=np.float64)
    y = np.zeros((len(z), 1), dtype=np.int64)
    inputs = inputs_from_arrays(z, y, z[:2], y[:2], (2,))
    return compute(["geometry"], inputs, {"geometry": params} if params else None, seed=seed)["geometry"]


def embed(x: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """Rows of ``x`` placed in ``dim`` dimensions by a random isometry."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return x @ q[: x.shape[1]]


def test_registered_without_factors():
    spec = METRICS["geometry"]
    assert spec.keys == KEYS and not spec.per_latent
    assert set(spec.defaults) == {"n_sub", "vne_center", "dse_sigma", "dse_t", "lid_k"}
    assert spec.defaults["dse_t"] == 1 and spec.defaults["lid_k"] == 20 and spec.defaults["n_sub"] == 1000


@pytest.mark.parametrize("d", [2, 5, 10])
def test_vne_of_an_isotropic_gaussian_is_log_d(d):
    res = geometry(np.random.default_rng(d).standard_normal((8000, d)))
    assert res.ok
    assert res.values["vne"] == pytest.approx(np.log(d), abs=0.005)
    assert res.values["vne_normalized"] == pytest.approx(1.0, abs=0.005)
    assert res.arrays["vne_eigenvalues"].sum() == pytest.approx(1.0)


def test_vne_of_a_rank_one_code_is_zero():
    a = np.random.default_rng(0).standard_normal((2000, 1))
    res = geometry(a * np.array([[1.0, -2.0, 0.5, 3.0, 0.0, 1.0]]))
    assert res.values["vne"] == pytest.approx(0.0, abs=1e-9)
    assert res.values["vne_normalized"] == pytest.approx(0.0, abs=1e-9)


def test_vne_of_a_known_spectrum_is_exact():
    # Unit vectors +-e_j with shares p: the autocorrelation is diag(p) exactly, whatever the lengths and signs;
    # a rotation into 5-D keeps the spectrum.
    rng = np.random.default_rng(1)
    shares = np.array([0.5, 0.3, 0.2])
    axis = np.repeat(np.arange(3), (shares * 1000).astype(int))
    x = np.zeros((1000, 3))
    x[np.arange(1000), axis] = rng.choice([-1.0, 1.0], 1000) * rng.uniform(0.1, 5.0, 1000)
    res = geometry(embed(x, 5))
    exact = -float(np.sum(shares * np.log(shares)))
    assert res.values["vne"] == pytest.approx(exact, abs=1e-12)
    assert res.values["vne_normalized"] == pytest.approx(exact / np.log(5), abs=1e-12)
    assert res.arrays["vne_eigenvalues"][:3] == pytest.approx(shares, abs=1e-12)
    assert spectral_entropy(np.array([4.0, 3.0, 2.0, 1.0, 0.0])) == pytest.approx(
        -sum(p * np.log(p) for p in (0.4, 0.3, 0.2, 0.1)), abs=1e-15)


def test_vne_centring_removes_an_offset():
    # An offset makes every uncentred vector point nearly the same way; centred, the isotropic cloud is back.
    z = np.random.default_rng(2).standard_normal((4000, 4)) + np.array([20.0, 0, 0, 0])
    assert geometry(z).values["vne_normalized"] < 0.1
    assert geometry(z, vne_center=True).values["vne_normalized"] == pytest.approx(1.0, abs=0.01)


def _lid_bias(m: int, k: int = 20) -> tuple[float, float]:
    """(mean, geometric mean) the MLE gives for a locally uniform density in m dimensions."""
    return m * k / (k - 2), m * k * float(np.exp(-digamma(k - 1)))


@pytest.mark.parametrize("name,points,m", [
    # Uniform on a square in a plane of a 10-D space, and a 5-D standard Gaussian in 8-D.
    ("plane", lambda rng: embed(rng.uniform(size=(5000, 2)), 10), 2),
    ("gaussian", lambda rng: embed(rng.standard_normal((5000, 5)), 8), 5),
])
def test_lid_recovers_the_dimension_up_to_its_known_bias(name, points, m):
    res = geometry(points(np.random.default_rng(3)))
    mean, geo = _lid_bias(m)
    # Beyond the closed-form bias, edges (the square) and a density that varies within the neighbourhood (the
    # Gaussian) move it by up to 2 %; the sampling error of 1,000 points is under 1 %: 5 % is the tolerance.
    assert res.values["lid_mean"] == pytest.approx(mean, rel=0.05), name
    assert res.values["lid_geomean"] == pytest.approx(geo, rel=0.05), name
    assert res.values["lid_geomean"] <= res.values["lid_mean"]  # AM >= GM
    assert res.arrays["lid"].shape == (1000,) and res.samples["subsample"] == 1000


def test_dse_grows_with_spread_and_counts_separated_clusters():
    rng = np.random.default_rng(4)
    spread = geometry(20.0 * rng.standard_normal((1500, 5))).values["dse"]
    tight = geometry(0.5 * rng.standard_normal((1500, 5))).values["dse"]
    assert tight < 0.2 and spread > 5.0 and spread <= np.log(1000)
    # Four clusters 1000 apart (sigma 10), each 0.5 wide: one diffusion mode survives per cluster as t grows.
    clusters = np.repeat(1000.0 * np.eye(4), 100, axis=0) + 0.5 * rng.standard_normal((400, 4))
    assert diffusion_spectral_entropy(clusters, 10.0, 100) == pytest.approx(np.log(4), abs=1e-6)
    res = geometry(clusters, dse_t=100)
    assert res.values["dse"] == pytest.approx(np.log(4), abs=1e-6)
    assert geometry(clusters).values["dse"] > np.log(4)  # at t = 1 the in-cluster modes still count a little


def test_same_seed_same_figures():
    z = np.random.default_rng(5).standard_normal((3000, 6))
    a, b = geometry(z, seed=7), geometry(z, seed=7)
    assert a.values == b.values
    assert geometry(z, seed=8).values["vne"] == a.values["vne"]  # VNE uses every point: no subsample


def test_permuting_latents_changes_no_figure():
    # More points than the subsample: the same points must be drawn whatever the order of the latents.
    z = np.random.default_rng(11).standard_normal((3000, 6)) * np.array([3.0, 1.0, 1.0, 0.5, 0.1, 2.0])
    a = geometry(z).values
    b = geometry(z[:, np.random.default_rng(12).permutation(6)]).values
    for key in KEYS:
        assert b[key] == pytest.approx(a[key], rel=1e-9), key


def test_constant_code_is_collapsed_with_notes():
    res = compute(["geometry"], code_inputs("constant", n=500, sizes=(5,) * 4))["geometry"]
    assert res.ok
    v = res.values
    assert np.isnan(v["vne"]) and np.isnan(v["lid_mean"]) and np.isnan(v["lid_geomean"])
    assert v["dse"] == pytest.approx(0.0, abs=1e-12)
    assert any("every latent vector is zero" in n for n in res.notes)
    assert any("LID needs more than k = 20 distinct points, got 1" in n for n in res.notes)
    # A constant, non-zero code: every vector points the same way (rank 1).
    assert geometry(np.full((300, 3), 2.0)).values["vne"] == pytest.approx(0.0, abs=1e-12)


def test_one_latent_has_no_normalised_vne():
    res = geometry(np.random.default_rng(6).standard_normal((2000, 1)))
    assert res.values["vne"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(res.values["vne_normalized"]) and any("one latent" in n for n in res.notes)
    assert res.values["lid_geomean"] == pytest.approx(_lid_bias(1)[1], rel=0.05)


def test_fewer_points_than_neighbours():
    res = geometry(np.random.default_rng(7).standard_normal((15, 4)))
    assert res.ok and np.isnan(res.values["lid_mean"]) and res.arrays["lid"].size == 0
    assert np.isfinite(res.values["vne"]) and np.isfinite(res.values["dse"])
    assert geometry(np.random.default_rng(7).standard_normal((15, 4)), lid_k=5).values["lid_mean"] > 0


def test_duplicates_are_left_out_of_lid():
    z = np.random.default_rng(8).uniform(size=(2000, 3))
    res = geometry(np.vstack([z, z[:300]]))
    assert np.isfinite(res.values["lid_mean"]) and any("300 duplicate" in n for n in res.notes)
    assert res.values["lid_geomean"] == pytest.approx(geometry(z).values["lid_geomean"], rel=0.05)


def test_nan_latents_are_unavailable_with_a_reason():
    z = np.random.default_rng(9).standard_normal((500, 3))
    z[[3, 10], 1] = np.nan
    res = geometry(z)
    assert res.status == "unavailable" and "2 of 500 encoded points have NaN" in res.message


@pytest.mark.parametrize("params", [{"lid_k": 1}, {"dse_sigma": 0}, {"dse_t": -1}, {"n_sub": 10**6}])
def test_bad_parameters_are_named(params):
    with pytest.raises(BadInput, match="geometry."):
        geometry(np.random.default_rng(10).standard_normal((100, 3)), **params)


def test_cli_on_the_flagship_gives_finite_figures(capsys):
    flagship = MODELS / "beta-tcvae-dsprites.safetensors"
    assert main(["metrics", str(flagship), "--metrics", "geometry", "--n", "1000", "--no-store", "--json",
                 "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]["geometry"]
    assert res["status"] == "ok" and set(KEYS) <= set(res["values"])
    v = res["values"]
    assert all(v[k] is not None and np.isfinite(v[k]) for k in KEYS)
    assert 0.0 < v["vne_normalized"] < 1.0 and v["vne"] == pytest.approx(v["vne_normalized"] * np.log(10))
    assert 1.0 < v["lid_geomean"] <= v["lid_mean"] < 10.0
    assert res["samples"]["subsample"] == min(1000, res["samples"]["distinct"])
