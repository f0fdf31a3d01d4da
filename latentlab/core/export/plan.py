"""What an export shows: per-frame latents for each panel, and the captions burned into the frames.

A plan holds only latents (T x D floats, small); images are decoded later, batch by batch, while the file is
written. The builders here turn the things a user exports (dimension traversals, a direction, a flow path,
a keyframe path through bookmarks) into plans; ``FramePlan.for_models`` spreads one latent track over 2-4
compared checkpoints, through a dimension alignment where their latents differ.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from latentlab.core.model import LatentModel, Quantized, prior_std
from latentlab.core.traversal import EASINGS, keyframe_path, traversal_grid

if TYPE_CHECKING:
    from latentlab.core.compare import Alignment

MAX_PANELS = 4


@dataclass
class Track:
    """One panel of a video: a model and the latent it decodes at every frame."""

    model: LatentModel
    latents: np.ndarray  # (T, D) for this model
    title: str | None = None

    def __post_init__(self) -> None:
        self.latents = _check_latents(self.latents, self.model.info.latent_dim, self.title or self.model.info.name)


@dataclass
class FramePlan:
    """Frames of a video: panels side by side, an optional caption per frame."""

    tracks: list[Track]
    captions: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # what made it (kind, dims, ...), kept in PNG manifests
    # Files it was made from (checkpoints, direction, flow and session files): an export never writes over them.
    inputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= len(self.tracks) <= MAX_PANELS:
            raise ValueError(f"a video shows 1 to {MAX_PANELS} panels, got {len(self.tracks)}")
        lengths = {len(t.latents) for t in self.tracks}
        if len(lengths) != 1:
            raise ValueError(f"every panel needs the same number of frames, got {sorted(lengths)}")
        if self.captions is not None and len(self.captions) != len(self):
            raise ValueError(f"{len(self.captions)} captions for {len(self)} frames")

    def __len__(self) -> int:
        return len(self.tracks[0].latents)

    def slice(self, start: int, stop: int) -> FramePlan:
        """Frames ``start:stop`` as a plan of their own (a preview, a shorter export)."""
        tracks = [Track(t.model, t.latents[start:stop], t.title) for t in self.tracks]
        caps = self.captions[start:stop] if self.captions is not None else None
        return FramePlan(tracks, caps, dict(self.meta), list(self.inputs))

    @classmethod
    def for_models(cls, models: Sequence[LatentModel], latents: np.ndarray, captions: list[str] | None = None,
                   alignments: Sequence[Alignment | None] | None = None, titles: Sequence[str] | None = None,
                   meta: dict[str, Any] | None = None, inputs: Sequence[str | os.PathLike] = ()) -> FramePlan:
        """One latent track (in the first model's space) shown by each model, side by side."""
        tracks = [Track(m, z, t) for m, z, t in zip(models, map_latents(models, latents, alignments),
                                                      _titles(models, titles), strict=True)]
        return cls(tracks, captions, dict(meta or {}), [str(p) for p in inputs])


@dataclass
class GridTrack:
    """One model's block of a PNG grid: cell (r, c) decodes ``cells[r, c]``."""

    model: LatentModel
    cells: np.ndarray  # (R, C, D)
    title: str | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.cells, dtype=np.float32)
        if c.ndim != 3:
            raise ValueError(f"grid cells must have shape (rows, columns, D), got {c.shape}")
        flat = _check_latents(c.reshape(-1, c.shape[-1]), self.model.info.latent_dim, self.title or self.model.info.name)
        self.cells = flat.reshape(c.shape)


@dataclass
class GridPlan:
    """A still figure: one block of cells per model, stacked top to bottom; an optional caption per cell."""

    tracks: list[GridTrack]
    captions: list[list[str]] | None = None  # [row][column]
    meta: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # as FramePlan.inputs

    def __post_init__(self) -> None:
        if not 1 <= len(self.tracks) <= MAX_PANELS:
            raise ValueError(f"a grid shows 1 to {MAX_PANELS} models, got {len(self.tracks)}")
        shapes = {t.cells.shape[:2] for t in self.tracks}
        if len(shapes) != 1:
            raise ValueError(f"every model's block needs the same rows and columns, got {sorted(shapes)}")
        if self.captions is not None and (len(self.captions) != self.shape[0]
                                          or any(len(r) != self.shape[1] for r in self.captions)):
            raise ValueError(f"captions must be {self.shape[0]} rows of {self.shape[1]}")

    @property
    def shape(self) -> tuple[int, int]:
        r, c = self.tracks[0].cells.shape[:2]
        return int(r), int(c)

    @classmethod
    def for_models(cls, models: Sequence[LatentModel], cells: np.ndarray, captions: list[list[str]] | None = None,
                   alignments: Sequence[Alignment | None] | None = None, titles: Sequence[str] | None = None,
                   meta: dict[str, Any] | None = None, inputs: Sequence[str | os.PathLike] = ()) -> GridPlan:
        cells = np.asarray(cells, dtype=np.float32)
        r, c, d = cells.shape
        mapped = map_latents(models, cells.reshape(r * c, d), alignments)
        tracks = [GridTrack(m, z.reshape(r, c, -1), t) for m, z, t in zip(models, mapped, _titles(models, titles),
                                                                          strict=True)]
        return cls(tracks, captions, dict(meta or {}), [str(p) for p in inputs])


