"""A replica of 3D Shapes (Burgess & Kim 2018) with the exact factor grid, from a small ray-caster.

floor_hue 10 x wall_hue 10 x object_hue 10 x scale 8 x shape 4 x orientation 15 = 480,000 RGB 64x64 images.
The scene: a floor, two walls meeting in a corner behind a shaded object on the floor, sky above the
walls; the camera orbits the object (azimuth -30 ... 30 degrees). Geometry depends only on scale, shape
and azimuth (480 combinations), so each combination is ray-cast once into per-material shading maps and
hues only recolour them.
"""

from __future__ import annotations

import colorsys
import threading

import numpy as np
import torch

from latentlab.core.data.base import FactorDataset

HUES = np.linspace(0.0, 0.9, 10)
SCALES = np.linspace(0.75, 1.25, 8)
SHAPES = ("cube", "cylinder", "sphere", "capsule")
AZIMUTHS = np.linspace(-30.0, 30.0, 15)

SIZE = 64
SUPERSAMPLE = 2
FLOOR, WALL, OBJECT, SKY = range(4)
SKY_RGB = np.array([0.78, 0.86, 0.95], dtype=np.float32)

_CAM_DIST, _CAM_HEIGHT, _TARGET_Y, _FOV = 4.0, 1.5, 0.78, np.radians(46.0)
_CORNER = np.array([0.0, 0.0, -2.4])
_WALL_H = 2.55
_LIGHT = np.array([-0.45, 1.0, 0.75]) / np.linalg.norm([-0.45, 1.0, 0.75])
_AMBIENT = 0.42
_INF = np.inf


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def camera_rays(azimuth_deg: float, size: int = SIZE * SUPERSAMPLE) -> tuple[np.ndarray, np.ndarray]:
    phi = np.radians(azimuth_deg)
    eye = np.array([_CAM_DIST * np.sin(phi), _CAM_HEIGHT, _CAM_DIST * np.cos(phi)])
    fwd = _normalise(np.array([0.0, _TARGET_Y, 0.0]) - eye)
    right = _normalise(np.cross(fwd, [0.0, 1.0, 0.0]))
    up = np.cross(right, fwd)
    half = np.tan(_FOV / 2)
    px = (np.arange(size) + 0.5) / size * 2 - 1
    xs, ys = np.meshgrid(px * half, -px * half)  # row 0 is the top of the image
    dirs = _normalise(fwd[None, None] + xs[..., None] * right + ys[..., None] * up).reshape(-1, 3)
    return np.broadcast_to(eye, dirs.shape).copy(), dirs


# --- ray / primitive intersections: each returns (t, normal) with t = inf on a miss -----------------------

def _hit_plane(o, d, point, normal, keep):
    denom = d @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((point - o) @ normal) / denom
    t = np.where((denom < -1e-9) & (t > 1e-6), t, _INF)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    t = np.where(keep(p), t, _INF)
    return t, np.broadcast_to(normal, o.shape)


def _hit_sphere(o, d, centre, r):
    oc = o - centre
    b = np.einsum("ij,ij->i", oc, d)
    c = np.einsum("ij,ij->i", oc, oc) - r * r
    disc = b * b - c
    sq = np.sqrt(np.maximum(disc, 0.0))
    t = -b - sq
    t = np.where((disc >= 0) & (t > 1e-6), t, _INF)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    return t, _normalise(p - centre + 1e-12)


def _hit_box(o, d, lo, hi):
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1, t2 = (lo - o) * inv, (hi - o) * inv
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    tn, tf = tmin.max(1), tmax.min(1)
    t = np.where((tn <= tf) & (tn > 1e-6), tn, _INF)
    axis = tmin.argmax(1)
    n = np.zeros_like(o)
    n[np.arange(len(o)), axis] = -np.sign(d[np.arange(len(o)), axis])
    return t, n


