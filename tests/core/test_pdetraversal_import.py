"""PDETraversal's potentials (its WavePDE state_dict) become latentlab flows that compute the same potentials
and gradients. The reference network is rebuilt here from the published architecture (lib/WavePDE.py of
KingJamesSong/PDETraversal: nn.Linear layers layer_x, layer_time, layer_time2, layer_fusion, layer_out, hidden
and time-embedding widths D, tanh / GELU / tanh, an optional final tanh) with seeded random weights, and saved
as the project saves it (a bare state_dict, or a checkpoint with it under 'support_sets')."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.errors import BadInput, FileError
from latentlab.core.flows import save_flows
from latentlab.core.flows.io import load_flows
from latentlab.core.flows.pdetraversal import import_pdetraversal
from tests.core.flows_support import LinearDecoderModel


def reference_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
    args = t[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class ReferenceMLP(nn.Module):
    def __init__(self, d: int, bounded: bool):
        super().__init__()
        self.d = d
        self.layer_x, self.layer_time, self.layer_time2 = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.layer_fusion, self.layer_out = nn.Linear(d, d), nn.Linear(d, 1)
        self.act4 = nn.Tanh() if bounded else nn.Identity()

    def forward(self, z, t):
        hz = torch.tanh(self.layer_x(z))
        ht = self.layer_time2(nn.functional.gelu(self.layer_time(reference_embedding(t, self.d))))
        return self.act4(self.layer_out(torch.tanh(self.layer_fusion(hz + ht))))[:, 0]


class ReferenceWavePDE(nn.Module):
    def __init__(self, k: int, d: int, bounded: bool):
        super().__init__()
        self.c = nn.Parameter(torch.rand(k, 1) + 0.5)
        self.MLP_SET = nn.ModuleList([ReferenceMLP(d, bounded) for _ in range(k)])


@pytest.fixture(params=[True, False], ids=["bounded", "stylegan2-unbounded"])
def reference(request, tmp_path):
    torch.manual_seed(0)
    ref = ReferenceWavePDE(3, 16, request.param)
    path = tmp_path / "support_sets.pt"
    torch.save(ref.state_dict(), path)
    return ref, path, request.param


def test_imported_potentials_compute_the_reference_potentials_and_gradients(reference):
    ref, path, bounded = reference
    model = LinearDecoderModel(16)
    flows, notes = import_pdetraversal(path, model, bounded=bounded)
    assert flows.n_potentials == 3 and flows.latent_dim == 16 and flows.config.bounded == bounded
    assert np.allclose(flows.speeds, ref.c.detach().reshape(-1).numpy())
    assert any("classifier is new" in n for n in notes)
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
    for k in range(3):
        for t in (0.0, 3.0):
            tt = torch.full((5,), t)
            want = ref.MLP_SET[k](z, tt)
            got = flows.potentials(z, tt, k)
            assert torch.allclose(got, want, atol=1e-6)
            (g_want,) = torch.autograd.grad(want.sum(), z)
            (g_got,) = torch.autograd.grad(got.sum(), z)
            assert torch.allclose(g_got, g_want, atol=1e-6)


def test_a_training_checkpoint_and_the_experiments_args_json_are_understood(tmp_path):
    torch.manual_seed(2)
    ref = ReferenceWavePDE(2, 8, bounded=False)
    folder = tmp_path / "experiments" / "stylegan2_ffhq"
    (folder / "models").mkdir(parents=True)
    (folder / "args.json").write_text(json.dumps({"gan": "StyleGAN2", "shift_in_w_space": True}))
    path = folder / "models" / "checkpoint.pt"
    torch.save({"iter": 1000, "support_sets": ref.state_dict(), "reconstructor": {"w": torch.zeros(2)}}, path)
    flows, notes = import_pdetraversal(path, LinearDecoderModel(8))
    assert flows.config.bounded is False and not any("does not say" in n for n in notes)


def test_the_imported_flows_save_and_reload_as_latentlab_flows(reference, tmp_path):
    ref, path, bounded = reference
    flows, _ = import_pdetraversal(path, LinearDecoderModel(16), bounded=bounded)
    out = save_flows(flows, tmp_path / "imported.flows.safetensors")
    again = load_flows(out)
    z = torch.randn(2, 16)
    assert torch.allclose(again.potentials(z, torch.zeros(2), 1), flows.potentials(z, torch.zeros(2), 1))


def test_files_that_do_not_fit_are_refused_clearly(reference, tmp_path):
    _, path, _ = reference
    with pytest.raises(BadInput, match="16 latents"):
        import_pdetraversal(path, LinearDecoderModel(8))
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(BadInput, match="not PDETraversal potentials"):
        import_pdetraversal(tmp_path / "other.pt", LinearDecoderModel(16))
    sd = ReferenceWavePDE(2, 16, True).state_dict()
    sd["MLP_SET.1.layer_fusion.weight"] = torch.zeros(3, 3)
    torch.save(sd, tmp_path / "broken.pt")
    with pytest.raises(BadInput, match="MLP_SET.1.layer_fusion"):
        import_pdetraversal(tmp_path / "broken.pt", LinearDecoderModel(16))
    with pytest.raises(FileError):
        import_pdetraversal(tmp_path / "missing.pt", LinearDecoderModel(16))


def test_a_hostile_potentials_file_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    torch.save({"c": torch.ones(1, 1), "MLP_SET.0.layer_x.weight": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(FileError, match="names Python code"):
        import_pdetraversal(tmp_path / "evil.pt", LinearDecoderModel(16))
    assert not marker.exists()


def test_the_cli_imports_potentials_for_a_checkpoint(tmp_path, capsys):
    from latentlab.cli import main
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "vae.safetensors")
    from latentlab.core.checkpoints import open_checkpoint

    d = open_checkpoint(ck).info.latent_dim
    torch.manual_seed(3)
    torch.save(ReferenceWavePDE(2, d, True).state_dict(), tmp_path / "support_sets.pt")
    out = tmp_path / "imported.flows.safetensors"
    assert main(["flows", "import", str(tmp_path / "support_sets.pt"), "--model", str(ck), "--out", str(out),
                 "--bounded"]) == 0
    assert "2 potentials" in capsys.readouterr().out
    from latentlab.core.checkpoint import file_sha256

    flows = load_flows(out, checkpoint_sha256=file_sha256(ck), latent_dim=d)
    assert flows.n_potentials == 2
    assert main(["flows", "import", str(tmp_path / "support_sets.pt"), "--model", str(ck), "--out", str(ck)]) != 0
