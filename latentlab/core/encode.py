"""Encoding dataset samples into latents: what metrics, direction finders, flows and the latent map share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from latentlab.core.data import FactorDataset
from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import Encodes, LatentModel, device_of

REPRESENTATIONS = ("mean", "sampled")


class NoEncoderError(BadInput, TypeError):
    """The model cannot encode (a GAN): say so and point at inversion."""


def require_encoder(model: LatentModel, purpose: str = "this") -> Encodes:
    """The model as an encoder, or a NoEncoderError that says what to do instead."""
    if not isinstance(model, Encodes):
        raise NoEncoderError(
            f"{model.info.name} has no encoder (it is a generator only, such as a GAN), so {purpose} cannot "
            "encode images with it. Latents for given images can be found by inversion (optimising the latent "
            "until the decoded image matches): `latentlab encode CHECKPOINT IMAGE... --invert --out latents.npz`, "
            "or latentlab.core.invert.invert() in Python."
        )
    return model


class DatasetMismatch(BadInput):
    """The dataset's images are not what the model takes (another channel count or image size)."""


def check_dataset_fits(model: LatentModel, dataset: FactorDataset) -> None:
    """Refuse, before any image is rendered or encoded, a dataset whose images the model cannot take."""
    want = tuple(int(s) for s in model.info.image_shape)
    have = tuple(int(s) for s in dataset.image_shape)
    if want == have:
        return
    from latentlab.core.text import printable

    what = "channels" if want[0] != have[0] else "image size"
    raise DatasetMismatch(
        f"{printable(dataset.name)} has images of {_shape(have)} but {printable(model.info.name)} takes "
        f"{_shape(want)} ({what} differ)",
        "evaluate on the dataset the model was trained on, or one with the same image shape")


def _shape(s: tuple[int, ...]) -> str:
    c, h, w = s
    return f"{c} channel{'s' * (c != 1)} at {h}x{w}"


@dataclass
class Encoded:
    """Posterior statistics of ``n`` dataset samples and their ground-truth factor classes."""

    mean: np.ndarray  # (n, D)
    logvar: np.ndarray | None  # (n, D), None for deterministic encoders
    factors: np.ndarray  # (n, K) class indices
    codes: np.ndarray | None = None  # (n, D) integer codes for quantized models
    seed: int = 0

    @property
    def n(self) -> int:
        return len(self.mean)

    @property
    def variance(self) -> np.ndarray | None:
        return None if self.logvar is None else np.exp(self.logvar)

    def sampled(self, seed: int | None = None) -> np.ndarray:
        """One draw z ~ q(z|x) per sample (the mean for deterministic encoders)."""
        if self.logvar is None:
            return self.mean
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return (self.mean + rng.standard_normal(self.mean.shape) * np.exp(0.5 * self.logvar)).astype(np.float32)

    def representation(self, kind: str = "mean") -> np.ndarray:
        if kind not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {kind!r}")
        return self.mean if kind == "mean" else self.sampled()


def encode_images(model: LatentModel, images: np.ndarray | torch.Tensor, batch_size: int = 256,
                  ctx: JobContext | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(n, C, H, W) images in [0, 1] -> (means, log-variances or None, codes or None)."""
    enc = require_encoder(model)
    ctx = ensure_context(ctx)
    x_all = torch.as_tensor(images, dtype=torch.float32)
    dev = device_of(model)
    means, logvars, codes = [], [], []
    n = len(x_all)
    with torch.inference_mode():
        for a in range(0, n, batch_size):
            ctx.check()
            post = enc.encode(x_all[a : a + batch_size].to(dev))
            means.append(post.mean.float().cpu().numpy())
            if post.logvar is not None:
                logvars.append(post.logvar.float().cpu().numpy())
            if post.codes is not None:
                codes.append(post.codes.cpu().numpy())
            ctx.progress(min(1.0, (a + batch_size) / n), f"encoded {min(n, a + batch_size)}/{n}")
    cat = np.concatenate
    return cat(means), (cat(logvars) if logvars else None), (cat(codes) if codes else None)


def encode_factors(model: LatentModel, dataset: FactorDataset, factors: np.ndarray, batch_size: int = 256,
                   ctx: JobContext | None = None, seed: int = 0) -> Encoded:
    """Render the images of ``factors`` chunk by chunk (never all at once) and encode them."""
    ctx = ensure_context(ctx)
    require_encoder(model)
    check_dataset_fits(model, dataset)
    means, logvars, codes = [], [], []
    n = len(factors)
    chunk = max(batch_size, 1024)
    for a in range(0, n, chunk):
        ctx.check()
        imgs = dataset.images(factors[a : a + chunk])
        m, lv, c = encode_images(model, imgs, batch_size)
        means.append(m)
        if lv is not None:
            logvars.append(lv)
        if c is not None:
            codes.append(c)
        ctx.progress(min(1.0, (a + chunk) / n), f"encoded {min(n, a + chunk)}/{n}")
    cat = np.concatenate
    return Encoded(cat(means), cat(logvars) if logvars else None, np.asarray(factors),
                   cat(codes) if codes else None, seed)


def encode_dataset(model: LatentModel, dataset: FactorDataset, n: int, seed: int = 0, batch_size: int = 256,
                   ctx: JobContext | None = None) -> Encoded:
    """``n`` samples with uniformly drawn factors, encoded."""
    factors = dataset.sample_factors(n, np.random.default_rng(seed))
    return encode_factors(model, dataset, factors, batch_size, ctx, seed)


def representation_fn(model: LatentModel, dataset: FactorDataset, kind: str = "mean", seed: int = 0,
                      batch_size: int = 256) -> Callable[[np.ndarray], np.ndarray]:
    """factors (n, K) -> representations (n, D); what the BetaVAE and FactorVAE scores query."""
    rng = np.random.default_rng(seed)

    def represent(factors: np.ndarray) -> np.ndarray:
        m, lv, _ = encode_images(model, dataset.images(factors), batch_size)
        if kind == "mean" or lv is None:
            return m
        return (m + rng.standard_normal(m.shape) * np.exp(0.5 * lv)).astype(np.float32)

    return represent