def _hit_cylinder_y(o, d, r, y0, y1):
    """Vertical cylinder about the y axis, with a top cap."""
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    y = o[:, 1] + t * d[:, 1]
    t_side = np.where((disc >= 0) & (t > 1e-6) & (y >= y0) & (y <= y1), t, _INF)
    p = o + d * np.where(np.isfinite(t_side), t_side, 0.0)[:, None]
    n_side = _normalise(np.stack([p[:, 0], np.zeros(len(p)), p[:, 2]], 1) + 1e-12)
    t_cap, n_cap = _hit_plane(o, d, np.array([0.0, y1, 0.0]), np.array([0.0, 1.0, 0.0]),
                              lambda q: q[:, 0] ** 2 + q[:, 2] ** 2 <= r * r)
    use_cap = t_cap < t_side
    return np.minimum(t_side, t_cap), np.where(use_cap[:, None], n_cap, n_side)


def _hit_capsule_x(o, d, r, half_len, cy):
    """Capsule lying along the x axis at height cy: a cylinder with two hemispherical ends."""
    oy, oz = o[:, 1] - cy, o[:, 2]
    a = d[:, 1] ** 2 + d[:, 2] ** 2
    b = oy * d[:, 1] + oz * d[:, 2]
    c = oy**2 + oz**2 - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    x = o[:, 0] + t * d[:, 0]
    t_body = np.where((disc >= 0) & (t > 1e-6) & (np.abs(x) <= half_len), t, _INF)
    p = o + d * np.where(np.isfinite(t_body), t_body, 0.0)[:, None]
    n_body = _normalise(np.stack([np.zeros(len(p)), p[:, 1] - cy, p[:, 2]], 1) + 1e-12)
    best_t, best_n = t_body, n_body
    for sx in (-half_len, half_len):
        ts, ns = _hit_sphere(o, d, np.array([sx, cy, 0.0]), r)
        closer = ts < best_t
        best_t = np.where(closer, ts, best_t)
        best_n = np.where(closer[:, None], ns, best_n)
    return best_t, best_n


def hit_object(o: np.ndarray, d: np.ndarray, shape: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    scale = scale * 1.3
    if shape == 0:
        a = 0.40 * scale
        return _hit_box(o, d, np.array([-a, 0.0, -a]), np.array([a, 2 * a, a]))
    if shape == 1:
        r = 0.40 * scale
        return _hit_cylinder_y(o, d, r, 0.0, 2.1 * r)
    if shape == 2:
        r = 0.46 * scale
        return _hit_sphere(o, d, np.array([0.0, r, 0.0]), r)
    r = 0.32 * scale
    return _hit_capsule_x(o, d, r, 0.45 * scale, r)


def shading_maps(scale_idx: int, shape_idx: int, azimuth_idx: int) -> np.ndarray:
    """(4, 64, 64) coverage x shading of floor, wall, object and sky for one geometry."""
    o, d = camera_rays(AZIMUTHS[azimuth_idx])
    scale = SCALES[scale_idx]
    n_l = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    n_r = np.array([-1.0, 0.0, 1.0]) / np.sqrt(2)
    floor = _hit_plane(o, d, np.zeros(3), np.array([0.0, 1.0, 0.0]), lambda p: np.ones(len(p), bool))
    wall_l = _hit_plane(o, d, _CORNER, n_l, lambda p: (p[:, 0] <= 0) & (p[:, 1] <= _WALL_H))
    wall_r = _hit_plane(o, d, _CORNER, n_r, lambda p: (p[:, 0] >= 0) & (p[:, 1] <= _WALL_H))
    obj = hit_object(o, d, shape_idx, scale)
    ts = np.stack([floor[0], wall_l[0], wall_r[0], obj[0]], 1)
    normals = np.stack([floor[1], wall_l[1], wall_r[1], obj[1]], 1)
    which = ts.argmin(1)
    t = ts[np.arange(len(ts)), which]
    hit = np.isfinite(t)
    normal = normals[np.arange(len(ts)), which]
    material = np.select([~hit, which == 0, which == 3], [SKY, FLOOR, OBJECT], WALL)
    lambert = np.clip(normal @ _LIGHT, 0.0, 1.0)
    # Shadows of the object on the floor and walls.
    p = o + d * np.where(hit, t, 0.0)[:, None]
    shadow_t, _ = hit_object(p + normal * 1e-4, np.broadcast_to(_LIGHT, p.shape).copy(), shape_idx, scale)
    lit = np.where((material != OBJECT) & np.isfinite(shadow_t), 0.25, 1.0)
    shade = _AMBIENT + (1 - _AMBIENT) * lambert * lit
    shade = np.where(material == SKY, 1.0, shade)
    side = SIZE * SUPERSAMPLE
    maps = np.zeros((4, side * side), dtype=np.float32)
    maps[material, np.arange(len(material))] = shade
    maps = maps.reshape(4, SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(2, 4))
    return maps.astype(np.float32)


def hue_rgb(h: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, 1.0, 1.0), dtype=np.float32)


