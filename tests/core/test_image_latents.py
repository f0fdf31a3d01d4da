"""Real images in, latents out: reading pictures, encoding with a VAE, inverting a GAN, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.cli import main
from latentlab.core.checkpoint import open_checkpoint, save_checkpoint
from latentlab.core.encode import NoEncoderError
from latentlab.core.image_latents import encode_files, image_latents
from latentlab.core.images import ImageFileError, collect_images, load_image, load_images, to_model_input
from latentlab.core.invert import InversionConfig, image_loss, invert, laplacian_pyramid
from latentlab.core.jobs import JobCancelled, JobContext
from latentlab.core.model import ModelInfo
from latentlab.core.zoo import build_network
from tests.helpers import tiny_model


def _tiny_gan(network: str = "infowgan", seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = build_network(network, latent_dim=3, base=4, hidden=16, image_size=16, **kw).eval()
    model.info = ModelInfo(f"tiny-{network}", 3, (1, 16, 16), prior=type(model).prior)
    with torch.no_grad():  # an untrained tiny generator barely reacts to z; make the latent matter
        for name, p in model.named_parameters():
            if p.ndim > 1:
                torch.nn.init.kaiming_normal_(p)
            elif name.endswith("bias"):
                p.zero_()
        model.generator.fc[0].weight.mul_(5)
        model.generator.deconv[-1].weight.mul_(4)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --- reading pictures ---------------------------------------------------------------------------------------

def test_pictures_are_fitted_to_the_models_input(tmp_path):
    rgba = np.zeros((40, 80, 4), np.uint8)
    rgba[:, 30:50] = (255, 255, 255, 255)  # opaque white band in the middle
    rgba[:, 20:30, :3] = 255  # white but fully transparent: must come out black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    grey = load_image(tmp_path / "a.png", (1, 16, 16))
    assert grey.shape == (1, 16, 16) and grey.dtype == np.float32
    assert grey.min() >= 0 and grey.max() <= 1
    assert grey[0, :, 0].max() < 0.05 and grey[0, 8, 8] > 0.95  # crop: the centre 40x40 of an 80x40 picture
    assert load_image(tmp_path / "a.png", (1, 16, 16), fit="stretch")[0, :, 0].max() < 0.05
    padded = load_image(tmp_path / "a.png", (3, 16, 16), fit="pad")
    assert padded.shape == (3, 16, 16) and padded[:, 0].max() < 0.05  # pad: black bars above and below
    arr = to_model_input(np.full((8, 8, 3), 0.5, np.float32), (3, 4, 4))
    assert np.allclose(arr, 0.5, atol=1 / 255)


def test_folders_expand_and_bad_files_get_clear_errors(tmp_path):
    for name in ("b.jpg", "a.png"):
        Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in collect_images([tmp_path])] == ["a.png", "b.jpg"]
    images, files = load_images([tmp_path], (3, 8, 8))
    assert images.shape == (2, 3, 8, 8) and files[0].endswith("a.png")
    with pytest.raises(ImageFileError, match="notes.txt: not an image"):
        load_image(tmp_path / "notes.txt", (1, 8, 8))
    with pytest.raises(ImageFileError, match="no such file"):
        collect_images([tmp_path / "missing.png"])
    (tmp_path / "cut.png").write_bytes((tmp_path / "a.png").read_bytes()[:40])
    with pytest.raises(ImageFileError, match="cut.png"):
        load_image(tmp_path / "cut.png", (1, 8, 8))


# --- VAEs: the encoder ---------------------------------------------------------------------------------------

def test_vae_encodes_image_files_like_the_arrays_they_hold(tmp_path):
    model = tiny_model(latent_dim=4)
    pics = np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    for i, p in enumerate(pics):
        Image.fromarray(p).save(tmp_path / f"{i}.png")
    result = encode_files(model, [tmp_path])
    assert result.method == "encoder" and result.latents.shape == (3, 4) and result.logvar.shape == (3, 4)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(pics[:, None].astype(np.float32) / 255)).mean.numpy()
    assert np.allclose(result.latents, expected, atol=1e-5)
    assert result.reconstructions.shape == (3, 1, 64, 64) and (result.errors > 0).all()


def test_gan_has_no_encoder_and_auto_inverts():
    gan = _tiny_gan()
    images = np.zeros((1, 1, 16, 16), np.float32)
    with pytest.raises(NoEncoderError, match="inversion"):
        image_latents(gan, images, method="encoder")
    result = image_latents(gan, images, config=InversionConfig(steps=3, restarts=2))
    assert result.method == "inversion" and result.loss_history.shape == (4, 1)


# --- inversion --------------------------------------------------------------------------------------------------

def test_laplacian_pyramid_reconstructs_and_the_loss_is_zero_only_on_equal_images():
    x = torch.rand(2, 3, 32, 32)
    bands = laplacian_pyramid(x)
    assert [b.shape[-1] for b in bands] == [32, 16, 8, 4]  # three band-pass levels and the 4x4 low-pass
    assert torch.allclose(image_loss(x, x), torch.zeros(2))
    assert (image_loss(x, x.flip(0)) > 0).all()
    # A shifted blob: pixel MSE is flat once the blobs stop overlapping, the pyramid's coarse levels are not.
    a, b, c = (torch.zeros(1, 1, 32, 32) for _ in range(3))
    a[..., 4:8, 4:8] = 1
    b[..., 4:8, 14:18] = 1
    c[..., 4:8, 24:28] = 1
    assert image_loss(a, b, "pixel") == pytest.approx(image_loss(a, c, "pixel").item())
    assert image_loss(a, b, "lap") < image_loss(a, c, "lap")


@pytest.mark.parametrize("network", ["infowgan", "qinfowgan"])
def test_inversion_finds_a_reachable_target(network):
    gan = _tiny_gan(network, n_values=5) if network == "qinfowgan" else _tiny_gan(network)
    z_true = gan.sample_prior(3, torch.Generator().manual_seed(7))
    with torch.no_grad():
        target = gan.decode(z_true).numpy()
    steps, partials = [], []
    ctx = JobContext(partial=partials.append, progress=lambda f, m="": steps.append(f))
    before = [p.clone() for p in gan.parameters()]
    res = invert(gan, target, InversionConfig(steps=40, lr=0.1, restarts=2, seed=1), ctx)
    assert res.latents.shape == (3, 3) and res.reconstructions.shape == (3, 1, 16, 16)
    # Latent optimisation is non-convex: every image must improve, most must be matched almost exactly.
    assert (res.errors <= res.start_errors + 1e-7).all()
    assert res.errors.mean() < 0.5 * res.start_errors.mean()
    assert (res.errors < 1e-3).sum() >= 2, res.errors
    assert len(partials) == 41 and partials[-1]["step"] == 40 and "reconstructions" in partials[0]
    assert steps[-1] == 1.0 and all(torch.equal(a, b) for a, b in zip(before, gan.parameters(), strict=True))
    if network == "qinfowgan":
        for j, book in enumerate(gan.codebooks):
            assert set(np.round(res.latents[:, j], 5)) <= set(np.round(book.numpy(), 5))
    else:
        assert np.abs(res.latents).max() <= 1.0
    again = invert(gan, target[:1], InversionConfig(steps=40, lr=0.1, restarts=2, seed=1))
    assert np.allclose(again.latents, res.latents[:1], atol=1e-6), "same seed, same latent"


def test_inversion_is_cancellable_and_checks_shapes():
    gan = _tiny_gan()
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(JobCancelled):
        invert(gan, np.zeros((2, 1, 16, 16), np.float32), InversionConfig(steps=100), JobContext(should_stop=stop))
    with pytest.raises(ValueError, match="load_images"):
        invert(gan, np.zeros((2, 3, 16, 16), np.float32))


# --- CLI ---------------------------------------------------------------------------------------------------------

def test_cli_encode_vae_writes_npz(tmp_path, capsys):
    ckpt = save_checkpoint(tiny_model(latent_dim=4), tmp_path / "vae.safetensors")
    Image.new("L", (30, 30), 200).save(tmp_path / "x.png")
    Image.new("L", (64, 64), 0).save(tmp_path / "y.png")
    out = tmp_path / "z.npz"
    assert main(["encode", str(ckpt), str(tmp_path / "x.png"), str(tmp_path / "y.png"), "--out", str(out),
                 "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with np.load(out) as f:
        assert f["latents"].shape == (2, 4) and list(f["files"]) == [str(tmp_path / "x.png"), str(tmp_path / "y.png")]
        assert f["errors"].shape == (2,) and str(f["method"]) == "encoder" and f["logvar"].shape == (2, 4)
        assert np.allclose(f["latents"], report["latents"])
    assert not list(tmp_path.glob(".*part*")), "no temporary file left behind"


def test_cli_encode_gan_needs_invert_then_inverts(tmp_path, capsys):
    gan = _tiny_gan()
    ckpt = save_checkpoint(gan, tmp_path / "gan.safetensors")
    with torch.no_grad():
        img = (gan.decode(gan.sample_prior(1, torch.Generator().manual_seed(2)))[0, 0].numpy() * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "t.png")
    out = tmp_path / "z.npz"
    assert main(["encode", str(ckpt), str(tmp_path / "t.png"), "--out", str(out)]) == 2
    assert "--invert" in capsys.readouterr().err and not out.exists()
    assert main(["encode", str(ckpt), str(tmp_path / "t.png"), "--invert", "--steps", "40", "--out", str(out),
                 "--device", "cpu", "--save-reconstructions"]) == 0
    with np.load(out) as f:
        assert f["latents"].shape == (1, 3) and f["errors"][0] < 0.01 and f["loss_history"].shape == (41, 1)
        assert f["reconstructions"].shape == (1, 1, 16, 16) and str(f["method"]) == "inversion"
    assert main(["encode", str(ckpt), str(tmp_path / "nothing.png"), "--invert", "--out", str(out)]) == 1
    assert "nothing.png" in capsys.readouterr().err


def test_cli_convert_nvidia_pickle_needs_trust_and_writes_a_safe_file(tmp_path, monkeypatch, capsys):
    from tests.format_fixtures import nvidia_pickle, tiny_stylegan2

    g = tiny_stylegan2(seed=5)
    pkl = tmp_path / "snap.pkl"
    nvidia_pickle(pkl, g, tmp_path / "ran", monkeypatch)
    out = tmp_path / "snap.safetensors"
    assert main(["convert", str(pkl), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--trust" in err and not out.exists()
    assert main(["convert", str(pkl), "--trust", "--out", str(out)]) == 0
    assert "opens without --trust" in capsys.readouterr().out
    ck = open_checkpoint(out)
    assert ck.format == "safetensors" and ck.card["converted_from"]["format"] == "plugin:nvidia-pickle"
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ck.model.decode(z), g.decode(z), atol=1e-6)
    assert not (tmp_path / "ran").exists()


def test_cli_encode_inverts_into_stylegan2_w_space(tmp_path):
    from tests.format_fixtures import rosinality_ckpt, tiny_stylegan2

    g = tiny_stylegan2()
    rosinality_ckpt(tmp_path / "g.pt", g)
    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "red.png")
    out = tmp_path / "w.npz"
    assert main(["encode", str(tmp_path / "g.pt"), str(tmp_path / "red.png"), "--invert", "--space", "w",
                 "--truncation", "0.8", "--steps", "5", "--restarts", "2", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["latents"].shape == (1, 16) and f["errors"][0] < 0.5
    # Out of range: a usage error (exit status 2), before the checkpoint is opened.
    assert main(["encode", str(tmp_path / "g.pt"), str(tmp_path / "red.png"), "--invert", "--truncation", "2",
                 "--out", str(out)]) == 2


def test_cli_encode_inverts_into_w_plus_and_the_codes_import_as_bookmarks(tmp_path):
    """Inverted into W+ (one w per layer), the .npz reads back with load_latent_codes as W+ codes."""
    from latentlab.core.latent_codes import load_latent_codes
    from tests.format_fixtures import rosinality_ckpt, tiny_stylegan2

    g = tiny_stylegan2()
    rosinality_ckpt(tmp_path / "g.pt", g)
    Image.new("RGB", (20, 20), (30, 200, 30)).save(tmp_path / "green.png")
    out = tmp_path / "wp.npz"
    assert main(["encode", str(tmp_path / "g.pt"), str(tmp_path / "green.png"), "--invert", "--space", "w+",
                 "--steps", "5", "--restarts", "2", "--out", str(out)]) == 0
    with np.load(out) as f:
        latents = f["latents"]
    assert latents.shape == (1, g.num_ws * g.w_dim)
    codes = [c for c in load_latent_codes(out, z_dim=g.z_dim, w_dim=g.w_dim, num_ws=g.num_ws, space="w+")
             if c.vector.shape == (g.num_ws * g.w_dim,)]
    assert len(codes) == 1 and codes[0].space == "w+" and np.allclose(codes[0].vector, latents[0])
    assert codes[0].name.endswith("green.png")  # named by the image it came from
