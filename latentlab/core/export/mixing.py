"""The style-mixing figure of the StyleGAN paper, written as one PNG (GUI, CLI and Python API alike).

Row sources down the left keep their ws outside the chosen layer range; column sources across the top give
the ws of that range; cell (r, c) is the mix. Sources are prior samples drawn from seeds, in the generator
view's own space (so a seed means the same image in z, w and W+), which is how the figure is reproduced.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.errors import BadInput
from latentlab.core.export.outputs import check_file_output
from latentlab.core.export.writers import write_png
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.style_edit import grid_image, mixing_grid

MAX_SOURCES = 16  # per side: a 16 x 16 grid of 1024 px cells is already a 17k-pixel-wide PNG


def parse_seeds(text: str, limit: int = MAX_SOURCES) -> list[int]:
    """'1, 2, 5-7' -> [1, 2, 5, 6, 7]; ValueError with a readable message for anything else."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        a, _, b = part.partition("-")
        if not a.strip().isdigit() or (b and not b.strip().isdigit()):
            raise ValueError(f"{part!r} is not a seed or a range of seeds like 5-7")
        lo, hi = int(a), int(b) if b else int(a)
        if hi < lo:
            raise ValueError(f"{part!r}: a range runs from low to high")
        seeds += range(lo, hi + 1)
        if len(seeds) > limit:
            raise ValueError(f"at most {limit} seeds")
    if not seeds:
        raise ValueError("give at least one seed")
    return seeds


def parse_weighted_seeds(text: str, limit: int = 64) -> list[tuple[int, float]]:
    """'1:0.7, 5:0.3' -> [(1, 0.7), (5, 0.3)]; a seed without a weight weighs 1. ValueError otherwise."""
    out: list[tuple[int, float]] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        seed, _, weight = part.partition(":")
        try:
            value = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"{part!r}: the weight after ':' must be a number") from None
        if not seed.strip().isdigit() or not math.isfinite(value) or value < 0:
            raise ValueError(f"{part!r} is not SEED or SEED:WEIGHT (a weight >= 0)")
        out.append((int(seed), value))
    if not out or len(out) > limit:
        raise ValueError(f"give 1 to {limit} seeds, e.g. 1:0.5, 7:0.5")
    if sum(w for _, w in out) <= 0:
        raise ValueError("the weights are all zero")
    return out


def seed_latents(view: Any, seeds: Sequence[int]) -> list[np.ndarray]:
    """One prior sample of ``view``'s space per seed (``torch.Generator().manual_seed(seed)``, as the app's)."""
    out = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        out.append(view.sample_prior(1, gen)[0].detach().cpu().numpy().astype(np.float32))
    return out


def write_mixing_grid(view: Any, row_seeds: Sequence[int], col_seeds: Sequence[int], start: int, stop: int,
                      out: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                      ctx: JobContext | None = None) -> Path:
    """Decode the mixing grid of these seeds (layers ``start``..``stop``, exclusive, from the columns) to ``out``."""
    if not row_seeds or not col_seeds or max(len(row_seeds), len(col_seeds)) > MAX_SOURCES:
        raise BadInput(f"a mixing grid takes 1 to {MAX_SOURCES} row seeds and column seeds")
    out = Path(out)
    check_file_output(out, "grid", inputs)
    ctx = ensure_context(ctx)
    cells = mixing_grid(view, seed_latents(view, row_seeds), seed_latents(view, col_seeds), start, stop, ctx=ctx)
    write_png(grid_image(cells), out)
    ctx.progress(1.0, f"wrote {out.name}")
    return out
