"""The extreme-value causal probe finds a planted cause: in a generator whose first latent moves a blob's
horizontal position and whose second its brightness (the third does nothing), pushing each latent to its
extremes moves exactly those properties, with intervals that exclude zero only there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo
from latentlab.core.probe import BUILTIN, centroid_x, centroid_y, intensity, probe, resolve_property, spread


class PlantedBlob(nn.Module):
    """z0 -> blob x position, z1 -> brightness, z2 -> nothing; a little pixel noise from z3 onward."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("planted blob", 4, (1, 32, 32))
        self.w = nn.Parameter(torch.zeros(1))

    def sample_prior(self, n, generator=None):
        return torch.randn(n, 4, generator=generator)

    def decode(self, z):
        ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
        cx = 0.5 + 0.08 * z[:, 0, None, None]
        bright = torch.sigmoid(z[:, 1, None, None])
        blob = torch.exp(-((xs - cx) ** 2 + (ys - 0.5) ** 2) / 0.01)
        texture = 0.01 * torch.sin(40 * xs + z[:, 3, None, None])
        return (bright * blob + texture + 0.02).clamp(0, 1)[:, None]


def test_the_probe_finds_the_planted_causes_and_nothing_else():
    result = probe(PlantedBlob(), {"centroid_x": centroid_x, "intensity": intensity}, dims=[0, 1, 2], n=64,
                   n_boot=500, seed=0)
    sig = {(e.latent, e.prop): e.significant for e in result.effects}
    assert sig[(0, "centroid_x")] and sig[(1, "intensity")]
    assert not sig[(2, "centroid_x")] and not sig[(2, "intensity")]
    eff = result.matrix("effect")
    assert eff[0, 0] > 0.1  # the blob moves by half the image; the grey background pulls the centroid back
    assert abs(eff[2, 0]) < 1e-6 and abs(eff[2, 1]) < 1e-6
    low, high = result.matrix("low"), result.matrix("high")
    assert np.all(low <= eff + 1e-12) and np.all(eff <= high + 1e-12)
    d = result.to_dict()
    assert d["extreme_sd"] == 3.0 and len(d["effects"]) == 6 and d["latents"][0]["name"] == "z0"


def test_the_built_in_properties_measure_what_they_say():
    img = torch.zeros(1, 1, 10, 10)
    img[0, 0, 2, 7] = 1.0
    assert torch.isclose(centroid_x(img), torch.tensor([0.75])) and torch.isclose(centroid_y(img), torch.tensor([0.25]))
    assert torch.isclose(intensity(img), torch.tensor([0.01])) and float(spread(img)) < 1e-6
    assert set(BUILTIN) == {"intensity", "centroid_x", "centroid_y", "spread"}


def test_properties_by_name_and_bad_requests():
    assert resolve_property("intensity") is intensity
    assert resolve_property("numpy:mean") is np.mean  # a module:function the user names
    with pytest.raises(BadInput, match="unknown property"):
        resolve_property("brightness!")
    with pytest.raises(BadInput, match="cannot import"):
        resolve_property("no_such_module_xyz:f")
    with pytest.raises(BadInput, match="no dataset"):
        resolve_property("factor:posX")
    for bad in ({"n": 1}, {"extreme": float("nan")}, {"dims": [9]}, {"n_boot": 5}):
        with pytest.raises(BadInput):
            probe(PlantedBlob(), {"intensity": intensity}, **bad)


def test_a_factor_readout_recovers_a_dsprites_factor():
    from latentlab.core.data import get_dataset

    ds = get_dataset("dsprites")
    read = resolve_property("factor:posX", ds)
    images, factors = ds.sample(400, np.random.default_rng(1))
    truth = ds.factor_value_table(factors)[:, list(ds.factor_names).index("posX")]
    pred = read(torch.as_tensor(images)).numpy()
    assert np.corrcoef(pred, truth)[0, 1] > 0.9


def test_the_cli_prints_the_effects_and_writes_the_forest_plot(tmp_path, capsys):
    import json

    from PIL import Image

    from latentlab.cli import main
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "vae.safetensors")
    plot = tmp_path / "forest.png"
    assert main(["probe", str(ck), "--n", "16", "--bootstrap", "100", "--property", "intensity",
                 "--property", "centroid_x", "--plot", str(plot), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["properties"] == ["intensity", "centroid_x"] and len(out["effects"]) == 2 * len(out["latents"])
    assert all(e["low"] <= e["effect"] <= e["high"] for e in out["effects"])
    assert Image.open(plot).size[0] > 200
    assert main(["probe", str(ck), "--dims", "99"]) == 2
    assert main(["probe", str(ck), "--property", "colourfulness"]) != 0
    assert main(["probe", str(ck), "--plot", str(ck)]) != 0 and ck.stat().st_size > 0
