"""Batches with one factor held fixed, for the BetaVAE and FactorVAE scores.

disentanglement_lib renders and encodes fresh images for every batch: 64 x 15,000 batches is ~1-2 million
encodings, hours on a CPU. The default here draws the same batches from the already-encoded points
instead: a point whose factor k has value v is a draw from p(z | factor k = v), so a batch of encoded
points sharing that value has the distribution the protocol asks for (points are reused across batches,
which adds a little correlation, not bias). ``fresh`` keeps the exact protocol for those who want it.
"""

from __future__ import annotations

import numpy as np

SAMPLING = ("pool", "fresh")


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


def fixed_factor_batch(factor_sizes, k: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """The exact protocol: ``batch_size`` uniform factor rows, factor ``k`` set to one shared uniform value."""
    f = np.stack([rng.integers(0, s, size=batch_size) for s in factor_sizes], axis=1).astype(np.int64)
    f[:, k] = rng.integers(0, factor_sizes[k])
    return f
