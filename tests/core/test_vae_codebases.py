"""PyTorch-VAE's BetaTCVAE, WAE-MMD and ConditionalVAE, Lightning files under other prefixes, and
disentangling-vae results folders: each opened from a random-weight replica saved the way its code base saves,
and decoded (and encoded) exactly as the replica's reference forward pass does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.checkpoints import CheckpointError, open_checkpoint, save_checkpoint
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.fast_decode import TracedDecoder, uint8_images
from latentlab.core.formats.layouts import find_prefix
from latentlab.core.model import Conditioned, Encodes, condition_tag
from latentlab.core.render import Renderer, RenderRequest
from latentlab.core.zoo.antixk import CELEBA_ATTRIBUTES
from tests.vae_fixtures import antixk_model, disvae_folder, lightning_ckpt

TOL = 1e-5


def _z(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _labels(n: int, k: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, k, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


# --- PyTorch-VAE -----------------------------------------------------------------------------------------------

def test_betatc_vae_lightning_ckpt_decodes_and_encodes_like_the_original(tmp_path):
    ref = antixk_model("BetaTCVAE")
    path = lightning_ckpt(tmp_path / "last.ckpt", ref)
    ck = open_checkpoint(path)
    model = ck.model
    assert ck.format == "plugin:pytorch-vae" and ck.card["source"]["model"] == "BetaTCVAE"
    assert model.architecture == "pytorch_betatc_vae" and isinstance(model, Encodes)
    assert model.info.image_shape == (3, 32, 32) and model.info.latent_dim == 4
    assert model.hparams["hidden_dims"] == [8, 16, 32] and model.hparams["fc_hidden"] == 256
    z, x = _z(5, 4), torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert _max_diff(model.decode(z), ref.reference_decode(z).clamp(0, 1)) <= TOL
        mu, logvar = ref.reference_encode(x)
        post = model.encode(x)
        assert _max_diff(post.mean, mu) <= TOL and _max_diff(post.logvar, logvar) <= TOL


def test_wae_mmd_has_a_deterministic_encoder_and_the_original_decoder(tmp_path):
    ref = antixk_model("WAE_MMD")
    ck = open_checkpoint(lightning_ckpt(tmp_path / "wae.ckpt", ref))
    model = ck.model
    assert model.architecture == "pytorch_wae" and ck.card["source"]["model"] == "WAE_MMD"
    assert model.info.image_shape == (3, 16, 16) and model.info.prior == "normal"
    z, x = _z(4, 4), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert _max_diff(model.decode(z), ref.reference_decode(z).clamp(0, 1)) <= TOL
        post = model.encode(x)
        assert post.logvar is None and _max_diff(post.mean, ref.reference_encode(x)) <= TOL
        assert torch.equal(post.sample(), post.mean)


def test_old_lightning_files_are_symmetric_range_for_every_antixk_model(tmp_path):
    ref = antixk_model("BetaTCVAE", seed=2)
    ck = open_checkpoint(lightning_ckpt(tmp_path / "old.ckpt", ref, lightning_version="1.2.10"))
    z = _z(3, 4)
    with torch.no_grad():
        assert _max_diff(ck.model.decode(z), ((ref.reference_decode(z) + 1) / 2).clamp(0, 1)) <= TOL
        unit = open_checkpoint(tmp_path / "old.ckpt", arch="pytorch_vae-unit").model
        assert _max_diff(unit.decode(z), ref.reference_decode(z).clamp(0, 1)) <= TOL


def test_conditional_vae_decodes_z_and_c_like_the_original(tmp_path):
    ref = antixk_model("ConditionalVAE")
    ck = open_checkpoint(lightning_ckpt(tmp_path / "cvae.ckpt", ref))
    model = ck.model
    assert isinstance(model, Conditioned) and isinstance(model, Encodes)
    assert model.architecture == "pytorch_cvae" and model.info.latent_dim == 4
    assert model.condition_names == CELEBA_ATTRIBUTES and not model.condition_exclusive
    assert torch.equal(model.condition, torch.zeros(40))
    assert any("CelebA attributes" in n for n in ck.notes)
    z, y, x = _z(4, 4), _labels(4, 40), torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert _max_diff(model.decode_given(z, y), ref.reference_decode(z, y).clamp(0, 1)) <= TOL
        model.set_condition(y[1])
        assert _max_diff(model.decode(z), ref.reference_decode(z, y[1:2].expand(4, -1)).clamp(0, 1)) <= TOL
        mu, logvar = ref.reference_encode(x, y)
        post = model.encode(x, y)
        assert _max_diff(post.mean, mu) <= TOL and _max_diff(post.logvar, logvar) <= TOL
        # Toggling one attribute changes the image: the condition is really an input of the decoder.
        smiling = y[1].clone()
        smiling[CELEBA_ATTRIBUTES.index("Smiling")] = 1 - smiling[CELEBA_ATTRIBUTES.index("Smiling")]
        before = model.decode(z)
        model.set_condition(smiling)
        assert _max_diff(model.decode(z), before) > 1e-4
    with pytest.raises(ValueError, match="40 condition values"):
        model.set_condition(torch.zeros(39))
    with pytest.raises(ValueError, match="finite"):
        model.set_condition(torch.full((40,), float("nan")))


def test_conditional_vae_trace_takes_the_condition_as_an_input(tmp_path):
    """The preview's trace is made once; decoding under another condition needs no new trace."""
    model = open_checkpoint(lightning_ckpt(tmp_path / "cvae.ckpt", antixk_model("ConditionalVAE", seed=1))).model
    tracer = TracedDecoder()
    assert tracer.prepare(model), tracer.reason
    assert tracer.conditioned
    z = _z(1, 4, seed=5)
    for seed in (1, 2):
        c = _labels(1, 40, seed=seed)[0]
        model.set_condition(c)
        assert not tracer.needs_preparing(model)
        with torch.inference_mode():
            want = uint8_images(model.decode(z)).numpy()
        assert np.array_equal(tracer(z, model.condition), want)