# --- helpers ----------------------------------------------------------------------------------------------------

def _check_latents(z: np.ndarray, d: int, who: str) -> np.ndarray:
    arr = np.asarray(z, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"{who}: latents must have shape (frames, {d}), got {arr.shape}")
    if len(arr) < 1:
        raise ValueError(f"{who}: no frames to export")
    if not np.isfinite(arr).all():
        raise ValueError(f"{who}: latents contain NaN or infinite values")
    return arr


def _titles(models: Sequence[LatentModel], titles: Sequence[str] | None) -> list[str]:
    if titles is not None:
        if len(titles) != len(models):
            raise ValueError(f"{len(titles)} titles for {len(models)} models")
        return list(titles)
    return [m.info.name for m in models]


def map_latents(models: Sequence[LatentModel], latents: np.ndarray,
                alignments: Sequence[Alignment | None] | None = None) -> list[np.ndarray]:
    """The first model's latents carried into every model's space (as is when sizes agree and no alignment)."""
    if not models:
        raise ValueError("no models to export")
    z = np.asarray(latents, dtype=np.float32)
    aligns = list(alignments) if alignments is not None else [None] * len(models)
    if len(aligns) != len(models):
        raise ValueError(f"{len(aligns)} alignments for {len(models)} models")
    out = []
    d0 = models[0].info.latent_dim
    for i, (m, a) in enumerate(zip(models, aligns, strict=True)):
        if a is not None:
            out.append(a.map_latent(z))
        elif i == 0 or m.info.latent_dim == d0:
            out.append(z)
        else:
            raise ValueError(
                f"{m.info.name} has {m.info.latent_dim} latent dimensions and {models[0].info.name} has {d0}: "
                "align their dimensions first (latentlab.core.compare.align_checkpoints)"
            )
    return out


def latent_range(model: LatentModel, span: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension (lo, hi) a traversal sweeps: +-span prior stds, a uniform prior's support, a codebook's ends."""
    d = model.info.latent_dim
    if isinstance(model, Quantized):
        lo = np.array([float(cb.min()) for cb in model.codebooks], dtype=np.float32)
        hi = np.array([float(cb.max()) for cb in model.codebooks], dtype=np.float32)
        return lo, hi
    std = prior_std(model).numpy().astype(np.float32)
    if model.info.prior == "uniform":
        half = std * np.float32(3**0.5)  # the uniform prior's support is +-sqrt(3) std
        return -half, half
    return np.full(d, -span, np.float32) * std, np.full(d, span, np.float32) * std


def _loop_values(start: float, hi: float, lo: float, n: int) -> np.ndarray:
    """``n`` values going start -> hi -> lo -> start at constant speed, the last step short of start (loops)."""
    knots = np.array([start, hi, lo, start], dtype=np.float64)
    dist = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(knots)))])
    if dist[-1] <= 0:
        return np.full(n, start, np.float32)
    s = np.linspace(0.0, dist[-1], n, endpoint=False)
    return np.interp(s, dist, knots).astype(np.float32)


def _split(frames: int, parts: int) -> list[int]:
    if frames < parts:
        raise ValueError(f"{frames} frames cannot show {parts} dimensions; export more frames or fewer dimensions")
    base, extra = divmod(frames, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def dimension_traversal(z: np.ndarray, dims: Sequence[int], frames: int, lo: np.ndarray | float,
                        hi: np.ndarray | float, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(frames, D) latents sweeping each of ``dims`` in turn from z up to hi, down to lo and back; captions.

    Frames are shared out evenly between the dimensions; each sweep starts and ends at z, so the video loops.
    """
    z = np.asarray(z, dtype=np.float32)
    d = z.shape[-1]
    if not dims:
        raise ValueError("choose at least one dimension to traverse")
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.float32), (d,))
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.float32), (d,))
    out, captions = [], []
    for j, count in zip(dims, _split(frames, len(dims)), strict=True):
        if not 0 <= j < d:
            raise IndexError(f"dimension {j} out of range 0..{d - 1}")
        vals = _loop_values(float(z[j]), float(hi_a[j]), float(lo_a[j]), count)
        seg = np.repeat(z[None], count, 0)
        seg[:, j] = vals
        out.append(seg)
        name = names[j] if names else f"z{j}"
        captions += [f"{name} = {v:+.2f}" for v in vals]
    return np.concatenate(out), captions


