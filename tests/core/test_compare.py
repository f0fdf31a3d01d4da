"""Checkpoint comparison: dimension alignment (permutation + signs), latent mapping, decode timing, series order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.compare import (
    Alignment,
    align_checkpoints,
    align_encodings,
    checkpoint_series,
    correlation_matrix,
    decode_time,
)
from latentlab.core.data.base import FactorDataset
from latentlab.core.model import ModelInfo, Posterior
from tests.helpers import tiny_model


def test_alignment_recovers_a_permutation_with_sign_flips():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    perm = [2, 0, 3, 1]  # A's dim i is B's dim perm[i]
    signs = np.array([1, -1, -1, 1])
    scales = np.array([0.5, 2.0, 1.0, 3.0])
    b = np.empty_like(a)
    b[:, perm] = a * signs * scales + 0.01 * rng.normal(size=a.shape)
    al = align_encodings(a, b)
    assert al.pairs.tolist() == [[0, 2], [1, 0], [2, 3], [3, 1]]
    assert al.signs.tolist() == signs.tolist()
    assert np.allclose(al.scales, scales, rtol=0.05)
    assert al.strength.min() > 0.99 and al.unmatched_a.size == 0 and al.unmatched_b.size == 0
    z = np.array([1.0, 2.0, -1.0, 0.5], np.float32)
    want = np.empty(4, np.float32)
    want[perm] = z * signs * scales
    assert np.allclose(al.map_latent(z), want, atol=0.05)
    assert np.allclose(al.inverse().map_latent(al.map_latent(z)), z, atol=1e-4)
    back = Alignment.from_dict(al.to_dict())
    assert np.allclose(back.map_latent(z), al.map_latent(z))


def test_sizes_that_differ_leave_dimensions_unmatched_at_the_prior_mean():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 5))
    b = np.stack([-a[:, 3], a[:, 0], rng.normal(size=400)], axis=1)  # B's dim 2 means nothing in A
    al = align_encodings(a, b, min_corr=0.3, fill_b=np.array([0.0, 0.0, 7.0]))
    assert al.pairs.tolist() == [[0, 1], [3, 0]] and al.signs.tolist() == [1, -1]
    assert sorted(al.unmatched_a.tolist()) == [1, 2, 4] and al.unmatched_b.tolist() == [2]
    zb = al.map_latent(np.ones((2, 5), np.float32))
    assert zb.shape == (2, 3) and np.allclose(zb[:, 2], 7.0)
    assert al.partner_of(3) == (0, -1) and al.partner_of(1) is None
    assert al.describe()[0].startswith("A.z")


def test_spearman_matches_monotone_nonlinear_relations_and_constant_dims_correlate_with_nothing():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 3))
    b = np.stack([np.exp(a[:, 1]), a[:, 0] ** 3, np.zeros(300)], axis=1)
    c = correlation_matrix(a, b, "spearman")
    assert c[1, 0] == pytest.approx(1.0) and c[0, 1] == pytest.approx(1.0)
    assert np.all(c[:, 2] == 0)
    al = align_encodings(a, b, "spearman", min_corr=0.2)
    assert al.pairs.tolist() == [[0, 1], [1, 0]]


class Lines(FactorDataset):
    """Tiny images whose pixel k is factor k's value: a dataset a linear encoder reads exactly."""

    name = "lines"
    factor_names = ("a", "b", "c")
    factor_sizes = (7, 5, 6)
    image_shape = (1, 1, 3)

    def factor_values(self, k: int) -> np.ndarray:
        return np.linspace(0, 1, self.factor_sizes[k])

    def _render(self, factors: np.ndarray) -> np.ndarray:
        vals = np.stack([self.factor_values(k)[factors[:, k]] for k in range(3)], 1)
        return vals.reshape(-1, 1, 1, 3).astype(np.float32)

    def images(self, factors):  # the base class may add checks; keep the test independent of them
        return self._render(self.check_factors(factors))


