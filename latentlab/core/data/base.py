"""One interface for every dataset with ground-truth factors.

Images are rendered (or read) on demand by factor classes or flat index, so a 737,280-image grid never
sits in memory. The flat index is C-ordered over the factor grid: the last factor varies fastest, which is
the order of the original dSprites and 3D Shapes files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class FactorDataset(ABC):
    name: str = ""
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    image_shape: tuple[int, int, int] = (1, 64, 64)

    # --- what each dataset provides -------------------------------------------------------------------
    @abstractmethod
    def factor_values(self, k: int) -> np.ndarray:
        """The physical value of each class of factor ``k`` (e.g. the scale 0.5 ... 1.0)."""

    @abstractmethod
    def _render(self, factors: np.ndarray) -> np.ndarray:
        """(n, K) valid class indices -> (n, C, H, W) float32 in [0, 1]."""

    #: Names of the classes of categorical factors (factor name -> one name per class), for captions.
    category_names: dict[str, tuple[str, ...]] = {}

    # --- shared behaviour ---------------------------------------------------------------------------------
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def num_samples(self) -> int:
        return int(np.prod(self.factor_sizes))

    def __len__(self) -> int:
        return self.num_samples

    def _strides(self) -> np.ndarray:
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def check_factors(self, factors: np.ndarray) -> np.ndarray:
        f = np.asarray(factors)
        if f.ndim == 1:
            f = f[None, :]
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise ValueError(f"{self.name}: factors must have shape (n, {self.num_factors}), got {f.shape}")
        if not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"{self.name}: factors must be integer class indices, got {f.dtype}")
        sizes = np.asarray(self.factor_sizes)
        bad = (f < 0) | (f >= sizes)
        if bad.any():
            i, k = np.argwhere(bad)[0]
            raise ValueError(
                f"{self.name}: factor {self.factor_names[k]!r} class {f[i, k]} out of range 0..{sizes[k] - 1}"
            )
        return f.astype(np.int64, copy=False)

    def index_to_factors(self, index: np.ndarray | Sequence[int] | int) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if (idx < 0).any() or (idx >= self.num_samples).any():
            raise IndexError(f"{self.name}: index out of range 0..{self.num_samples - 1}")
        return (idx[:, None] // self._strides()[None, :]) % np.asarray(self.factor_sizes)[None, :]

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        f = self.check_factors(factors)
        return f @ self._strides()

    def sample_factors(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` factor combinations drawn uniformly and independently per factor."""
        rng = np.random.default_rng(rng)
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def images(self, factors: np.ndarray) -> np.ndarray:
        """(n, K) class indices -> (n, C, H, W) float32 images in [0, 1]."""
        return self._render(self.check_factors(factors))

    def images_at(self, index: np.ndarray | Sequence[int] | int) -> np.ndarray:
        return self._render(self.index_to_factors(index))

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random images and their factor classes."""
        f = self.sample_factors(n, rng)
        return self.images(f), f

    def factor_value_table(self, factors: np.ndarray) -> np.ndarray:
        """Class indices -> physical factor values, (n, K) float."""
        f = self.check_factors(factors)
        return np.stack([self.factor_values(k)[f[:, k]] for k in range(self.num_factors)], axis=1)

    def describe(self, factors: np.ndarray) -> list[str]:
        """Human-readable factor values, one string per row (for tooltips and captions)."""
        f = self.check_factors(factors)
        vals = self.factor_value_table(f)
        out = []
        for classes, row in zip(f, vals, strict=True):
            parts = []
            for n, c, v in zip(self.factor_names, classes, row, strict=True):
                names = self.category_names.get(n)
                parts.append(f"{n}={names[c]}" if names and len(names) > c else f"{n}={_fmt(v)}")
            out.append(", ".join(parts))
        return out

    def torch_dataset(self, indices: np.ndarray | None = None) -> FactorTorchDataset:
        return FactorTorchDataset(self, indices)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


class FactorTorchDataset(Dataset):
    """A map-style torch Dataset over (a subset of) a factor dataset: items are (image, factor classes).

    ``__getitems__`` renders a whole batch at once, which a DataLoader uses when present.
    """

    def __init__(self, source: FactorDataset, indices: np.ndarray | None = None):
        self.source = source
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return self.source.num_samples if self.indices is None else len(self.indices)

    def _flat(self, items: Sequence[int]) -> np.ndarray:
        flat = np.asarray(items, dtype=np.int64)
        return flat if self.indices is None else self.indices[flat]

    def __getitem__(self, i: int):
        imgs, f = self.__getitems__([i])[0]
        return imgs, f

    def __getitems__(self, items: Sequence[int]):
        flat = self._flat(items)
        factors = self.source.index_to_factors(flat)
        imgs = torch.from_numpy(self.source.images(factors))
        fac = torch.from_numpy(factors)
        return [(imgs[j], fac[j]) for j in range(len(flat))]
