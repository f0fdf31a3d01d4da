"""Real images in, latents out: the encoder where the model has one, inversion where it does not.

What ``latentlab encode`` and a drag-and-drop in the app call. The result carries the latents, the
reconstructions (to show beside the originals) and their pixel errors, and writes itself as a .npz.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.encode import NoEncoderError, encode_images
from latentlab.core.images import load_images
from latentlab.core.invert import InversionConfig, invert
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import Encodes, LatentModel, device_of
from latentlab.core.paths import atomic_write_bytes

METHODS = ("auto", "encoder", "invert")


@dataclass
class ImageLatents:
    files: list[str]
    latents: np.ndarray  # (n, D)
    reconstructions: np.ndarray  # (n, C, H, W) in [0, 1]
    errors: np.ndarray  # (n,) pixel MSE between each image (as fed to the model) and its reconstruction
    method: str  # "encoder" or "inversion"
    logvar: np.ndarray | None = None  # encoder posteriors' log-variances
    codes: np.ndarray | None = None  # quantized encoders' code indices
    loss_history: np.ndarray | None = None  # inversion: (steps + 1, n)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON summary (latents and errors per file; images left out)."""
        return {"method": self.method, "files": list(self.files), "latents": self.latents.tolist(),
                "errors": self.errors.tolist(), **self.extras}

    def npz_bytes(self, **meta: Any) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "latents": self.latents.astype(np.float32),
            "files": np.asarray(self.files, dtype=str),
            "errors": self.errors.astype(np.float64),
            "method": np.asarray(self.method),
        }
        for name in ("logvar", "codes", "loss_history"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        for k, v in meta.items():
            arrays[k] = np.asarray(v)
        buf = io.BytesIO()
        # numpy's stub types **kwds against its own allow_pickle: bool; none of these keys is that name
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def save(self, path: str | os.PathLike, include_reconstructions: bool = False, **meta: Any) -> Path:
        """Write the .npz atomically (latents, files, errors, and whatever else the method produced)."""
        if include_reconstructions:
            meta["reconstructions"] = self.reconstructions.astype(np.float32)
        atomic_write_bytes(path, self.npz_bytes(**meta))
        return Path(path)


def image_latents(model: LatentModel, images: np.ndarray, files: Sequence[str] | None = None,
                  method: str = "auto", config: InversionConfig | None = None,
                  ctx: JobContext | None = None) -> ImageLatents:
    """(n, C, H, W) images in [0, 1] (the model's shape) -> their latents, reconstructions and errors.

    ``auto`` encodes when the model has an encoder and inverts otherwise; ``invert`` on a model with an
    encoder starts the optimisation from the encoder's posterior means.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    ctx = ensure_context(ctx)
    images = np.asarray(images, dtype=np.float32)
    files = list(files) if files is not None else [f"image{i}" for i in range(len(images))]
    if len(files) != len(images):
        raise ValueError(f"{len(files)} file names for {len(images)} images")
    has_encoder = isinstance(model, Encodes)
    if method == "encoder" and not has_encoder:
        raise NoEncoderError(f"{model.info.name} has no encoder (it is a generator only); "
                             "find latents by inversion instead (latentlab encode --invert)")
    if method == "encoder" or (method == "auto" and has_encoder):
        mean, logvar, codes = encode_images(model, images, ctx=ctx.sub(0.0, 0.9))
        with torch.inference_mode():
            rec = torch.cat([model.decode(torch.from_numpy(c).to(device_of(model))).float().cpu()
                             for c in np.array_split(mean, max(1, len(mean) // 256))]).numpy()
        errors = ((rec - images) ** 2).reshape(len(images), -1).mean(1)
        ctx.progress(1.0, "encoded")
        return ImageLatents(files, mean, rec, errors, "encoder", logvar, codes)
    init = None
    if has_encoder:
        init, _, _ = encode_images(model, images, ctx=ctx.sub(0.0, 0.05))
    result = invert(model, images, config, ctx.sub(0.05 if has_encoder else 0.0, 1.0), init=init)
    return ImageLatents(files, result.latents, result.reconstructions, result.errors, "inversion",
                        loss_history=result.loss_history,
                        extras={"steps": result.config.steps, "loss": result.config.loss, "seconds": result.seconds})


def encode_files(model: LatentModel, paths: Sequence[str | os.PathLike], method: str = "auto",
                 config: InversionConfig | None = None, fit: str = "crop", ctx: JobContext | None = None
                 ) -> ImageLatents:
    """Image files and folders -> latents (see ``image_latents``); pictures are fitted to the model's input."""
    images, files = load_images(paths, model.info.image_shape, fit)
    return image_latents(model, images, files, method, config, ctx)