class LinearAE(nn.Module):
    """A synthetic "model": encode is a fixed linear map of the pixels; decode its pseudo-inverse."""

    def __init__(self, enc: np.ndarray, name: str):
        super().__init__()
        self.enc = nn.Parameter(torch.as_tensor(enc, dtype=torch.float32), requires_grad=False)
        self.info = ModelInfo(name, enc.shape[1], (1, 1, 3), dataset="lines")

    def encode(self, x):
        return Posterior(mean=x.reshape(len(x), -1) @ self.enc)

    def decode(self, z):
        return (z @ torch.linalg.pinv(self.enc)).clamp(0, 1).view(-1, 1, 1, 3)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.info.latent_dim, generator=generator)


def test_align_checkpoints_recovers_the_matching_of_synthetic_linear_models():
    ea = np.diag([2.0, 1.0, 3.0])
    # B: A's dims 0, 1, 2 land on B's dims 1, 3, 0 with signs -, +, -; B's dim 2 stays constant.
    eb = np.zeros((3, 4))
    eb[0, 1], eb[1, 3], eb[2, 0] = -1.0, 0.5, -4.0
    a, b = LinearAE(ea, "A"), LinearAE(eb, "B")
    al = align_checkpoints(a, b, Lines(), n=300, seed=3)
    assert al.pairs.tolist() == [[0, 1], [1, 3], [2, 0]]
    assert al.signs.tolist() == [-1, 1, -1]
    assert al.unmatched_b.tolist() == [2]
    assert np.allclose(al.scales, [0.5, 0.5, 4 / 3], rtol=1e-3)
    assert al.meta["dataset"] == "lines" and al.meta["samples"] == 300
    # Mapping A's encoding of an image gives B's encoding of the same image on the matched dims.
    x = torch.tensor([[[[0.2, 0.7, 0.4]]]])
    za, zb = a.encode(x).mean.numpy()[0], b.encode(x).mean.numpy()[0]
    assert np.allclose(al.map_latent(za)[[0, 1, 3]], zb[[0, 1, 3]], atol=1e-4)


def test_align_checkpoints_needs_encoders():
    class Generator(nn.Module):
        info = ModelInfo("gan", 3, (1, 1, 3))

        def decode(self, z):
            return torch.zeros(len(z), 1, 1, 3)

        def sample_prior(self, n, generator=None):
            return torch.zeros(n, 3)

    with pytest.raises(TypeError, match="no encoder"):
        align_checkpoints(LinearAE(np.eye(3), "A"), Generator(), Lines(), n=10)


def test_decode_time_reports_the_median_of_batch_one_decodes():
    t = decode_time(tiny_model(), runs=5, warmup=1)
    assert t.runs == 5 and t.batch == 1 and t.device == "cpu"
    assert 0 < t.min_ms <= t.median_ms <= t.p90_ms


def test_checkpoint_series_sorts_by_card_step_then_by_name(tmp_path):
    from latentlab.core.checkpoint import make_card, save_checkpoint

    m = tiny_model()
    paths = []
    for name, step in [("run-b", 3000), ("run-c", 100), ("run-a", 20000)]:
        paths.append(save_checkpoint(m, tmp_path / f"{name}.safetensors", make_card(m, training={"step": step})))
    assert [e.step for e in checkpoint_series(paths)] == [100, 3000, 20000]
    assert [e.name for e in checkpoint_series(paths, by="name")] == ["run-a", "run-b", "run-c"]
    plain = []
    for name in ["snap-step10", "snap-step2", "snap-step100"]:
        plain.append(save_checkpoint(m, tmp_path / f"{name}.safetensors", make_card(m)))
    assert [e.name for e in checkpoint_series(plain)] == ["snap-step2", "snap-step10", "snap-step100"]
    with pytest.raises(ValueError, match="no training step"):
        checkpoint_series(plain, by="step")
