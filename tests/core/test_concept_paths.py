"""Concept-space paths recover a planted learning order: a series of encoders on dSprites where the
horizontal position becomes readable at step 200 and the vertical one at step 600 (before that each latent is a
constant) gives a path whose read-outs rise at those steps, in that order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.concept_paths import concept_path, path_plot
from latentlab.core.data import get_dataset
from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo, Posterior


class Planted(nn.Module):
    """Latent 0: the sprite's horizontal centroid once ``x_learned``; latent 1: the vertical once ``y_learned``."""

    def __init__(self, x_learned: bool, y_learned: bool):
        super().__init__()
        self.info = ModelInfo("planted", 2, (1, 64, 64), dataset="dsprites")
        self.flags = (x_learned, y_learned)
        self.w = nn.Parameter(torch.zeros(1))

    def sample_prior(self, n, generator=None):
        return torch.randn(n, 2, generator=generator)

    def decode(self, z):
        return torch.zeros(len(z), 1, 64, 64)

    def encode(self, x):
        g = x.mean(dim=1)
        mass = g.sum(dim=(1, 2)).clamp_min(1e-6)
        pos = torch.arange(64, dtype=torch.float32)
        cx = (g.sum(dim=1) * pos).sum(dim=1) / mass
        cy = (g.sum(dim=2) * pos).sum(dim=1) / mass
        z = torch.stack([cx if self.flags[0] else torch.zeros_like(cx),
                         cy if self.flags[1] else torch.zeros_like(cy)], dim=1)
        return Posterior(z, torch.zeros_like(z))


def test_the_path_shows_each_factor_rising_when_it_was_learned():
    ds = get_dataset("dsprites")
    images, factors = ds.sample(1200, np.random.default_rng(0))
    steps = [0, 200, 400, 600, 800]
    models = [Planted(s >= 200, s >= 600) for s in steps]
    path = concept_path(models, steps, [f"step {s}" for s in steps], images, factors, list(ds.factor_names))
    x, y = path.factors.index("posX"), path.factors.index("posY")
    assert path.readout.shape == (5, len(ds.factor_names))
    assert path.readout[0, x] < path.chance[x] + 0.05 and path.readout[1, x] > 0.5  # posX from step 200
    assert path.readout[2, y] < path.chance[y] + 0.05 and path.readout[3, y] > 0.5  # posY from step 600
    learned = path.learned_at()
    assert learned["posX"] == 200 and learned["posY"] == 600
    assert path.to_dict()["learned_at"]["posY"] == 600
    img = path_plot(path)
    assert img.ndim == 3 and img.shape[2] == 3


def test_too_little_to_make_a_path_is_refused():
    ds = get_dataset("dsprites")
    images, factors = ds.sample(40, np.random.default_rng(0))
    with pytest.raises(BadInput, match="two or more"):
        concept_path([Planted(True, True)], [0], ["a"], images, factors, list(ds.factor_names))
    with pytest.raises(BadInput, match="at least 20"):
        concept_path([Planted(True, True)] * 2, [0, 1], ["a", "b"], images[:5], factors[:5], list(ds.factor_names))


def test_the_cli_reads_a_series_folder(tmp_path, capsys):
    from latentlab.cli import main
    from tests.helpers import tiny_checkpoint

    folder = tmp_path / "run.series"
    folder.mkdir()
    for i in range(2):
        tiny_checkpoint(folder / f"step-{i:07d}.safetensors", seed=i)
    assert main(["concepts", str(folder), "--n", "60", "--dataset", "dsprites", "--plot",
                 str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "learned (half of the rise)" in out and (tmp_path / "c.png").is_file()
    assert main(["concepts", str(folder / "step-0000000.safetensors")]) == 2
