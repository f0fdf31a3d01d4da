"""Latent sweeps, traversal grids and keyframe paths (linear or spherical interpolation, with easing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from latentlab.core import limits
from latentlab.core.errors import BadInput
from latentlab.core.limits import check_float, check_int

EASINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda t: t,
    "ease-in-out": lambda t: 0.5 - 0.5 * np.cos(np.pi * t),
    "ease-in": lambda t: 1.0 - np.cos(0.5 * np.pi * t),
    "ease-out": lambda t: np.sin(0.5 * np.pi * t),
}


def sweep_values(lo: float, hi: float, steps: int) -> np.ndarray:
    steps = check_int(steps, "steps of a sweep", 1, limits.MAX_FRAMES)
    lo, hi = check_float(lo, "the sweep's start"), check_float(hi, "the sweep's end")
    return np.linspace(lo, hi, steps) if steps > 1 else np.array([(lo + hi) / 2])


def traversal_grid(z: np.ndarray, dims: Sequence[int], steps: int, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """(len(dims), steps, D): row r sets dimension dims[r] to values from lo to hi, the rest stays at z."""
    z = _latent(z)
    d = z.shape[-1]
    steps = check_int(steps, "steps (grid columns)", 1, limits.MAX_GRID_STEPS)
    cells = len(dims) * steps
    if cells > limits.MAX_GRID_CELLS or cells * d > limits.MAX_LATENT_VALUES:
        raise BadInput(f"a grid of {len(dims)} rows by {steps} columns is too large (at most "
                       f"{limits.MAX_GRID_CELLS} cells)")
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.float32), (d,))
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.float32), (d,))
    out = np.repeat(np.repeat(z[None, None], len(dims), 0), steps, 1).copy()
    for r, j in enumerate(dims):
        if not 0 <= j < d:
            raise IndexError(f"dimension {j} out of range 0..{d - 1}")
        out[r, :, j] = sweep_values(lo_a[j], hi_a[j], steps)
    return out


def direction_sweep(z: np.ndarray, direction: np.ndarray, steps: int, span: float) -> np.ndarray:
    """(steps, D): z + a * direction for a from -span to +span."""
    v = np.asarray(direction, dtype=np.float32)
    alphas = sweep_values(-span, span, steps).astype(np.float32)
    return np.asarray(z, dtype=np.float32)[None] + alphas[:, None] * v[None]


def _latent(z: np.ndarray) -> np.ndarray:
    """A finite (D,) float32 latent of a sane size, or ``BadInput``."""
    arr = np.asarray(z, dtype=np.float32)
    if arr.ndim != 1 or not 1 <= arr.size <= limits.MAX_VIEW_LATENT:
        raise BadInput(f"a latent must be a vector of 1 to {limits.MAX_VIEW_LATENT} values, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise BadInput("the latent contains NaN or infinite values")
    return arr


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float32)[..., None]
    return (1 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation: keeps the norm profile of Gaussian latents (no dip through the origin)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return lerp(a, b, t).astype(np.float32)
    cos = np.clip(np.dot(a / na, b / nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return lerp(a, b, t).astype(np.float32)
    t = np.asarray(t, dtype=np.float64)[..., None]
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def keyframe_path(keys: Sequence[np.ndarray], frames: int, method: str = "lerp", easing: str = "linear",
                  loop: bool = False) -> np.ndarray:
    """(frames, D) latents passing through ``keys`` in order, each segment eased and equally long."""
    if len(keys) < 2:
        raise BadInput("a keyframe path needs at least two keyframes")
    frames = check_int(frames, "frames", 1, limits.MAX_FRAMES)
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be lerp or slerp, got {method!r}")
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}")
    ks = [_latent(k) for k in keys]
    if len({k.shape for k in ks}) != 1:
        raise BadInput(f"keyframes must all have the same size, got {sorted({k.size for k in ks})}")
    if frames * ks[0].size > limits.MAX_LATENT_VALUES:
        raise BadInput(f"{frames} frames of {ks[0].size} latents is too many")
    if loop:
        ks.append(ks[0])
    segments = len(ks) - 1
    u = np.linspace(0.0, segments, frames, endpoint=True)
    seg = np.minimum(u.astype(int), segments - 1)
    local = EASINGS[easing](u - seg)
    interp = slerp if method == "slerp" else lerp
    out = np.empty((frames, ks[0].shape[0]), dtype=np.float32)
    for s in range(segments):
        sel = seg == s
        if sel.any():
            out[sel] = interp(ks[s], ks[s + 1], local[sel])
    return out
