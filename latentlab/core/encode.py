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


class FactorEncodings:
    """Each dataset image's posterior, encoded at most once and looked up by its factor row.

    The BetaVAE and FactorVAE protocols draw fresh factor rows for every vote: 15,000 votes of 64 (BetaVAE:
    128) images are 1-2 million encodings, while dSprites has 737,280 distinct images and 3D Shapes 480,000.
    A dataset image is a function of its factors and the posterior a function of the image, so looking a row
    up returns exactly what rendering and encoding it again would (the sampled representation still draws
    fresh noise on every lookup). Datasets too large to hold (``max_bytes``) are encoded on demand instead.
    """

    def __init__(self, model: LatentModel, dataset: FactorDataset, batch_size: int = 256,
                 max_bytes: int = 1 << 30):
        require_encoder(model)  # refused here, before any work, if it cannot encode
        self.model = model
        self.dataset = dataset
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self._mean: np.ndarray | None = None
        self._logvar: np.ndarray | None = None
        self._have: np.ndarray | None = None
        self._memo = True
        self.encoded = 0  # images encoded so far (a figure for tests and progress notes)

    def _encode(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        means, logvars = [], []
        for a in range(0, len(factors), 4096):
            m, lv, _ = encode_images(self.model, self.dataset.images(factors[a : a + 4096]), self.batch_size)
            means.append(m)
            if lv is not None:
                logvars.append(lv)
        self.encoded += len(factors)
        return np.concatenate(means), (np.concatenate(logvars) if logvars else None)

    def lookup(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, K) factor rows -> (means, log-variances or None) of their images."""
        factors = self.dataset.check_factors(factors)
        if not self._memo:
            return self._encode(factors)
        index = self.dataset.factors_to_index(factors)
        if self._have is None:
            return self._first(factors, index)
        missing = np.unique(index[~self._have[index]])
        if len(missing):
            m, lv = self._encode(self.dataset.index_to_factors(missing))
            self._store(missing, m, lv)
        assert self._mean is not None  # _first filled it
        return self._mean[index], (None if self._logvar is None else self._logvar[index])

    def _first(self, factors: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        unique, inverse = np.unique(index, return_inverse=True)
        m, lv = self._encode(self.dataset.index_to_factors(unique))
        total = self.dataset.num_samples
        if total * m.shape[1] * 4 * (1 if lv is None else 2) > self.max_bytes:
            self._memo = False  # too large to keep: every later lookup encodes afresh
        else:
            self._have = np.zeros(total, dtype=bool)
            self._mean = np.empty((total, m.shape[1]), dtype=np.float32)
            self._logvar = None if lv is None else np.empty((total, m.shape[1]), dtype=np.float32)
            self._store(unique, m, lv)
        return m[inverse], (None if lv is None else lv[inverse])

    def _store(self, index: np.ndarray, m: np.ndarray, lv: np.ndarray | None) -> None:
        assert self._have is not None and self._mean is not None
        self._mean[index] = m
        if self._logvar is not None and lv is not None:
            self._logvar[index] = lv
        self._have[index] = True


def representation_fn(model: LatentModel, dataset: FactorDataset, kind: str = "mean", seed: int = 0,
                      batch_size: int = 256, encodings: FactorEncodings | None = None
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """factors (n, K) -> representations (n, D); what the BetaVAE and FactorVAE scores query.

    ``encodings`` (shared between the mean and the sampled function) keeps each image's posterior once.
    """
    rng = np.random.default_rng(seed)
    encodings = encodings if encodings is not None else FactorEncodings(model, dataset, batch_size)

    def represent(factors: np.ndarray) -> np.ndarray:
        m, lv = encodings.lookup(factors)
        if kind == "mean" or lv is None:
            return m
        return (m + rng.standard_normal(m.shape) * np.exp(0.5 * lv)).astype(np.float32)

    return represent