def direction_traversal(z: np.ndarray, direction: Any, frames: int, span: float = 3.0,
                        name: str | None = None) -> tuple[np.ndarray, list[str]]:
    """(frames, D): z moved by a * direction, a going 0 -> +span -> -span -> 0 at constant speed; captions.

    ``direction`` is a vector, or a direction object with ``sweep(z, alphas)`` (latentlab.core.directions),
    which also covers curved directions (fields) that are integrated rather than added.
    """
    z = np.asarray(z, dtype=np.float32)
    alphas = _loop_values(0.0, span, -span, frames)
    sweep = getattr(direction, "sweep", None)
    if callable(sweep):
        latents = np.asarray(sweep(z, alphas), dtype=np.float32)
        name = name or str(getattr(direction, "name", "direction"))
        if latents.shape != (frames, z.size):
            raise ValueError(f"direction {name!r} gave latents of shape {latents.shape}, expected {(frames, z.size)}")
    else:
        v = np.asarray(direction, dtype=np.float32).reshape(-1)
        if v.shape != z.shape:
            raise ValueError(f"the direction has {v.size} dimensions, the latent {z.size}")
        if not np.isfinite(v).all():
            raise ValueError("the direction contains NaN or infinite values")
        latents = z[None] + alphas[:, None] * v[None]
        name = name or "direction"
    return latents, [f"{name} a = {a:+.2f}" for a in alphas]


def resample_path(path: np.ndarray, frames: int | None = None, name: str = "path") -> tuple[np.ndarray, list[str]]:
    """A precomputed (T, D) latent path (a flow trajectory), linearly resampled to ``frames``; captions."""
    p = np.asarray(path, dtype=np.float32)
    if p.ndim != 2 or len(p) < 1:
        raise ValueError(f"a latent path must have shape (steps, D), got {p.shape}")
    n = len(p) if frames is None else int(frames)
    if n < 1:
        raise ValueError("a path export needs at least one frame")
    if n == len(p):
        return p.copy(), [f"{name} t = {i}/{len(p) - 1}" for i in range(n)]
    t = np.linspace(0.0, len(p) - 1, n) if len(p) > 1 else np.zeros(n)
    i0 = np.floor(t).astype(int).clip(0, len(p) - 1)
    i1 = np.minimum(i0 + 1, len(p) - 1)
    w = (t - i0).astype(np.float32)[:, None]
    out = (1 - w) * p[i0] + w * p[i1]
    return out.astype(np.float32), [f"{name} t = {s:.1f}/{len(p) - 1}" for s in t]


def keyframe_traversal(keys: Sequence[np.ndarray], frames: int, method: str = "lerp", easing: str = "linear",
                       loop: bool = False, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(frames, D) through bookmarked latents (``keyframe_path``), captioned ``A -> B  40%``."""
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}")
    z = keyframe_path(list(keys), frames, method, easing, loop)
    labels = list(names) if names else [f"key {i + 1}" for i in range(len(keys))]
    if len(labels) != len(keys):
        raise ValueError(f"{len(labels)} names for {len(keys)} keyframes")
    if loop:
        labels.append(labels[0])
    segments = len(labels) - 1
    u = np.linspace(0.0, segments, frames)
    seg = np.minimum(u.astype(int), segments - 1)
    captions = [f"{labels[s]} -> {labels[s + 1]}  {100 * (x - s):.0f}%" for s, x in zip(seg, u, strict=True)]
    return z, captions


def traversal_cells(z: np.ndarray, dims: Sequence[int], steps: int, lo: np.ndarray | float, hi: np.ndarray | float,
                    names: Sequence[str] | None = None) -> tuple[np.ndarray, list[list[str]]]:
    """(len(dims), steps, D) grid cells (a row per dimension, lo to hi) and a caption per cell."""
    cells = traversal_grid(z, dims, steps, lo, hi)
    captions = [[f"{names[j] if names else f'z{j}'} = {cells[r, c, j]:+.2f}" for c in range(steps)]
                for r, j in enumerate(dims)]
    return cells, captions


def strip_cells(latents: np.ndarray, captions: list[str] | None, columns: int) -> tuple[np.ndarray, list[list[str]] | None]:
    """``columns`` evenly spaced frames of a video plan as a one-row grid (a film strip of the path)."""
    z = np.asarray(latents, dtype=np.float32)
    if columns < 1:
        raise ValueError("a grid needs at least one column")
    idx = np.unique(np.round(np.linspace(0, len(z) - 1, min(columns, len(z)))).astype(int))
    caps = [[captions[i] for i in idx]] if captions is not None else None
    return z[idx][None], caps
