"""Direction finders: shapes, determinism, closed forms, and recovery of known axes on a linear model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.data import FactorDataset, get_dataset
from latentlab.core.directions import (
    DirectionSet,
    FindOptions,
    LabeledLatents,
    evaluate_directions,
    find_directions,
)
from latentlab.core.directions.gradctrl import GradCtrlField, gradctrl_directions, train_classifier
from latentlab.core.directions.readout import image_readout
from latentlab.core.directions.supervised import factor_directions, supervised_directions
from latentlab.core.directions.unsupervised import decoder_jacobian, first_layer, jacobian_directions, sefa
from latentlab.core.model import ModelInfo, Posterior
from tests.helpers import tiny_model

# --- a linear synthetic model: latents are a known orthonormal map of the factors -------------------------------

D_LIN = 5


class LinearFactors(FactorDataset):
    """Three factors on an 8-value grid in [-1, 1], rendered linearly into 4x4 'images'."""

    name = "linear"
    factor_names = ("a", "b", "c")
    factor_sizes = (8, 8, 8)
    image_shape = (1, 4, 4)

    def __init__(self, pattern: np.ndarray):
        self.pattern = pattern  # (16, 3)

    def factor_values(self, k):
        return np.linspace(-1.0, 1.0, 8)

    def _render(self, f):
        v = np.linspace(-1.0, 1.0, 8)[f]
        return (0.5 + 0.05 * v @ self.pattern.T).reshape(-1, 1, 4, 4).astype(np.float32)


class LinearModel(nn.Module):
    """decode(z) = 0.5 + 0.05 G z; encode inverts it exactly (G has full column rank)."""

    def __init__(self, g: np.ndarray):
        super().__init__()
        self.g = nn.Parameter(torch.as_tensor(g, dtype=torch.float32), requires_grad=False)
        self.info = ModelInfo("linear", D_LIN, (1, 4, 4), factor_names=LinearFactors.factor_names)

    def decode(self, z):
        return (0.5 + 0.05 * z @ self.g.T).view(-1, 1, 4, 4)

    def encode(self, x):
        return Posterior(mean=torch.linalg.lstsq(self.g, ((x.flatten(1) - 0.5) / 0.05).T).solution.T)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, D_LIN, generator=generator)


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((D_LIN, D_LIN)))  # factor axes in latent space: q[:, :3]
    g = rng.standard_normal((16, D_LIN))
    return LinearModel(g), LinearFactors(g @ q[:, :3]), q[:, :3].T


def test_supervised_directions_recover_the_known_factor_axes(linear):
    model, ds, axes = linear
    for classifier in ("logistic", "svm", "mean"):
        dirs = factor_directions(model, ds, ["a", "b", "c"], n=600, classifier=classifier, seed=0)
        cos = np.array([float(d.vector @ axes[i]) for i, d in enumerate(dirs)])
        assert (cos > 0.98).all(), (classifier, cos)  # right axis, pointing towards the high values


def test_evaluation_on_the_linear_model_is_diagonal(linear):
    model, ds, axes = linear
    dirs = factor_directions(model, ds, ["a", "b", "c"], n=600, seed=0)
    ev = evaluate_directions(model, dirs, ds, n=100, alpha=0.5, n_fit=800, seed=0)
    assert ev.matrix.shape == (3, 3) and ev.cosine.shape == (3, 3)
    assert ev.dominant == ["a", "b", "c"]
    off = ev.matrix[~np.eye(3, dtype=bool)]
    assert np.diag(ev.matrix).min() > 0.3 and off.max() < 0.05, ev.matrix
    assert (np.diag(ev.signed) > 0).all()  # moving forwards raises the factor
    assert np.allclose(np.diag(ev.cosine), 1) and np.allclose(ev.cosine, ev.cosine.T)
    assert np.allclose(ev.column_normalised.max(0), 1)
    assert (ev.purity > 0.85).all()


def test_conditional_manipulation_is_orthogonal_to_protected_directions():
    rng = np.random.default_rng(3)
    f = rng.standard_normal((800, 2))
    mix = np.array([[1.0, 0.0, 0.2, 0.0], [0.8, 0.6, 0.0, 0.1]])  # attribute b leaks into a's axis
    z = f @ mix + 0.05 * rng.standard_normal((800, 4))
    lab_a = LabeledLatents("a", z, f[:, 0] > 0, ("lo", "hi"))
    lab_b = LabeledLatents("b", z, f[:, 1] > 0, ("lo", "hi"))
    [b] = supervised_directions(lab_b)
    [plain] = supervised_directions(lab_a)
    [cond] = supervised_directions(lab_a, protect=[b])
    assert abs(float(cond.vector @ b.vector)) < 1e-5
    assert abs(float(plain.vector @ b.vector)) > 0.1  # the protection changed something
    assert cond.params["protected"] == ["b"]


def test_multi_valued_factor_gives_one_direction_per_class():
    model = tiny_model(latent_dim=4)
    ds = get_dataset("dsprites")
    dirs = factor_directions(model, ds, ["shape"], n=90, seed=0)
    assert [d.name for d in dirs] == ["shape=square", "shape=ellipse", "shape=heart"]


# --- every finder: unit vectors of the right shape, deterministic for a seed ---------------------------------

FINDERS = [
    FindOptions("sefa", k=3),
    FindOptions("sefa", k=4, orthogonal=True),
    FindOptions("pca", k=3, n=200),
    FindOptions("pca", k=3, n=200, orthogonal=True),
    FindOptions("pca", k=3, n=100, space="encoded"),
    FindOptions("jacobian", k=3, at=[0.1, -0.2, 0.3, 0.0]),
    FindOptions("interfacegan", factors=["posX", "scale"], n=100),
    FindOptions("interfacegan", factors=["posX"], n=100, classifier="svm", protect=["posY"]),
    FindOptions("gradctrl", factors=["posX"], protect=["posY"], n=100, steps=20),
]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(latent_dim=4)


@pytest.mark.parametrize("opts", FINDERS, ids=lambda o: f"{o.method}-{o.space}-{o.orthogonal}-{o.classifier}")
def test_finder_shapes_and_determinism(tiny, opts):
    a = find_directions(tiny, opts, source_sha256="f" * 64)
    b = find_directions(tiny, opts, source_sha256="f" * 64)
    assert isinstance(a, DirectionSet) and len(a) >= 1 and a.latent_dim == 4 and a.source_sha256 == "f" * 64
    z = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    for da, db in zip(a, b, strict=True):
        assert da.name == db.name and da.params == db.params
        u = da.at(z)
        assert u.shape == (6, 4)
        assert np.allclose(np.linalg.norm(u, axis=1), 1, atol=1e-5)
        assert np.array_equal(u, db.at(z))
    if opts.orthogonal:
        v = a.vectors().astype(np.float64)
        assert np.allclose(v @ v.T, np.eye(len(v)), atol=1e-5)


def test_sampling_finders_depend_on_the_seed(tiny):
    one = find_directions(tiny, FindOptions("pca", k=2, n=50, seed=1)).vectors()
    two = find_directions(tiny, FindOptions("pca", k=2, n=50, seed=2)).vectors()
    assert not np.allclose(one, two)


def test_sefa_equals_eigenvectors_of_wtw(tiny):
    w = first_layer(tiny).weight.detach().double().numpy()
    vals, vecs = np.linalg.eigh(w.T @ w)
    dirs = sefa(tiny)
    assert len(dirs) == 4
    for i, d in enumerate(dirs):
        expect = vecs[:, -1 - i]
        assert abs(abs(float(d.vector @ expect)) - 1) < 1e-6
        assert d.params["eigenvalue"] == pytest.approx(vals[-1 - i])
    ev = [d.params["eigenvalue"] for d in dirs]
    assert ev == sorted(ev, reverse=True)


def test_jacobian_directions_are_ordered_by_image_change(tiny):
    z = np.random.default_rng(4).standard_normal(4).astype(np.float32)
    dirs = jacobian_directions(tiny, z)
    eps = 1e-2

    def change(v):
        with torch.no_grad():
            pts = torch.as_tensor(np.stack([z + eps * v, z - eps * v]), dtype=torch.float32)
            img = tiny.decode(pts)
        return float((img[0] - img[1]).norm())

    changes = [change(d.vector) for d in dirs]
    assert changes == sorted(changes, reverse=True), changes
    sv = [d.params["singular_value"] for d in dirs]
    assert np.allclose(changes, 2 * eps * np.array(sv), rtol=0.05)
    rnd = np.random.default_rng(5).standard_normal((20, 4))
    assert max(change(r / np.linalg.norm(r)) for r in rnd) <= changes[0] * 1.001
    assert decoder_jacobian(tiny, z).shape == (64 * 64, 4)


# --- GradCtrl ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((450, 4)).astype(np.float32)
    centres = np.array([[2, 0, 0, 0], [-1, 1.7, 0, 0], [-1, -1.7, 0, 0]], np.float32)
    y = np.argmin(((z[:, None] - centres[None]) ** 2).sum(-1), 1)
    return LabeledLatents("kind", z, y, ("p", "q", "r"))


def test_gradctrl_moves_the_prediction_towards_the_target_class(three_classes):
    dirs = gradctrl_directions(three_classes, steps=120, hidden=(32,), step=0.25, seed=0)
    assert [d.name for d in dirs] == ["kind=p", "kind=q", "kind=r"]
    clf = dirs[0].field.target
    assert clf.accuracy > 0.8
    z0 = np.random.default_rng(7).standard_normal((30, 4)).astype(np.float32)
    for c, d in enumerate(dirs):
        before = clf.predict_proba(z0)[:, c]
        after = clf.predict_proba(d.apply(z0, 1.5))[:, c]
        away = clf.predict_proba(d.apply(z0, -1.5))[:, c]
        assert (after >= before - 1e-4).mean() > 0.95 and after.mean() > before.mean() + 0.2
        assert away.mean() < before.mean()
        assert (clf.predict_proba(d.apply(z0, 4.0)).argmax(1) == c).mean() > 0.9


def test_gradctrl_masks_dimensions_salient_for_other_attributes():
    rng = np.random.default_rng(8)
    z = rng.standard_normal((300, 4)).astype(np.float32)
    target = LabeledLatents("t", z, (z[:, 0] + z[:, 1] > 0).astype(int), ("lo", "hi"))
    other = LabeledLatents("o", z, (z[:, 0] > 0).astype(int), ("lo", "hi"))  # lives in dimension 0
    [free] = gradctrl_directions(target, steps=100, hidden=(16,), seed=0)
    [masked] = gradctrl_directions(target, [other], top_k=1, steps=100, hidden=(16,), seed=0)
    pts = rng.standard_normal((20, 4)).astype(np.float32)
    assert np.abs(free.at(pts)[:, 0]).mean() > 0.3
    assert np.abs(masked.at(pts)[:, 0]).max() == 0.0  # dimension 0 is masked at every point
    assert np.abs(masked.at(pts)[:, 1]).mean() > 0.9
    assert masked.params["masked"] == ["o"] and masked.params["top_k"] == 1


def test_gradctrl_field_refuses_bad_settings(three_classes):
    clf = train_classifier(three_classes, hidden=(8,), steps=5)
    with pytest.raises(ValueError, match="target class"):
        GradCtrlField(clf, 3)
    with pytest.raises(ValueError, match="top_k"):
        GradCtrlField(clf, 0, [clf], top_k=4)


# --- evaluation ----------------------------------------------------------------------------------------------------

def test_evaluation_shapes_and_json(tiny):
    import json

    ds = get_dataset("dsprites")
    dirs = find_directions(tiny, FindOptions("sefa", k=3))
    ev = evaluate_directions(tiny, dirs, ds, n=16, n_fit=64, seed=0)
    assert ev.matrix.shape == ev.change.shape == ev.signed.shape == (3, 5) and ev.variation.shape == (5,)
    assert ev.factor_names == list(ds.factor_names) and ev.direction_names == dirs.names
    assert ((ev.matrix >= 0) & (ev.matrix <= 1 + 1e-9)).all()
    assert (ev.matrix <= ev.change + 1e-9).all()  # the systematic part never exceeds the mean size
    assert np.isnan(ev.signed[:, 0]).all()  # shape is categorical: no signed change
    assert np.allclose(ev.cosine, np.eye(3), atol=1e-5)  # SeFa directions are orthonormal
    cn = ev.column_normalised
    assert np.allclose(cn.max(0)[ev.matrix.max(0) > 0], 1)
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["readout"] == "encoder" and len(d["dominant"]) == 3 and d["signed"][0][0] is None
    again = evaluate_directions(tiny, dirs, ds, n=16, n_fit=64, seed=0)
    assert np.array_equal(again.matrix, ev.matrix)


class DecoderOnly:
    """A generator without an encoder, like a GAN."""

    def __init__(self, inner):
        self.inner, self.info = inner, inner.info

    def decode(self, z):
        return self.inner.decode(z)

    def sample_prior(self, n, generator=None):
        return self.inner.sample_prior(n, generator)

    def to(self, device):
        return self


def test_evaluation_without_an_encoder_uses_an_image_predictor(tiny):
    ds = get_dataset("dsprites")
    gan = DecoderOnly(tiny)
    dirs = find_directions(gan, FindOptions("jacobian", k=2))
    readout = image_readout(ds, steps=3, batch_size=8, seed=0)
    ev = evaluate_directions(gan, dirs, ds, n=8, readout=readout, seed=0)
    assert ev.readout == "image-predictor" and ev.matrix.shape == (2, 5)
    with pytest.raises(TypeError, match="no encoder"):
        find_directions(gan, FindOptions("interfacegan", factors=["posX"], n=20))


@pytest.mark.parametrize("opts", [FindOptions("pca", k=2, n=2000), FindOptions("interfacegan", n=3000),
                                  FindOptions("gradctrl", factors=["posX"], n=100, steps=5000)],
                         ids=lambda o: o.method)
def test_finders_report_progress_and_can_be_cancelled(tiny, opts):
    from latentlab.core.jobs import JobCancelled, JobContext

    seen = []

    def stop():
        return len(seen) >= 2

    with pytest.raises(JobCancelled):
        find_directions(tiny, opts, JobContext(progress=lambda f, m="": seen.append(f), should_stop=stop))
    assert all(0.0 <= f <= 1.0 for f in seen)
