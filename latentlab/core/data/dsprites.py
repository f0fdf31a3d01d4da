"""A replica of dSprites (Matthey et al. 2017) with the exact factor grid, rendered on demand.

shape 3 (square, ellipse, heart) x scale 6 x orientation 40 x posX 32 x posY 32 = 737,280 binary 64x64
images. The sprite's reference point sits at pixel 16 + 32 * pos and it is rotated about that point. Pixels
are sampled at their centres, so sub-pixel positions render as in a rasteriser.
"""

from __future__ import annotations

import numpy as np

from latentlab.core.data.base import FactorDataset

SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)  # inclusive, as in the original: first == last image
POSITIONS = np.linspace(0.0, 1.0, 32)

SIZE = 64
WINDOW = 32  # every sprite fits in a 32x32 window around its reference point (max half-extent ~14.2 px)

# Heart: the curve (x^2 + y^2 - 1)^3 - x^2 y^3 = 0 spans x in [-1.139, 1.139], y in [-1, 1.236]; it is
# scaled to 20 x 17 px at scale 1 and its bounding box centred on the reference point.
_HEART_W, _HEART_H = 20.0, 17.0
_HEART_SX = 2 * 1.139 / _HEART_W
_HEART_SY = (1.236 + 1.0) / _HEART_H
_HEART_YC = (1.236 - 1.0) / 2


def sprite_mask(shape: int, scale: np.ndarray, angle: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Inside-test of one shape at pixel offsets (dx, dy) from the reference point, per sprite.

    scale/angle broadcast against dx/dy (leading batch axis). Image y points down.
    """
    c = np.cos(angle).astype(np.float32)
    s = np.sin(angle).astype(np.float32)
    inv = (1.0 / scale).astype(np.float32)
    # Rotate the sample points by -angle, i.e. the sprite by +angle.
    u = (c * dx + s * dy) * inv
    v = (c * dy - s * dx) * inv
    if shape == 0:
        return (np.abs(u) <= 10.0) & (np.abs(v) <= 10.0)
    if shape == 1:
        u *= 1.0 / 13.0
        v *= 1.0 / 7.0
        return u * u + v * v <= 1.0
    hx = u * _HEART_SX
    hy = v * -_HEART_SY + _HEART_YC  # image y down -> curve y up, so the heart's tip points down
    hx2 = hx * hx
    r = hx2 + hy * hy - 1.0
    return r * r * r <= hx2 * hy * hy * hy


class DSprites(FactorDataset):
    name = "dsprites"
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (3, 6, 40, 32, 32)
    image_shape = (1, SIZE, SIZE)

    category_names = {"shape": SHAPES}

    def factor_values(self, k: int) -> np.ndarray:
        return [np.arange(3, dtype=float), SCALES, ORIENTATIONS, POSITIONS, POSITIONS][k]

    def _render(self, factors: np.ndarray) -> np.ndarray:
        n = factors.shape[0]
        out = np.zeros((n, 1, SIZE, SIZE), dtype=np.float32)
        # Small chunks keep the temporaries (a few float32 planes per 32x32 window) in cache and out of
        # fresh mmap-ed pages, which otherwise dominate the cost.
        for a in range(0, n, 512):
            f = factors[a : a + 512]
            self._render_chunk(f, out[a : a + len(f), 0])
        return out

    def _render_chunk(self, f: np.ndarray, canvas: np.ndarray) -> None:
        n = f.shape[0]
        cx = 16.0 + 32.0 * POSITIONS[f[:, 3]]
        cy = 16.0 + 32.0 * POSITIONS[f[:, 4]]
        ox = np.clip(np.floor(cx).astype(np.int64) - WINDOW // 2, 0, SIZE - WINDOW)
        oy = np.clip(np.floor(cy).astype(np.int64) - WINDOW // 2, 0, SIZE - WINDOW)
        grid = np.arange(WINDOW, dtype=np.float32) + 0.5
        dx = (ox[:, None] - cx[:, None]).astype(np.float32) + grid[None, :]  # n, W
        dy = (oy[:, None] - cy[:, None]).astype(np.float32) + grid[None, :]
        mask = np.empty((n, WINDOW, WINDOW), dtype=bool)
        for k in range(len(SHAPES)):
            sel = np.flatnonzero(f[:, 0] == k)
            if len(sel) == 0:
                continue
            scale = SCALES[f[sel, 1]][:, None, None]
            angle = ORIENTATIONS[f[sel, 2]][:, None, None]
            mask[sel] = sprite_mask(k, scale, angle, dx[sel][:, None, :], dy[sel][:, :, None])
        rows = oy[:, None, None] + np.arange(WINDOW)[None, :, None]
        cols = ox[:, None, None] + np.arange(WINDOW)[None, None, :]
        canvas[np.arange(n)[:, None, None], rows, cols] = mask
