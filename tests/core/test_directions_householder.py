"""Householder projector directions (Song et al., ICCV 2023): the frames, the closed form, fine-tuning, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.cli import main
from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.directions import FindOptions, find_directions, load_directions
from latentlab.core.directions.householder import (
    HouseholderProjector,
    frame_reflections,
    householder,
    reflect_frame,
)
from latentlab.core.directions.unsupervised import first_layer, sefa
from latentlab.core.model import ModelInfo
from tests.helpers import tiny_checkpoint, tiny_model


def _orthonormal(n: int, k: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


@pytest.mark.parametrize(("n", "k"), [(7, 1), (12, 5), (9, 9)])
def test_reflections_of_a_frame_rebuild_it_exactly(n, k):
    frame = _orthonormal(n, k, seed=n + k)
    vectors = frame_reflections(frame)
    assert vectors.shape == (n, k)
    rebuilt = reflect_frame(vectors)
    assert torch.allclose(rebuilt, frame, atol=1e-12)
    any_vectors = torch.randn(n, k, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    other = reflect_frame(any_vectors)  # whatever the vectors, the frame is orthonormal
    assert torch.allclose(other.T @ other, torch.eye(k, dtype=torch.float64), atol=1e-12)


class PlantedGenerator(nn.Module):
    """decode(z) = tanh(A z) as a 1x6x6 image, A = U diag(s) V^T with V planted: its first columns are the
    directions the layer stretches most (3, 2.5, 2), the rest are nearly switched off (0.2, 0.1)."""

    S = (3.0, 2.5, 2.0, 0.2, 0.1)

    def __init__(self, seed: int = 0):
        super().__init__()
        d = len(self.S)
        self.v = _orthonormal(d, d, seed)
        u = _orthonormal(36, d, seed + 1)
        self.first_layer = nn.Linear(d, 36, bias=False)
        with torch.no_grad():
            self.first_layer.weight.copy_((u * torch.tensor(self.S, dtype=torch.float64)) @ self.v.T)
        self.info = ModelInfo("planted", d, (1, 6, 6))

    def decode(self, z):
        return torch.tanh(self.first_layer(z)).view(-1, 1, 6, 6)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.info.latent_dim, generator=generator)


def _principal_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the column spans of a and b (1: the same subspace)."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def test_closed_form_is_sefa_top_k_on_the_planted_generator():
    g = PlantedGenerator()
    found = householder(g, k=3)
    assert found.fine_tuned is None and len(found.directions) == 3
    planted = g.v[:, :3].numpy()
    for i, d in enumerate(found.directions):
        assert abs(float(d.vector @ planted[:, i])) == pytest.approx(1.0, abs=1e-6)  # in the planted order
    for d, s in zip(found.directions, sefa(g, 3), strict=True):
        assert abs(float(d.vector @ s.vector)) == pytest.approx(1.0, abs=1e-6)
    assert found.directions[0].params["gain"] == pytest.approx(np.mean(PlantedGenerator.S[:3]), rel=1e-6)


def test_fine_tuning_gives_an_equal_gain_orthogonal_projector_on_the_planted_subspace():
    g = PlantedGenerator()
    before = g.first_layer.weight.detach().clone()
    found = householder(g, k=3, finetune_steps=150, seed=0)
    assert torch.equal(g.first_layer.weight, before), "the original generator must not change"
    tuned = found.fine_tuned
    assert isinstance(tuned, PlantedGenerator) and isinstance(tuned.first_layer, nn.Linear)
    s = torch.linalg.svdvals(tuned.first_layer.weight.detach().double()).numpy()
    assert np.allclose(s[:3], s[0], rtol=1e-5) and np.all(s[3:] < 1e-5 * s[0])  # rank 3, one gain
    vectors = np.stack([d.vector for d in found.directions], axis=1)
    assert np.allclose(vectors.T @ vectors, np.eye(3), atol=1e-6)
    assert _principal_cosines(vectors, g.v[:, :3].numpy()).min() > 0.99
    assert found.losses[-1] < found.losses[0]  # distillation made progress from the closed-form start
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.nn.functional.mse_loss(tuned.decode(z), g.decode(z)) < 0.05


def test_projector_bakes_into_the_layer_it_replaces():
    layer = nn.Linear(6, 10)
    proj = HouseholderProjector.from_linear(layer, 4)
    x = torch.randn(5, 6)
    assert torch.allclose(proj(x), proj.as_linear()(x), atol=1e-6)
    assert torch.equal(proj.as_linear().bias, layer.bias)


def test_find_directions_saves_the_fine_tuned_generator_and_names_it_as_the_source(tmp_path):
    model = tiny_model(latent_dim=4)
    with pytest.raises(ValueError, match="save-model"):
        find_directions(model, FindOptions("householder", k=2, finetune_steps=5))
    out = tmp_path / "tuned.safetensors"
    found = find_directions(model, FindOptions("householder", k=2, finetune_steps=5, save_model=str(out)),
                            source_sha256="a" * 64, source_name="tiny")
    ck = open_checkpoint(out, device="cpu")
    assert found.source_sha256 == ck.sha256 != "a" * 64 and "Householder" in ck.info.name
    layer = first_layer(ck.model)
    s = torch.linalg.svdvals(layer.weight.detach().double()).numpy()
    assert np.allclose(s[:2], s[0], rtol=1e-4) and np.all(s[2:] < 1e-4 * s[0])


def test_cli_fine_tunes_writes_model_and_directions(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out, tuned = tmp_path / "d.safetensors", tmp_path / "tuned.safetensors"
    rc = main(["directions", str(ck), "--method", "householder", "--k", "3", "--finetune-steps", "10",
               "--save-model", str(tuned), "--eval-n", "8", "--device", "cpu", "--out", str(out), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    dirs = load_directions(out)
    assert dirs.names == ["householder 0", "householder 1", "householder 2"]
    assert dirs.source_sha256 == report["sha256"] == open_checkpoint(tuned, device="cpu").sha256
    assert np.allclose(report["cosine"], np.eye(3), atol=1e-5)
    assert np.asarray(report["evaluation"]["matrix"]).shape == (3, 5)


@pytest.mark.parametrize(("extra", "message"), [
    (["--save-model", "X.safetensors"], "--save-model goes with --method householder --finetune-steps"),
    (["--finetune-steps", "3"], "save-model"),
    (["--finetune-steps", "3", "--save-model", "X.npz"], "must be a .safetensors file"),
    (["--finetune-steps", "3", "--save-model", "SRC"], "would overwrite the checkpoint"),
])
def test_cli_refuses_bad_fine_tuning_options(tmp_path, capsys, extra, message):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    extra = [str(ck) if a == "SRC" else (str(tmp_path / a) if a.startswith("X") else a) for a in extra]
    rc = main(["directions", str(ck), "--method", "householder", "--k", "2", "--no-eval", "--device", "cpu",
               "--out", str(tmp_path / "d.safetensors"), *extra])
    assert rc != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "d.safetensors").exists()


def test_style_generator_directions_live_in_w_and_stretch_the_styles_most():
    from latentlab.core.style_edit import settings_of, view_of
    from tests.format_fixtures import tiny_stylegan2

    g = tiny_stylegan2()
    with pytest.raises(ValueError, match="switch the latent space to w"):
        sefa(g, 2)
    view = view_of(g, settings_of(g).replace(space="w"))
    found = find_directions(view, FindOptions("householder", k=3))
    assert all(d.params["space"] == "w" for d in found)
    top = sefa(view, 3)
    for d, s in zip(found, top, strict=True):
        assert abs(float(d.vector @ s.vector)) == pytest.approx(1.0, abs=1e-6)

    def style_change(direction: np.ndarray) -> float:  # how far the stacked styles move per unit step in w
        w0 = torch.randn(1, view.w_dim, generator=torch.Generator().manual_seed(0))
        w1 = w0 + torch.as_tensor(direction, dtype=torch.float32)
        with torch.no_grad():
            a, b = (torch.cat(list(view.style_vectors(w.unsqueeze(1).expand(-1, view.num_ws, -1)).values()), 1)
                    for w in (w0, w1))
        return float((b - a).norm())

    best = style_change(top[0].vector)
    assert best == pytest.approx(np.sqrt(top[0].params["eigenvalue"]), rel=1e-4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = rng.standard_normal(view.w_dim)
        assert style_change(r / np.linalg.norm(r)) <= best + 1e-6
    with pytest.raises(ValueError, match="closed form"):
        householder(view, k=2, finetune_steps=3)
