"""Render a checkpoint's latent traversal grid to a PNG (the pictures beside the demo models).

Top row: random prior samples. Below, one row per latent dimension: that dimension swept across the
prior's range (or its codebook) with the others held at one prior sample. Usage:

    python models/render_traversal.py models/infowgan-dsprites.safetensors --out models/infowgan-dsprites.png
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
import torch

from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.model import Quantized, prior_std
from latentlab.core.paths import atomic_write_bytes
from latentlab.core.render import to_uint8
from latentlab.core.traversal import traversal_grid


def traversal_png(path: str, steps: int = 10, seed: int = 0, gap: int = 2) -> bytes:
    """The grid as PNG bytes."""
    from PIL import Image

    model = open_checkpoint(path, device="cpu").model
    d = model.info.latent_dim
    gen = torch.Generator().manual_seed(seed)
    samples = model.sample_prior(steps, gen).cpu().numpy()
    base = samples[0]
    if isinstance(model, Quantized):
        lo = np.array([float(cb.min()) for cb in model.codebooks])
        hi = np.array([float(cb.max()) for cb in model.codebooks])
    elif model.info.prior == "uniform":
        lo, hi = -np.ones(d), np.ones(d)
    else:
        s = prior_std(model).numpy()
        lo, hi = -2.5 * s, 2.5 * s
    grid = traversal_grid(base, list(range(d)), steps, lo, hi).reshape(-1, d)
    z = np.concatenate([samples, grid]).astype(np.float32)
    with torch.inference_mode():
        imgs = to_uint8(model.decode(torch.from_numpy(z)))  # (n, H, W) or (n, H, W, 3)
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    n_rows, (h, w, c) = d + 1, imgs.shape[1:]
    canvas = np.full((n_rows * (h + gap) + gap, steps * (w + gap) + gap, c), 128, np.uint8)
    for i, img in enumerate(imgs):
        r, k = divmod(i, steps)
        y, x = gap + r * (h + gap), gap + k * (w + gap)
        canvas[y:y + h, x:x + w] = img
    out = io.BytesIO()
    Image.fromarray(canvas[..., 0] if c == 1 else canvas).save(out, format="PNG")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    atomic_write_bytes(args.out, traversal_png(args.checkpoint, args.steps, args.seed))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
