"""Datasets with ground-truth factors: generated replicas, readers of the original files, a registry."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from latentlab.core.choices import BUILTIN_DATASETS
from latentlab.core.data.base import FactorDataset, FactorTorchDataset
from latentlab.core.data.files import DatasetFileError, DSpritesFile, Shapes3DFile

BUILTIN = BUILTIN_DATASETS


@cache
def _builtin(name: str) -> FactorDataset:
    if name == "dsprites":
        from latentlab.core.data.dsprites import DSprites

        return DSprites()
    if name == "shapes3d":
        from latentlab.core.data.shapes3d import Shapes3D

        return Shapes3D()
    from latentlab.core.data.xyobject import XYObject

    return XYObject()


def get_dataset(name_or_path: str) -> FactorDataset:
    """A built-in replica by name, or an original dataset file (.npz for dSprites, .h5 for 3D Shapes)."""
    key = name_or_path.strip()
    if key.lower() in BUILTIN:
        return _builtin(key.lower())
    path = Path(key)
    if path.suffix == ".npz":
        return DSpritesFile(path)
    if path.suffix in (".h5", ".hdf5"):
        return Shapes3DFile(path)
    if not path.exists():
        raise DatasetFileError(f"unknown dataset {name_or_path!r}; built-in: {', '.join(BUILTIN)}, or a .npz/.h5 file")
    raise DatasetFileError(f"{path}: unsupported dataset file type (expected .npz or .h5)")


__all__ = ["BUILTIN", "FactorDataset", "FactorTorchDataset", "DatasetFileError", "get_dataset"]