def test_render_results_are_tagged_with_the_condition_they_were_decoded_under(tmp_path):
    model = open_checkpoint(lightning_ckpt(tmp_path / "cvae.ckpt", antixk_model("ConditionalVAE", seed=1))).model
    renderer = Renderer(model, traced=True)
    z = _z(1, 4)[0].numpy()
    first = renderer.render(RenderRequest("preview", z, seq=1, model_token=1))
    renderer.prepare_trace()
    model.set_condition(_labels(1, 40, seed=3)[0])
    second = renderer.render(RenderRequest("preview", z, seq=2, model_token=1))
    assert first.ok and second.ok and first.condition and second.condition
    assert first.condition != second.condition and second.condition == condition_tag(model)
    assert not np.array_equal(first.image, second.image)
    with torch.inference_mode():
        assert np.array_equal(second.image, uint8_images(model.decode(torch.from_numpy(z)[None])).numpy()[0])


def test_converted_antixk_models_reopen_without_the_reader(tmp_path):
    for name in ("BetaTCVAE", "WAE_MMD", "ConditionalVAE"):
        ck = open_checkpoint(lightning_ckpt(tmp_path / f"{name}.ckpt", antixk_model(name)))
        out = save_checkpoint(ck.model, tmp_path / f"{name}.safetensors", ck.card)
        again = open_checkpoint(out)
        assert again.format == "safetensors" and again.model.architecture == ck.model.architecture
        z = _z(3, ck.info.latent_dim)
        with torch.no_grad():
            assert torch.equal(again.model.decode(z), ck.model.decode(z))
        # The note's advice works on the converted file too.
        sym = open_checkpoint(out, arch="pytorch_vae-symmetric").model
        assert sym.hparams["data_range"] == "symmetric"


# --- prefixes found from the tensors ---------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["vae.", "net.", "model.model.", "module.model.", "my_module.inner_vae."])
def test_lightning_files_under_any_prefix_open(tmp_path, prefix):
    ref = antixk_model("VanillaVAE", seed=4)
    extra = {"loss_fn.vgg.0.weight": torch.zeros(2, 3, 3, 3), f"{prefix}ema_decay": torch.tensor(0.99)}
    ck = open_checkpoint(lightning_ckpt(tmp_path / "x.ckpt", ref, prefix=prefix, extra=extra))
    assert ck.model.architecture == "pytorch_vae" and ck.card["source"]["prefix"] == prefix
    assert any("set aside 2 tensor(s)" in n for n in ck.notes)
    z = _z(3, 3)
    with torch.no_grad():
        assert _max_diff(ck.model.decode(z), ref.reference_decode(z).clamp(0, 1)) <= TOL


def test_find_prefix_takes_the_longest_that_matches_and_stops_at_module_boundaries():
    t = torch.zeros(1)
    sig = ("encoder.0.weight", "decoder.0.weight")
    assert find_prefix({"encoder.0.weight": t, "decoder.0.weight": t}, sig) == ""
    both = {k: t for k in ("a.encoder.0.weight", "a.decoder.0.weight", "a.b.encoder.0.weight", "a.b.decoder.0.weight")}
    assert find_prefix(both, sig) == "a.b."
    # "xencoder.0.weight" ends with the name but not at a module boundary; a half match is no match.
    assert find_prefix({"xencoder.0.weight": t, "xdecoder.0.weight": t}, sig) is None
    assert find_prefix({"m.encoder.0.weight": t, "n.decoder.0.weight": t}, sig) is None


