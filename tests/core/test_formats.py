"""Third-party checkpoints: each loader on a tiny file generated in its code base's layout."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from latentlab.core.checkpoint import (
    ArchitectureMismatchError,
    CheckpointError,
    UntrustedCheckpointError,
    open_checkpoint,
    save_checkpoint,
)
from latentlab.core.formats.inert_pickle import Record, inert_load
from latentlab.core.model import Encodes, LatentModel
from latentlab.core.zoo.stylegan2 import stylegan2_view, upfirdn2d
from tests.format_fixtures import (
    antixk_ckpt,
    disent_ckpt,
    konny_ckpt,
    nvidia_pickle,
    rosinality_ckpt,
    tiny_stylegan2,
)


def _z(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


# --- the data-only unpickler -----------------------------------------------------------------------------

class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_inert_unpickler_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"
    plain = tmp_path / "evil.pkl"
    with open(plain, "wb") as fh:
        pickle.dump({"w": torch.ones(2), "payload": _Evil(marker)}, fh)
    zipped = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _Evil(marker)}, zipped)
    for path in (plain, zipped):
        obj = inert_load(path)
        assert torch.equal(obj["w"], torch.ones(2))
        assert isinstance(obj["payload"], Record) and obj["payload"].name == "posix.system"
    assert not marker.exists()
    # The same files through open_checkpoint: refused (they hold no model), still without running anything.
    with pytest.raises(CheckpointError):
        open_checkpoint(zipped)
    assert not marker.exists()


# --- Lightning VAEs -----------------------------------------------------------------------------------------

def test_pytorch_vae_lightning_ckpt_opens_by_sniffing_and_matches_the_original(tmp_path):
    path = tmp_path / "last.ckpt"
    ref = antixk_ckpt(path)
    ck = open_checkpoint(path)
    model = ck.model
    assert ck.format == "plugin:pytorch-vae" and isinstance(model, Encodes)
    assert model.hparams["hidden_dims"] == [4, 8, 8] and model.info.latent_dim == 3
    assert model.info.image_shape == (3, 16, 16)
    z = _z(4, 3)
    with torch.no_grad():
        expected = ref.reference_decode(z).clamp(0, 1)  # Lightning >= 1.5: data in [0, 1]
        assert torch.allclose(model.decode(z), expected, atol=1e-6)
        assert torch.equal(model.decode(z), model.decode(z))
        x = torch.rand(2, 3, 16, 16)
        mu, logvar = ref.reference_encode(x)
        post = model.encode(x)
        assert torch.allclose(post.mean, mu, atol=1e-6) and torch.allclose(post.logvar, logvar, atol=1e-6)
    assert ck.card["source"]["pytorch-lightning_version"] == "1.5.6"
    assert any("[0, 1]" in n for n in ck.notes)


def test_pytorch_vae_from_old_lightning_uses_symmetric_range_and_arch_overrides(tmp_path):
    path = tmp_path / "old.ckpt"
    ref = antixk_ckpt(path, lightning_version="1.2.10")
    z = _z(3, 3)
    with torch.no_grad():
        old = open_checkpoint(path).model
        assert torch.allclose(old.decode(z), ((ref.reference_decode(z) + 1) / 2).clamp(0, 1), atol=1e-6)
        forced = open_checkpoint(path, arch="pytorch_vae-unit").model
        assert torch.allclose(forced.decode(z), ref.reference_decode(z).clamp(0, 1), atol=1e-6)


def test_disent_ckpt_with_a_pickled_model_in_its_hparams_opens(tmp_path):
    path = tmp_path / "disent.ckpt"
    ae = disent_ckpt(path, recon_loss="bce")
    ck = open_checkpoint(path)
    assert ck.format == "plugin:disent" and ck.model.hparams["output"] == "sigmoid"
    assert ck.model.hparams["widths"] == [4, 4, 8, 8] and ck.model.info.image_shape == (1, 64, 64)
    z = _z(2, 3)
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ck.model.decode(z), torch.sigmoid(ae._decoder.model(z)), atol=1e-6)
        mean, logvar = ae._encoder.model(x).chunk(2, 1)
        assert torch.allclose(ck.model.encode(x).mean, mean, atol=1e-6)
    default = disent_ckpt(tmp_path / "mse.ckpt", recon_loss=None)
    assert default is not None and open_checkpoint(tmp_path / "mse.ckpt").model.hparams["output"] == "linear"


@pytest.mark.parametrize("variant", ["H", "B"])
def test_konny_beta_vae_checkpoints_open_and_match(tmp_path, variant):
    path = tmp_path / "last"
    net = konny_ckpt(path, variant)
    ck = open_checkpoint(path)
    assert ck.format == "plugin:beta-vae-konny" and ck.model.hparams["variant"] == variant
    z, x = _z(2, 3), torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ck.model.decode(z), torch.sigmoid(net.decoder(z)), atol=1e-6)
        assert torch.allclose(ck.model.encode(x).mean, net.encoder(x)[:, :3], atol=1e-6)


def test_lightning_ckpt_with_missing_tensors_names_them(tmp_path):
    path = tmp_path / "broken.ckpt"
    antixk_ckpt(path)
    ck = torch.load(path, weights_only=False)
    del ck["state_dict"]["model.decoder.0.0.weight"]
    torch.save(ck, path)
    with pytest.raises(ArchitectureMismatchError, match=r"decoder\.0\.0\.weight"):
        open_checkpoint(path)


@pytest.mark.parametrize("make", [antixk_ckpt, disent_ckpt, konny_ckpt])
def test_converted_vae_reopens_without_plugins_and_decodes_the_same(tmp_path, make):
    src = tmp_path / "in.ckpt"
    make(src)
    ck = open_checkpoint(src)
    out = save_checkpoint(ck.model, tmp_path / "out.safetensors", ck.card)
    again = open_checkpoint(out)
    assert again.format == "safetensors"
    z = _z(3, ck.model.info.latent_dim)
    with torch.no_grad():
        assert torch.equal(again.model.decode(z), ck.model.decode(z))


# --- StyleGAN2 ------------------------------------------------------------------------------------------------

def test_upfirdn2d_upsamples_a_constant_to_a_constant_and_keeps_size():
    from latentlab.core.zoo.stylegan2 import make_kernel

    x = torch.ones(1, 2, 5, 5)
    y = upfirdn2d(x, make_kernel([1, 3, 3, 1]) * 4, up=2, pad=(2, 1))
    assert y.shape == (1, 2, 10, 10)
    assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.ones(1, 2, 6, 6))  # interior: the filter's DC gain is 1


def test_rosinality_pt_opens_and_decodes_deterministically(tmp_path):
    g = tiny_stylegan2()
    path = tmp_path / "100000.pt"
    rosinality_ckpt(path, g)
    ck = open_checkpoint(path)
    model = ck.model
    assert ck.format == "plugin:rosinality-stylegan2" and isinstance(model, LatentModel)
    assert not isinstance(model, Encodes)
    assert model.hparams["channels"] == [8, 8, 4] and model.info.image_shape == (3, 16, 16)
    assert torch.equal(model.latent_avg, g.latent_avg)
    z = _z(3, 16)
    with torch.no_grad():
        img = model.decode(z)
        assert img.shape == (3, 3, 16, 16) and 0 <= img.min() and img.max() <= 1
        assert torch.equal(img, model.decode(z))
        assert torch.equal(img, g.decode(z))
    assert ck.card["source"]["args"]["n_mlp"] == 2


def test_stylegan2_w_view_shares_weights_and_truncation_pulls_to_the_average(tmp_path):
    g = tiny_stylegan2()
    wv = stylegan2_view(g, "w")
    assert wv.info.latent_dim == 16 and wv.info.name.endswith("(w)") and g.latent_space == "z"
    z = _z(2, 16)
    with torch.no_grad():
        assert torch.allclose(wv.decode(g.map(z)), g.decode(z))
        t0 = stylegan2_view(g, "z", truncation=0.0)
        avg_img = wv.decode(g.latent_avg[None].expand(2, -1))
        assert torch.allclose(t0.decode(z), avg_img, atol=1e-6)
        w = wv.sample_prior(4, torch.Generator().manual_seed(1))
        assert w.shape == (4, 16) and torch.allclose(wv.latent_mean, g.latent_avg)
    with pytest.raises(ValueError, match="truncation"):
        stylegan2_view(g, "w", truncation=1.5)


def test_rosinality_without_latent_avg_estimates_it_and_missing_tensors_are_named(tmp_path):
    g = tiny_stylegan2()
    path = tmp_path / "g.pt"
    rosinality_ckpt(path, g, with_latent_avg=False)
    ck = open_checkpoint(path)
    assert any("estimated" in n for n in ck.notes)
    with torch.no_grad():
        w = g.style(_z(4096, 16, seed=0))
    assert torch.allclose(ck.model.latent_avg, w.mean(0), atol=1e-5)
    sd = {k: v for k, v in g.state_dict().items() if k not in ("latent_avg", "convs.1.conv.modulation.weight")}
    torch.save({"g_ema": sd}, path)
    with pytest.raises(ArchitectureMismatchError, match=r"convs\.1\.conv\.modulation\.weight"):
        open_checkpoint(path)


def test_converted_stylegan2_keeps_w_space_and_truncation(tmp_path):
    g = tiny_stylegan2()
    view = stylegan2_view(g, "w", truncation=0.7)
    out = save_checkpoint(view, tmp_path / "w.safetensors")
    again = open_checkpoint(out).model
    assert again.latent_space == "w" and again.truncation == 0.7 and again.info.latent_dim == 16
    w = _z(2, 16)
    with torch.no_grad():
        assert torch.equal(again.decode(w), view.decode(w))


# --- NVIDIA pickles -----------------------------------------------------------------------------------------

def test_nvidia_pickle_is_refused_without_trust_and_says_how(tmp_path, monkeypatch):
    path = tmp_path / "network-snapshot-000100.pkl"
    marker = tmp_path / "embedded-code-ran"
    nvidia_pickle(path, tiny_stylegan2(), marker, monkeypatch)
    with pytest.raises(UntrustedCheckpointError) as err:
        open_checkpoint(path)
    msg = str(err.value)
    assert "network-snapshot-000100.pkl" in msg and "--trust" in msg and "latentlab convert" in msg
    assert not marker.exists()


def test_nvidia_pickle_with_trust_maps_onto_our_generator_without_running_its_code(tmp_path, monkeypatch):
    g = tiny_stylegan2(seed=3)
    path = tmp_path / "snap.pkl"
    marker = tmp_path / "embedded-code-ran"
    nvidia_pickle(path, g, marker, monkeypatch)
    ck = open_checkpoint(path, trust=True)
    assert not marker.exists(), "the pickle's embedded source must never run"
    model = ck.model
    assert ck.format == "plugin:nvidia-pickle" and model.hparams["conv_clamp"] == 256.0
    assert model.hparams["channels"] == [8, 8, 4] and torch.equal(model.latent_avg, g.latent_avg)
    z = _z(3, 16)
    with torch.no_grad():
        assert torch.allclose(model.decode(z), g.decode(z), atol=1e-6)
    assert ck.card["source"]["network"] == "G_ema" and ck.card["source"]["training_set"]["resolution"] == 16


def test_nvidia_stylegan3_and_conditional_pickles_are_refused_with_reasons(tmp_path, monkeypatch):
    from latentlab.core.formats import nvidia

    tensors = {"synthesis.input.freqs": torch.zeros(4, 2), "mapping.fc0.weight": torch.zeros(2, 2)}
    with pytest.raises(CheckpointError, match="StyleGAN3"):
        nvidia.ada_to_stylegan2(tmp_path / "x.pkl", tensors, {"": ("Generator", {"c_dim": 0})})
    tensors = {"mapping.embed.weight": torch.zeros(2, 2), "synthesis.b4.const": torch.zeros(2, 4, 4)}
    with pytest.raises(CheckpointError, match="conditional"):
        nvidia.ada_to_stylegan2(tmp_path / "x.pkl", tensors, {"": ("Generator", {"c_dim": 10})})
