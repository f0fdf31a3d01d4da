"""Readers for the original dataset files, for users who have them.

- dSprites: ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` with ``imgs`` (N, 64, 64) uint8,
  ``latents_values`` and ``latents_classes`` (N, 6: colour, shape, scale, orientation, x, y).
- 3D Shapes: ``3dshapes.h5`` with ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6) float.

Both files list every factor combination in C order (last factor fastest); the factor grid is read from
the file itself, so smaller files in the same layout work too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from latentlab.core.data.base import FactorDataset
from latentlab.core.errors import BadInput
from latentlab.core.input_files import check_regular
from latentlab.core.limits import MAX_IMAGE_SIDE
from latentlab.core.npy_files import read_npz


class DatasetFileError(BadInput):
    pass


def _check_grid(path: Path, classes: np.ndarray) -> tuple[int, ...]:
    if len(classes) == 0 or classes.min() < 0:
        raise DatasetFileError(f"{path}: factor classes must be non-negative integers, one row per image")
    sizes = tuple(int(c.max()) + 1 for c in classes.T)
    expected = math.prod(sizes)  # Python integers: a hostile grid cannot overflow into a small product
    if len(classes) != expected:
        raise DatasetFileError(f"{path}: {len(classes)} rows but the factor grid {sizes} has {expected}")
    strides = np.concatenate([np.cumprod(np.asarray(sizes)[::-1])[::-1][1:], [1]])
    if not np.array_equal(classes @ strides, np.arange(len(classes))):
        raise DatasetFileError(f"{path}: rows are not in factor-grid order (last factor fastest)")
    return sizes


def _check_kinds(path: Path, imgs: np.ndarray, classes: np.ndarray, values: np.ndarray) -> None:
    if imgs.dtype not in (np.uint8, np.bool_) or max(imgs.shape[1:]) > MAX_IMAGE_SIDE:
        raise DatasetFileError(f"{path}: imgs must be uint8 (or bool) images of at most {MAX_IMAGE_SIDE} pixels a side, "
                               f"got {imgs.dtype} {imgs.shape[1:]}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise DatasetFileError(f"{path}: latents_classes must be integers, got {classes.dtype}")
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise DatasetFileError(f"{path}: latents_values must be finite numbers")


class DSpritesFile(FactorDataset):
    """The original dSprites .npz (or one in its layout)."""

    name = "dsprites"
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    image_shape = (1, 64, 64)
    category_names = {"shape": ("square", "ellipse", "heart")}

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            z = read_npz(self.path, ["imgs", "latents_classes", "latents_values"], what="a dataset file",
                         error=DatasetFileError)
        except KeyError as exc:
            raise DatasetFileError(f"{self.path}: not a dSprites file (missing array {exc})") from None
        imgs, classes, values = z["imgs"], z["latents_classes"], z["latents_values"]
        if imgs.ndim != 3 or classes.ndim != 2 or classes.shape[1] != 6 or values.shape != classes.shape \
                or len(imgs) != len(classes):
            raise DatasetFileError(f"{self.path}: unexpected shapes imgs {imgs.shape}, latents_classes {classes.shape}, "
                                   f"latents_values {values.shape}")
        _check_kinds(self.path, imgs, classes, values)
        classes, values = classes[:, 1:].astype(np.int64), values[:, 1:]  # drop the constant colour column
        self.factor_sizes = _check_grid(self.path, classes)
        self._imgs = imgs
        self._values = [np.unique(values[:, k]) if k else np.arange(self.factor_sizes[0], dtype=float)
                        for k in range(5)]
        self.image_shape = (1, *imgs.shape[1:])

    def factor_values(self, k: int) -> np.ndarray:
        return self._values[k]

    def _render(self, factors: np.ndarray) -> np.ndarray:
        idx = factors @ self._strides()
        return self._imgs[idx][:, None].astype(np.float32)


class Shapes3DFile(FactorDataset):
    """The original 3dshapes.h5 (or one in its layout). Images are read lazily from the HDF5 file."""

    name = "shapes3d"
    factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    image_shape = (3, 64, 64)
    category_names = {"shape": ("cube", "cylinder", "sphere", "capsule")}

    def __init__(self, path: str | Path):
        import h5py

        self.path = Path(path)
        check_regular(self.path, "a dataset file", error=DatasetFileError)  # a pipe would block h5py's open
        try:
            self._h5 = h5py.File(self.path, "r")
            labels = self._h5["labels"][()]
            self._images = self._h5["images"]
        except KeyError as exc:
            raise DatasetFileError(f"{self.path}: not a 3D Shapes file (missing dataset {exc})") from exc
        except OSError as exc:
            raise DatasetFileError(f"{self.path}: cannot read as HDF5: {exc}") from exc
        shape = self._images.shape
        if labels.ndim != 2 or len(shape) != 4 or shape[3] not in (1, 3) or len(labels) != shape[0]:
            raise DatasetFileError(f"{self.path}: unexpected shapes images {shape}, labels {labels.shape}")
        if self._images.dtype != np.uint8 or not np.issubdtype(labels.dtype, np.number) \
                or not np.isfinite(labels).all() or max(shape[1:3]) > MAX_IMAGE_SIDE:
            raise DatasetFileError(f"{self.path}: images must be uint8 of at most {MAX_IMAGE_SIDE} pixels a side "
                                   "and labels finite numbers")
        self._values = [np.unique(labels[:, k]) for k in range(labels.shape[1])]
        classes = np.stack([np.searchsorted(v, labels[:, k]) for k, v in enumerate(self._values)], 1)
        self.factor_sizes = _check_grid(self.path, classes)
        self.image_shape = (self._images.shape[3], *self._images.shape[1:3])

    def factor_values(self, k: int) -> np.ndarray:
        return self._values[k]

    def _render(self, factors: np.ndarray) -> np.ndarray:
        idx = factors @ self._strides()
        order = np.argsort(idx)  # h5py wants increasing indices
        uniq, inverse = np.unique(idx[order], return_inverse=True)
        block = self._images[uniq]
        out = np.empty((len(idx), *block.shape[1:]), dtype=np.uint8)
        out[order] = block[inverse]
        return out.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
