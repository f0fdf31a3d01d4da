"""A simple XYObject-style dataset: one coloured square on black, varying x, y, scale and colour.

16 x 16 x 4 x 6 = 6,144 RGB 64x64 images; small enough to train and evaluate on in seconds, which makes it
the dataset of choice for tests and quick experiments.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.data.base import FactorDataset

SIZE = 64
POSITIONS = np.linspace(0.0, 1.0, 16)
SIDES = np.array([6, 9, 12, 15])
COLOURS = np.array(
    [[1, 0.15, 0.15], [1, 0.8, 0.1], [0.2, 1, 0.3], [0.1, 0.9, 1], [0.25, 0.35, 1], [1, 0.3, 1]],
    dtype=np.float32,
)
COLOUR_NAMES = ("red", "yellow", "green", "cyan", "blue", "magenta")


class XYObject(FactorDataset):
    name = "xyobject"
    factor_names = ("x", "y", "scale", "colour")
    factor_sizes = (16, 16, 4, 6)
    image_shape = (3, SIZE, SIZE)

    def factor_values(self, k: int) -> np.ndarray:
        return [POSITIONS, POSITIONS, SIDES.astype(float), np.arange(6, dtype=float)][k]

    def _render(self, factors: np.ndarray) -> np.ndarray:
        n = len(factors)
        side = SIDES[factors[:, 2]]
        # The square's centre moves over the part of the canvas where the largest square still fits.
        margin = SIDES.max() / 2 + 1
        cx = margin + POSITIONS[factors[:, 0]] * (SIZE - 2 * margin)
        cy = margin + POSITIONS[factors[:, 1]] * (SIZE - 2 * margin)
        grid = np.arange(SIZE) + 0.5
        inside_x = np.abs(grid[None, :] - cx[:, None]) <= side[:, None] / 2
        inside_y = np.abs(grid[None, :] - cy[:, None]) <= side[:, None] / 2
        mask = (inside_y[:, :, None] & inside_x[:, None, :]).astype(np.float32)  # n, H, W
        out = mask[:, None] * COLOURS[factors[:, 3]][:, :, None, None]
        return out.reshape(n, 3, SIZE, SIZE)
