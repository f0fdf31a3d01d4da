"""The shipped demo models: each opens safely, its card says how it was made, it decodes real images, and the
figures models/README.md states hold on a subsample; the flagship carries its flows, directions and series.

Issue 2 asked for a VAE and a QLAE on dSprites and a model on 3D Shapes, issue 8 for a GAN, issue 23 for a
disentangled beta-TCVAE on dSprites (MIG >= 0.25 and DCI disentanglement >= 0.35 on 10,000 points) that
carries its flows, directions and training series, a 3D Shapes model that separates the hues, and a QLAE
whose InfoM is clearly above the VAE's. The README's figures come from 10,000 points; these
tests recompute them on 3,000 with bounds a little looser, which a model that lost its disentanglement fails.
"""

from __future__ import annotations

import json

import pytest
import torch

from latentlab.cli import main
from latentlab.core.checkpoint import file_sha256, open_checkpoint, read_card
from latentlab.core.data import get_dataset
from latentlab.core.encode import encode_images
from latentlab.core.metrics import evaluate
from latentlab.core.model import Encodes
from latentlab.core.sidecars import find_sidecars
from tests.conftest import MODELS

DEMOS = {
    "beta-tcvae-dsprites": ("beta_tcvae", "dsprites"),
    "beta-vae-dsprites": ("beta_vae", "dsprites"),
    "beta-tcvae-shapes3d": ("beta_tcvae", "shapes3d"),
    "vae-dsprites": ("vae", "dsprites"),
    "qlae-dsprites": ("qlae", "dsprites"),
    "infowgan-dsprites": ("infowgan_gp", "dsprites"),
}
FLAGSHIP = "beta-tcvae-dsprites"
SUBSAMPLE = 3000


def _metrics(stem: str, names: list[str]):
    return evaluate(MODELS / f"{stem}.safetensors", None, names, n=SUBSAMPLE, store=False, seed=0, device="cpu")


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


def test_the_models_folder_stays_small():
    total = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert total < 40 * 2**20, f"models/ holds {total / 2**20:.1f} MB"


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


def test_flagship_opens_with_its_flows_directions_and_training_series():
    path = MODELS / f"{FLAGSHIP}.safetensors"
    sha = file_sha256(path)
    found = find_sidecars(path, sha)
    assert not found.notes, found.notes
    assert found.flows is not None and found.directions is not None
    from latentlab.core.directions import load_directions
    from latentlab.core.flows import load_flows

    flows = load_flows(found.flows, checkpoint_sha256=sha, latent_dim=10)
    assert flows.n_potentials >= 4 and flows.step >= 500
    directions = load_directions(found.directions)
    kinds = {d.method for d in directions}
    assert "interfacegan" in kinds and kinds & {"pca", "ganspace", "sefa"}, kinds
    assert len(found.series) >= 7 and found.series[-1] == path
    steps = [read_card(p)["training"]["step"] for p in found.series]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert steps[-1] == read_card(path)["training"]["steps"]


@pytest.mark.slow
def test_the_flagship_is_disentangled_on_a_subsample():
    """README: MIG >= 0.25 and DCI disentanglement >= 0.35 on 10,000 points; here 3,000, a looser bound."""
    res = _metrics(FLAGSHIP, ["mig", "dci"])
    assert res["mig"].values["mig"] >= 0.2, res["mig"].values
    assert res["dci"].values["dci_disentanglement"] >= 0.3, res["dci"].values


@pytest.mark.slow
def test_beta_vae_does_not_score_clearly_below_the_vae_on_mig():
    """Issue 4's sanity check on the shipped models (same points, same seed, the published protocol)."""
    mig = {stem: evaluate(MODELS / f"{stem}.safetensors", "dsprites", ["mig"], n=4000, store=False, seed=0)["mig"]
           .values["mig"] for stem in ("vae-dsprites", "beta-vae-dsprites")}
    assert mig["beta-vae-dsprites"] >= mig["vae-dsprites"] - 0.03, mig


@pytest.mark.slow
def test_the_3d_shapes_model_gives_each_hue_a_latent_of_its_own():
    """models/README.md: floor, wall and object hue each carried by one latent (I(z; f) / H(f) near 1)."""
    mig = _metrics("beta-tcvae-shapes3d", ["mig"])["mig"]
    nmi = mig.arrays["mi"] / mig.arrays["factor_entropy"][None, :]
    owners = {}
    for hue in ("floor_hue", "wall_hue", "object_hue"):
        k = list(mig.factor_names).index(hue)
        owners[hue] = int(nmi[:, k].argmax())
        assert nmi[owners[hue], k] >= 0.8, (hue, nmi[:, k].round(2))
    assert len(set(owners.values())) == 3, owners


@pytest.mark.slow
def test_the_qlae_is_more_modular_than_the_vae_by_infomec():
    """Issue 23 / models/README.md: the QLAE's InfoM visibly above the plain VAE's on the same points."""
    infom = {stem: _metrics(stem, ["infomec"])["infomec"].values["infom"] for stem in ("qlae-dsprites", "vae-dsprites")}
    assert infom["qlae-dsprites"] >= infom["vae-dsprites"] + 0.08, infom
