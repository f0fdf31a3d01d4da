"""Image strips of paths: decoded frames side by side, one row per path (flow, linear, ...)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from latentlab.core.model import LatentModel, device_of
from latentlab.core.paths import AtomicPath
from latentlab.core.render import to_uint8


def decode_frames(model: LatentModel, latents: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(T, D) latents -> (T, H, W) or (T, H, W, 3) uint8 frames."""
    z_all = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    dev = device_of(model)
    out = []
    with torch.inference_mode():
        for a in range(0, len(z_all), batch_size):
            out.append(to_uint8(model.decode(z_all[a:a + batch_size].to(dev))))
    return np.concatenate(out)


def render_strip(model: LatentModel, rows: Sequence[np.ndarray], pad: int = 2, background: int = 128) -> np.ndarray:
    """Decode each row of latents (T_r, D) and tile the frames: rows top to bottom, steps left to right."""
    if not rows:
        raise ValueError("a strip needs at least one row of latents")
    frames = [decode_frames(model, r) for r in rows]
    h, w = frames[0].shape[1:3]
    cols = max(len(f) for f in frames)
    shape = (len(frames) * (h + pad) + pad, cols * (w + pad) + pad) + frames[0].shape[3:]
    img = np.full(shape, background, dtype=np.uint8)
    for r, f in enumerate(frames):
        for c, frame in enumerate(f):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            img[y:y + h, x:x + w] = frame
    return img


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) image as PNG, atomically."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) image, got {arr.dtype} {arr.shape}")
    target = Path(path)
    with AtomicPath(target) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return target