# --- disentangling-vae -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [64, 32])
def test_disvae_folder_opens_on_our_burgess_network(tmp_path, size):
    folder = tmp_path / "results" / "btcvae_dsprites"
    ref = disvae_folder(folder, img_size=(1, size, size), latent_dim=6)
    for where in (folder, folder / "model.pt"):
        ck = open_checkpoint(where)
        assert ck.path == folder / "model.pt" and ck.format == "plugin:disentangling-vae"
        assert ck.model.architecture == "burgess_vae" and ck.info.image_shape == (1, size, size)
        assert ck.info.name == "btcvae_dsprites" and ck.info.dataset == "dsprites"
        assert ck.card["source"]["specs"]["latent_dim"] == 6
    z, x = _z(4, 6), torch.rand(3, 1, size, size)
    with torch.no_grad():
        assert _max_diff(ck.model.decode(z), ref.decoder(z)) <= TOL
        mean, logvar = ref.encoder(x)  # the original interleaves mean and log-variance per latent
        post = ck.model.encode(x)
        assert _max_diff(post.mean, mean) <= TOL and _max_diff(post.logvar, logvar) <= TOL


def test_disvae_training_snapshots_and_files_without_specs(tmp_path):
    folder = tmp_path / "VAE_celeba"
    ref = disvae_folder(folder, img_size=(3, 64, 64), latent_dim=4, dataset="celeba")
    (folder / "model-10.pt").write_bytes((folder / "model.pt").read_bytes())
    snap = open_checkpoint(folder / "model-10.pt")
    assert snap.info.name == "VAE_celeba (model-10)" and snap.info.dataset is None
    assert any("celeba" in n for n in snap.notes)
    (folder / "specs.json").unlink()
    bare = open_checkpoint(folder)
    assert any("no specs.json" in n for n in bare.notes) and bare.info.latent_dim == 4
    z = _z(2, 4)
    with torch.no_grad():
        assert _max_diff(bare.model.decode(z), ref.decoder(z)) <= TOL


def test_disvae_specs_that_disagree_with_the_weights_are_refused(tmp_path):
    folder = tmp_path / "run"
    disvae_folder(folder, latent_dim=5, specs={"latent_dim": 10, "img_size": [1, 64, 64], "model_type": "Burgess"})
    with pytest.raises(CheckpointError, match="latent_dim is 10 but the weights have 5"):
        open_checkpoint(folder)
    disvae_folder(folder, latent_dim=5, specs={"latent_dim": 5, "img_size": [3, 64, 64]})
    with pytest.raises(CheckpointError, match=r"img_size is \[3, 64, 64\]"):
        open_checkpoint(folder)


def test_a_folder_without_a_checkpoint_is_explained(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="is a folder without a checkpoint latentlab knows in it"):
        open_checkpoint(tmp_path / "empty")


# --- names from folders -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "name"), [
    ("runs/betavae-dsprites/last.ckpt", "betavae-dsprites (last)"),
    ("logs/BetaTCVAE/version_3/checkpoints/last.ckpt", "BetaTCVAE/version_3 (last)"),
    ("logs/CVAE/version_0/checkpoints/epoch=9-step=25440.ckpt", "CVAE/version_0 (epoch=9-step=25440)"),
    ("results/btcvae_dsprites/model.pt", "btcvae_dsprites"),
    ("results/btcvae_dsprites/model-30.pt", "btcvae_dsprites (model-30)"),
    ("exp/checkpoint.pth.tar", "exp (checkpoint)"),
    ("runs/a/last-v1.ckpt", "a (last-v1)"),
    ("runs/a/beta4_seed2.ckpt", "beta4_seed2"),
    ("runs/a/lastly.ckpt", "lastly"),
])
def test_display_names_come_from_the_run_folder(path, name):
    assert display_name(f"/data/{path}") == name


def test_opened_generic_files_are_named_after_their_folder(tmp_path):
    folder = tmp_path / "runs" / "betavae-dsprites"
    folder.mkdir(parents=True)
    ck = open_checkpoint(lightning_ckpt(folder / "last.ckpt", antixk_model("BetaTCVAE")))
    assert ck.info.name == "betavae-dsprites (last)"
