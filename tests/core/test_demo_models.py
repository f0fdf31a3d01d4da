"""The shipped demo models: each opens safely, its card says how it was made, and it decodes real images.

Issue 2 asks for a VAE, a beta-VAE and a QLAE on dSprites and a beta-VAE on 3D Shapes; issue 8 for a GAN on
dSprites. Each is committed with a traversal PNG beside it.
"""

from __future__ import annotations

import json

import pytest
import torch

from latentlab.cli import main
from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.data import get_dataset
from latentlab.core.encode import encode_images
from latentlab.core.model import Encodes
from tests.conftest import MODELS

DEMOS = {
    "vae-dsprites": ("vae", "dsprites"),
    "beta-vae-dsprites": ("beta_vae", "dsprites"),
    "qlae-dsprites": ("qlae", "dsprites"),
    "beta-vae-shapes3d": ("beta_vae", "shapes3d"),
    "infowgan-dsprites": ("infowgan_gp", "dsprites"),
}


@pytest.mark.parametrize("stem", DEMOS)
def test_demo_model_card_and_traversal_png(stem, capsys):
    path = MODELS / f"{stem}.safetensors"
    assert path.exists(), f"{path} is missing: the demo models are part of the repository"
    assert (MODELS / f"{stem}.png").exists(), "each demo model has its traversal grid beside it"
    assert path.stat().st_size < 20 * 2**20, "demo models stay a few MB"
    assert main(["info", str(path), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)["card"]
    arch, dataset = DEMOS[stem]
    assert card["training"]["arch"] == arch and card["info"]["dataset"] == dataset
    assert card["recipe"].startswith("latentlab train") and f"--arch {arch}" in card["recipe"]
    assert card["training"]["steps"] >= 1000


@pytest.mark.parametrize("stem", [s for s, (a, _) in DEMOS.items() if a != "infowgan_gp"])
def test_demo_autoencoders_reconstruct_their_dataset(stem):
    """Reconstructions are far closer to their inputs than to other images of the same dataset."""
    ck = open_checkpoint(MODELS / f"{stem}.safetensors", device="cpu")
    model = ck.model
    assert isinstance(model, Encodes)
    ds = get_dataset(ck.info.dataset)
    x, _ = ds.sample(64, rng=0)
    mean, _, _ = encode_images(model, x)
    with torch.no_grad():
        recon = model.decode(torch.as_tensor(mean)).numpy()
    own = ((recon - x) ** 2).mean(axis=(1, 2, 3))
    shuffled = ((recon - x[::-1]) ** 2).mean(axis=(1, 2, 3))
    assert own.mean() < 0.5 * shuffled.mean(), f"{stem}: {own.mean():.4f} vs {shuffled.mean():.4f}"


def test_demo_gan_makes_sprites_not_noise():
    """Generated images look like dSprites: mostly black background with one bright blob."""
    model = open_checkpoint(MODELS / "infowgan-dsprites.safetensors", device="cpu").model
    with torch.no_grad():
        x = model.decode(model.sample_prior(64, generator=torch.Generator().manual_seed(0))).numpy()
    bright = (x > 0.5).mean(axis=(1, 2, 3))
    assert 0.005 < float(bright.mean()) < 0.15, bright.mean()
    assert float((x < 0.2).mean()) > 0.7


@pytest.mark.slow
def test_beta_vae_does_not_score_clearly_below_the_vae_on_mig():
    """Issue 4's sanity check on the shipped models (same points, same seed, the published protocol)."""
    from latentlab.core.metrics import evaluate

    mig = {stem: evaluate(MODELS / f"{stem}.safetensors", "dsprites", ["mig"], n=4000, store=False, seed=0)["mig"]
           .values["mig"] for stem in ("vae-dsprites", "beta-vae-dsprites")}
    assert mig["beta-vae-dsprites"] >= mig["vae-dsprites"] - 0.03, mig
