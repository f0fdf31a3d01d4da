"""Render a checkpoint's latent traversal grid to a PNG (the pictures beside the demo models).

Autoencoders: dataset inputs, their reconstructions, then one row per latent dimension swept across
+-2.5 prior standard deviations (or the codebook) around the first input's code. GANs: prior samples, then
the rows around the first sample. Usage:

    python latentlab/models/render_traversal.py latentlab/models/infowgan-dsprites.safetensors \
        --out latentlab/models/infowgan-dsprites.png
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
import torch

from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.data import get_dataset
from latentlab.core.encode import encode_images
from latentlab.core.model import Encodes, Quantized, prior_std
from latentlab.core.paths import atomic_write_bytes
from latentlab.core.render import to_uint8
from latentlab.core.traversal import traversal_grid


def traversal_png(path: str, steps: int = 10, seed: int = 0, gap: int = 2) -> bytes:
    """The grid as PNG bytes."""
    from PIL import Image, ImageDraw

    ck = open_checkpoint(path, device="cpu")
    model = ck.model
    d = model.info.latent_dim
    gen = torch.Generator().manual_seed(seed)
    if isinstance(model, Encodes) and ck.info.dataset:
        # Autoencoders: real inputs, their reconstructions, then traversals around the first input's code,
        # which is how papers show them (a prior sample of a weak VAE can decode to an empty canvas).
        x, _ = get_dataset(ck.info.dataset).sample(steps, rng=seed)
        codes, _, _ = encode_images(model, x)
        base = codes[0]
        head = [x, None]  # None: decode `codes`
        labels = ["input", "recon"]
    else:
        codes = model.sample_prior(steps, gen).cpu().numpy()
        base = codes[0]
        head = [None]
        labels = ["prior"]
    if isinstance(model, Quantized):
        lo = np.array([float(cb.min()) for cb in model.codebooks])
        hi = np.array([float(cb.max()) for cb in model.codebooks])
    elif model.info.prior == "uniform":
        lo, hi = -np.ones(d), np.ones(d)
    else:
        s = prior_std(model).numpy()
        lo, hi = base - 2.5 * s, base + 2.5 * s
    grid = traversal_grid(base, list(range(d)), steps, lo, hi).reshape(-1, d)
    with torch.inference_mode():
        decoded = to_uint8(model.decode(torch.from_numpy(np.concatenate([codes, grid]).astype(np.float32))))
    rows = [to_uint8(torch.from_numpy(h)) if h is not None else decoded[:steps] for h in head]
    imgs = np.concatenate([*rows, decoded[steps:]])
    labels += [f"z{k}" for k in range(d)]
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    n_rows, (h, w, c) = len(labels), imgs.shape[1:]
    left = 44
    canvas = np.full((n_rows * (h + gap) + gap, left + steps * (w + gap) + gap, c), 128, np.uint8)
    canvas[:, :left] = 24
    for i, img in enumerate(imgs):
        r, k = divmod(i, steps)
        y, x = gap + r * (h + gap), left + gap + k * (w + gap)
        canvas[y:y + h, x:x + w] = img
    pic = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    draw = ImageDraw.Draw(pic)
    for r, text in enumerate(labels):
        draw.text((4, gap + r * (h + gap) + h // 2 - 6), text, fill=230 if c == 1 else (230, 230, 230))
    out = io.BytesIO()
    pic.save(out, format="PNG")
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
