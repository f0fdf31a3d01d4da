"""Batches with one factor held fixed, for the BetaVAE and FactorVAE scores.

The reference protocol (disentanglement_lib, disent) draws fresh factor rows for every vote and encodes
their images: ``fresh``, the default whenever the inputs come with a model (``auto``). The
``FactorEncodings`` memo makes that affordable on a CPU without changing a figure: each distinct image is
encoded once and looked up afterwards.

``pool`` draws the same batches from the already-encoded training and test points instead. It is faster
(no encoding at all) but not the reference: the votes reuse a fixed, finite sample of points, so they are
correlated, the majority vote learns that sample's quirks, and the scores come out biased and vary more
from seed to seed (measured by ``benchmarks/metric_sampling.py``; DEVELOPERS.md has the figures). It is
what runs when the inputs are bare arrays with no model to encode fresh images with.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.metrics.base import View

SAMPLING = ("auto", "fresh", "pool")
VOTE_CHUNK = 64  # votes whose images are looked up together


def resolve_sampling(view: View, sampling: str) -> tuple[str, list[str]]:
    """The mode that runs (auto: fresh when the inputs can draw fresh images) and the note that says so."""
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    if sampling == "auto":
        sampling = "fresh" if view.inputs.represent is not None else "pool"
        if sampling == "pool":
            return "pool", ["pooled votes (no model to draw fresh samples from): not the reference protocol"]
    if sampling == "pool":
        return "pool", ["pooled votes from the encoded points (sampling=pool): faster, not the reference protocol"]
    return "fresh", ["fresh factor draws for every vote (the reference protocol)"]


def uniform_factors(sizes: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Factor rows drawn uniformly and independently per factor, with leading ``shape``."""
    return rng.integers(0, sizes, size=(*shape, len(sizes))).astype(np.int64)


def fixed_factor_batches(sizes: np.ndarray, ks: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(len(ks), batch_size, K) uniform rows; in batch i factor ks[i] is set to one shared uniform value."""
    f = uniform_factors(sizes, (len(ks), batch_size), rng)
    f[np.arange(len(ks)), :, ks] = rng.integers(0, sizes[ks])[:, None]
    return f


def represent_batches(view: View, factors: np.ndarray) -> np.ndarray:
    """(m, b, K) factor rows -> (m, b, D) fresh representations."""
    m, b, k = factors.shape
    return view.represent(factors.reshape(m * b, k)).reshape(m, b, -1)


class FactorPool:
    """Encoded points grouped by the value of each factor, to draw conditional batches from."""

    def __init__(self, z: np.ndarray, y: np.ndarray):
        self.z = np.asarray(z, dtype=np.float64)
        self.y = np.asarray(y)
        self.groups: list[dict[int, np.ndarray]] = []
        for k in range(self.y.shape[1]):
            order = np.argsort(self.y[:, k], kind="stable")
            vals, starts = np.unique(self.y[order, k], return_index=True)
            bounds = list(starts[1:]) + [len(order)]
            self.groups.append({int(v): order[s:e] for v, s, e in zip(vals, starts, bounds, strict=True)})

    def values(self, k: int) -> np.ndarray:
        return np.fromiter(self.groups[k].keys(), dtype=np.int64)

    def members(self, k: int, v: int) -> np.ndarray:
        return self.groups[k][int(v)]

    def draw(self, k: int, v: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` indices of points whose factor ``k`` equals ``v`` (without replacement when there are enough)."""
        m = self.members(k, v)
        if len(m) >= size:
            return m[rng.choice(len(m), size=size, replace=False)]
        return m[rng.integers(0, len(m), size=size)]