_HUE_RGB = np.stack([hue_rgb(h) for h in HUES])  # 10, 3


_GEOMETRY_VERSION = "v1"  # bump when the scene changes so stale caches are not reused


def _cache_file():
    from latentlab.core.paths import cache_dir

    return cache_dir() / f"shapes3d-geometry-{_GEOMETRY_VERSION}.npy"


class Shapes3D(FactorDataset):
    name = "shapes3d"
    factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    factor_sizes = (10, 10, 10, 8, 4, 15)
    image_shape = (3, SIZE, SIZE)

    def __init__(self) -> None:
        self._maps = np.zeros((8, 4, 15, 4, SIZE, SIZE), dtype=np.float32)
        self._ready = np.zeros((8, 4, 15), dtype=bool)
        self._lock = threading.Lock()
        self._load_cache()

    def _load_cache(self) -> None:
        try:
            cached = np.load(_cache_file(), allow_pickle=False)
        except (OSError, ValueError):
            return
        if cached.shape == self._maps.shape:
            self._maps[:] = cached
            self._ready[:] = True

    def precompute(self) -> None:
        """Ray-cast every geometry now (about 10 s once) and keep the table in the user cache."""
        self._geometry(np.array([[0, 0, 0, s, sh, az] for s in range(8) for sh in range(4) for az in range(15)]))

    category_names = {"shape": SHAPES}

    def factor_values(self, k: int) -> np.ndarray:
        return [HUES, HUES, HUES, SCALES, np.arange(4, dtype=float), AZIMUTHS][k]

    def _geometry(self, f: np.ndarray) -> np.ndarray:
        geo = f[:, 3:6]
        need = np.unique(geo[~self._ready[geo[:, 0], geo[:, 1], geo[:, 2]]], axis=0)
        if len(need):
            with self._lock:
                for s, sh, az in need:
                    if not self._ready[s, sh, az]:
                        self._maps[s, sh, az] = shading_maps(s, sh, az)
                        self._ready[s, sh, az] = True
                if self._ready.all():
                    self._save_cache()
        return geo

    def _save_cache(self) -> None:
        import io

        from latentlab.core.paths import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, self._maps, allow_pickle=False)
        try:
            atomic_write_bytes(_cache_file(), buf.getvalue())
        except OSError:
            pass  # a read-only cache only costs the ray-casting again next time

    def _render(self, factors: np.ndarray) -> np.ndarray:
        geo = self._geometry(factors)
        n = len(factors)
        out = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
        colours = np.zeros((n, 4, 3), dtype=np.float32)
        colours[:, FLOOR] = _HUE_RGB[factors[:, 0]]
        colours[:, WALL] = _HUE_RGB[factors[:, 1]]
        colours[:, OBJECT] = _HUE_RGB[factors[:, 2]]
        colours[:, SKY] = SKY_RGB
        flat_maps = torch.from_numpy(self._maps).view(-1, 4, SIZE * SIZE)
        flat_geo = np.ravel_multi_index((geo[:, 0], geo[:, 1], geo[:, 2]), self._ready.shape)
        for a in range(0, n, 512):
            sl = slice(a, a + 512)
            maps = torch.index_select(flat_maps, 0, torch.from_numpy(flat_geo[sl]))  # b, 4, HW
            rgb = torch.bmm(torch.from_numpy(colours[sl]).transpose(1, 2), maps)  # b, 3, HW
            out[sl] = rgb.clamp_(0.0, 1.0).view(-1, 3, SIZE, SIZE).numpy()
        return out
