"""Small models and files the tests share."""

from __future__ import annotations

from pathlib import Path

import torch

from latentlab.core.checkpoint import make_card, save_checkpoint
from latentlab.core.model import ModelInfo
from latentlab.core.zoo import build_network

DSPRITES_FACTORS = ("shape", "scale", "orientation", "posX", "posY")


def tiny_model(arch: str = "beta_vae", latent_dim: int = 4, channels: int = 1, seed: int = 0, **kw):
    """The zoo network at a tiny width (same layer layout as the real one)."""
    torch.manual_seed(seed)
    model = build_network(arch, latent_dim=latent_dim, channels=channels, base=4, hidden=16, **kw)
    prior = "codebook" if model.architecture == "qlae" else "normal"
    model.info = ModelInfo(f"tiny-{arch}", latent_dim, (channels, 64, 64), prior=prior, dataset="dsprites",
                           factor_names=DSPRITES_FACTORS)
    return model.eval()


def tiny_checkpoint(path: Path, arch: str = "beta_vae", **kw) -> Path:
    model = tiny_model(arch, **kw)
    return save_checkpoint(model, path, make_card(model, training={"arch": arch, "steps": 0}))
