"""Playing trained flows: trajectories forwards and backwards, batches, strips; and the evaluation measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.flows import (
    FlowConfig,
    Flows,
    all_trajectories,
    distinctness,
    flow_vs_linear,
    render_strip,
    save_png,
    trajectories,
    trajectory,
    two_sided,
)
from latentlab.core.flows.baselines import FactorReadout, pca_directions, sefa_directions, supervised_directions
from latentlab.core.flows.evaluate import factor_changes, linear_paths
from tests.core.flows_support import BlobDataset, BlobModel, LinearDecoderModel


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _flows(d: int, k: int = 3, eta: float = 1.0) -> Flows:
    return Flows.build(FlowConfig(n_potentials=k, hidden=16, eta=eta, bounded=False), d, 1, {})


@pytest.mark.parametrize("d", [3, 4])
def test_a_trajectory_follows_the_potential_gradient(d):
    flows = _flows(d, eta=0.5)
    z0 = np.linspace(-1, 1, d).astype(np.float32)
    tr = trajectory(flows, z0, k=1, steps=6)
    assert tr.latents.shape == (7, d) and tr.potential.shape == (7,) and tr.step_sizes.shape == (6,)
    np.testing.assert_array_equal(tr.latents[0], z0)
    pots = flows.potentials
    for n in range(6):
        z = torch.from_numpy(tr.latents[n][None])
        g, u = pots.velocity(z, torch.tensor([float(n)]), 1)
        np.testing.assert_allclose(tr.latents[n + 1], tr.latents[n] + 0.5 * g[0].numpy(), rtol=1e-5, atol=1e-6)
        assert tr.potential[n] == pytest.approx(float(u[0]), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(tr.step_sizes, np.linalg.norm(np.diff(tr.latents, axis=0), axis=1), rtol=1e-6)
    assert tr.step_sizes.min() > 0
    assert tr.to_dict()["k"] == 1


def test_backward_goes_against_the_gradient_and_two_sided_gives_both():
    flows = _flows(4)
    z0 = np.array([0.3, -0.2, 0.5, 0.1], np.float32)
    fwd = trajectory(flows, z0, 2, steps=1)
    back = trajectory(flows, z0, 2, steps=1, direction=-1)
    np.testing.assert_allclose(back.latents[1] - z0, -(fwd.latents[1] - z0), rtol=1e-6, atol=1e-7)
    b2, f2 = two_sided(flows, z0, 2, steps=3)
    assert b2.direction == -1 and f2.direction == 1
    np.testing.assert_allclose(f2.latents[:2], fwd.latents, rtol=1e-6)
    with pytest.raises(ValueError, match="direction"):
        trajectory(flows, z0, 0, direction=0)


def test_batches_and_all_potentials_match_single_paths():
    flows = _flows(3, k=4)
    z0 = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ks = np.array([0, 3, 1, 2, 3])
    batch = trajectories(flows, z0, ks, steps=4)
    assert batch.latents.shape == (5, 5, 3) and batch.potential.shape == (5, 5) and batch.step_sizes.shape == (5, 4)
    for i in range(5):
        single = trajectory(flows, z0[i], int(ks[i]), steps=4)
        np.testing.assert_allclose(batch.latents[i], single.latents, rtol=1e-5, atol=1e-6)
    allk = all_trajectories(flows, z0[0], steps=4)
    assert len(allk) == 4 and list(allk.k) == [0, 1, 2, 3]
    np.testing.assert_allclose(allk.latents[3], trajectory(flows, z0[0], 3, steps=4).latents, rtol=1e-5, atol=1e-6)
    # Different potentials go different ways from the same start.
    assert np.linalg.norm(allk.latents[0, -1] - allk.latents[1, -1]) > 1e-4
    with pytest.raises(IndexError):
        trajectories(flows, z0, 4, steps=2)
    with pytest.raises(ValueError, match="shape"):
        trajectories(flows, np.zeros((2, 5), np.float32), 0)


def test_playback_works_inside_inference_mode():
    flows = _flows(3)
    expected = trajectory(flows, np.zeros(3, np.float32), 0, steps=3).latents
    with torch.inference_mode():
        got = trajectory(flows, np.zeros(3, np.float32), 0, steps=3).latents
    np.testing.assert_array_equal(got, expected)


def test_flow_vs_linear_shares_end_points_and_renders_a_strip(tmp_path):
    model = LinearDecoderModel(3)
    flows = _flows(3)
    tr, line = flow_vs_linear(flows, np.zeros(3, np.float32), 1, steps=5)
    assert line.shape == tr.latents.shape
    np.testing.assert_allclose(line[[0, -1]], tr.latents[[0, -1]], rtol=1e-6, atol=1e-7)
    img = render_strip(model, [tr.latents, line], pad=2)
    assert img.dtype == np.uint8 and img.shape == (2 * 18 + 2, 6 * 18 + 2)
    path = save_png(tmp_path / "strip.png", img)
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == (img.shape[1], img.shape[0])
        np.testing.assert_array_equal(np.asarray(im), img)


# --- evaluation measures ---------------------------------------------------------------------------------------

def test_distinctness_separates_distinct_paths_from_identical_ones():
    model = LinearDecoderModel(3, seed=1)
    rng = np.random.default_rng(0)
    tr_starts = rng.standard_normal((48, 3)).astype(np.float32)
    te_starts = rng.standard_normal((32, 3)).astype(np.float32)
    axes = np.eye(3, dtype=np.float32)
    distinct = distinctness(model, linear_paths(tr_starts, axes, 1.5, 4), linear_paths(te_starts, axes, 1.5, 4),
                            steps=150, width=8, seed=0)
    assert distinct.accuracy > 0.8 and distinct.chance == pytest.approx(1 / 3)
    assert distinct.confusion.sum() == distinct.n_test == 3 * 32
    same = np.repeat(axes[:1], 3, axis=0)  # three "paths" that are the same path
    blind = distinctness(model, linear_paths(tr_starts, same, 1.5, 4), linear_paths(te_starts, same, 1.5, 4),
                         steps=150, width=8, seed=0)
    assert blind.accuracy < 0.55


def test_factor_changes_attribute_a_move_to_the_factor_it_changes():
    model, ds = BlobModel(), BlobDataset()
    factors = ds.sample_factors(400, np.random.default_rng(0))
    from latentlab.core.encode import encode_factors

    enc = encode_factors(model, ds, factors)
    readout = FactorReadout.fit(enc.mean, enc.factors, ds.factor_names, ds.factor_sizes)
    assert readout.quality.min() > 0.95 and readout.categorical == [False, False]
    starts = np.full((16, 2), 0.2, np.float32) + np.random.default_rng(1).uniform(0, 0.2, (16, 2)).astype(np.float32)
    dirs = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    ch, pix = factor_changes(model, readout, linear_paths(starts, dirs, 0.5, 4))
    assert ch.shape == (3, 2) and pix.shape == (3,) and (pix > 0.01).all()
    still, pix0 = factor_changes(model, readout, linear_paths(starts, dirs, 0.0, 4))
    assert np.abs(still).max() < 1e-6 and np.abs(pix0).max() == 0
    assert ch[0, 0] == pytest.approx(0.5, abs=0.06) and ch[0, 1] < 0.03  # x only
    assert ch[1, 1] == pytest.approx(0.5, abs=0.06) and ch[1, 0] < 0.03  # y only
    assert ch[2, 0] > 0.25 and ch[2, 1] > 0.25  # both
    sup, names = supervised_directions(enc.mean, enc.factors, ds.factor_names)
    assert names == ["posX", "posY"]
    assert sup[0, 0] > 0.95 and sup[1, 1] > 0.95  # each normal points along its own axis, upwards


def test_pca_and_sefa_directions():
    x = np.random.default_rng(0).standard_normal((500, 3)) * np.array([5.0, 1.0, 0.2])
    p = pca_directions(x, 2)
    assert p.shape == (2, 3) and abs(p[0, 0]) > 0.99 and abs(p[1, 1]) > 0.99
    from tests.helpers import tiny_model

    m = tiny_model(latent_dim=4)
    s = sefa_directions(m, 3)
    a = m.decoder.first_layer.weight.detach().numpy().astype(np.float64)
    gains = [np.linalg.norm(a @ v) for v in s]
    assert s.shape == (3, 4) and gains == sorted(gains, reverse=True)
    assert gains[0] == pytest.approx(np.linalg.norm(a, 2), rel=1e-4)  # the top singular direction
    assert sefa_directions(BlobModel(), 2) is None  # no dense first layer: no SeFa
