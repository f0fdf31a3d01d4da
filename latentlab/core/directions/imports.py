"""Direction files that StyleGAN researchers publish, read into a ``DirectionSet`` (then saved as our own).

Formats (every one read without running anything: NumPy with ``allow_pickle=False``, PyTorch and pickles
by the inert interpreter, which refuses a file that names code):

- InterFaceGAN boundaries, ``<gan>_<dataset>_<attribute>[_c_<conditions>][_w]_boundary.npy`` of shape
  (1, D): one direction named by its attribute. Its naming says the space: "_w" is W, "_wp" W+, none Z
  (InterFaceGAN's default), so a released boundary needs no word from the caller even where z_dim == w_dim.
- GANSpace component caches (``decomposition.py``: ``lat_comp`` (K, 1, D) unit rows, ``lat_stdev`` (K,),
  ``var_ratio`` (K,), ``act_*`` for the activation space, unused here; "_w" ends the name of a W cache):
  directions "PC0".."PC<K-1>" with their stdev. GANSpace's per-direction export (``interactive.py``'s
  ``.pkl``: ``lat_comp``, ``lat_stdev``, ``latent_space``, ``edit_start`` / ``edit_end`` (exclusive)) is one
  direction with its layer range.
- Plain matrices: ``.npy`` / ``.npz`` / ``.pt`` (K, D), or a ``.pt`` dict {name: (D,)}.

Every direction is made unit length (``params["original_norm"]`` keeps the norm it had) and carries
``params["space"]`` ("z", "w" or "w+"); the shape, the caller's ``space`` and the names decide it as for
latent codes (``latentlab.core.latent_codes``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core import limits
from latentlab.core.directions.base import Direction, DirectionSet
from latentlab.core.errors import BadInput
from latentlab.core.latent_codes import (
    LatentSpaces,
    as_array,
    check_space,
    check_suffix,
    named_arrays,
    npz_names,
    read_arrays,
    read_inert,
    space_hint,
    space_rows,
)
from latentlab.core.text import printable

SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".pkl")
MAX_DIRECTIONS = limits.MAX_COUNT
_WHAT = "a direction file"
_SPACE_WORDS = {"w", "z", "wp"}
_GAN = re.compile(r"^(pg|style|big|pro)?gan\d*(-?(ada|xl|t|r))?$")  # pggan, stylegan, stylegan2-ada, ...
_MIN_NORM = 1e-12


@dataclass
class _Entry:
    """One array of a file: its rows become directions named ``names`` (else ``base``, numbered when several)."""

    base: str
    array: np.ndarray
    method: str
    hint: str | None
    params: dict[str, Any] = field(default_factory=dict)
    names: list[str] | None = None
    row_params: list[dict[str, Any]] | None = None


def import_directions(path: str | os.PathLike, *, z_dim: int | None = None, w_dim: int = 0, num_ws: int = 0,
                      latent_dim: int | None = None, space: str | None = None) -> DirectionSet:
    """The directions of a published file, for a StyleGAN (``z_dim``, ``w_dim``, ``num_ws``) or another model.

    A model with one latent space gives only ``latent_dim`` (its directions are "z"). ``space`` settles a file
    whose shape and names cannot (z_dim == w_dim). Unreadable or unsafe files are ``FileError``; a file whose
    arrays fit no space of the model, hold NaN or a zero vector is ``BadInput``.
    """
    p = Path(path)
    spaces = _spaces(z_dim, w_dim, num_ws, latent_dim)
    space = check_space(space, spaces)
    suffix = check_suffix(p, SUFFIXES, _WHAT)
    entries = _npy(p) if suffix == ".npy" else _npz(p) if suffix == ".npz" else _torch(p, spaces)
    return _direction_set(p, entries, spaces, space)


def _spaces(z_dim: int | None, w_dim: int, num_ws: int, latent_dim: int | None) -> LatentSpaces:
    if (z_dim is None) == (latent_dim is None):
        raise BadInput("give a StyleGAN's z_dim, w_dim and num_ws, or another model's latent_dim (not both)")
    if latent_dim is not None:
        return LatentSpaces.of(latent_dim)
    return LatentSpaces.of(z_dim, w_dim, num_ws)


# --- the formats -----------------------------------------------------------------------------------------------

def _npy(path: Path) -> list[_Entry]:
    """An InterFaceGAN boundary (named ..._boundary) or a plain (K, D) matrix."""
    (array,) = read_arrays(path, _WHAT).values()
    if "boundary" in path.stem.lower().split("_"):
        return [_Entry(_boundary_name(path.stem), array, "interfacegan", _boundary_space(path.stem))]
    return [_Entry(path.stem, array, "imported", space_hint([path.stem]))]


def _boundary_name(stem: str) -> str:
    """"stylegan_ffhq_smile_w_boundary" -> "smile"; "..._age_c_gender_boundary" -> "age (conditioned on gender)"."""
    parts = [t for t in stem.lower().split("_") if t and t != "boundary" and t not in _SPACE_WORDS]
    if len(parts) > 2 and _GAN.match(parts[0]):
        parts = parts[2:]  # the generator and its dataset: the model they were found on, not the attribute
    if "c" in parts[1:]:
        i = parts.index("c", 1)
        return f"{'_'.join(parts[:i])} (conditioned on {', '.join(parts[i + 1:])})"
    return "_".join(parts) or stem


def _boundary_space(stem: str) -> str | None:
    """The space a boundary's name says; Z for a released name without a marker (InterFaceGAN's default)."""
    said = space_hint([stem])
    parts = stem.lower().split("_")
    released = len(parts) > 3 and parts[-1] == "boundary" and bool(_GAN.match(parts[0]))
    return said or ("z" if released else None)


def _npz(path: Path) -> list[_Entry]:
    """A GANSpace component cache (it has ``lat_comp``), else every array as a matrix named by its key."""
    names = npz_names(path, _WHAT)
    if "lat_comp" in names:
        return [_ganspace_cache(path)]
    arrays = read_arrays(path, _WHAT)
    keyed = len(arrays) > 1
    return [_Entry(printable(k, 200) if keyed else path.stem, a, "imported", space_hint([k, path.stem]))
            for k, a in arrays.items()]


def _ganspace_cache(path: Path) -> _Entry:
    """PC0..PC<K-1> from ``lat_comp``, each with its ``lat_stdev`` and ``var_ratio`` where the cache has them."""
    arrays = read_arrays(path, _WHAT, ("lat_comp", "lat_stdev", "var_ratio"))  # act_* can be large: left unread
    comp = arrays["lat_comp"]
    k = comp.shape[0] if comp.ndim else 0
    row_params: list[dict[str, Any]] = [{} for _ in range(k)]
    for key, param in (("lat_stdev", "stdev"), ("var_ratio", "var_ratio")):
        values = _per_row(arrays.get(key), k, f"{path.name}: {key}")
        for i, v in enumerate(values or []):
            row_params[i][param] = v
    hint = space_hint([path.stem]) or "z"  # GANSpace names a W cache "..._w"; without it the cache is of Z
    return _Entry(path.stem, comp, "ganspace", hint, names=[f"PC{i}" for i in range(k)], row_params=row_params)


def _per_row(values: np.ndarray | None, k: int, where: str) -> list[float] | None:
    """One finite, non-negative number per component, or None when the file has none."""
    if values is None:
        return None
    flat = np.asarray(values, dtype=np.float64).reshape(-1) if values.dtype.kind in "fiu" else None
    if flat is None or flat.shape != (k,) or not np.isfinite(flat).all() or (flat < 0).any():
        raise BadInput(f"{where}: expected {k} finite, non-negative numbers (one per component), "
                       f"got shape {tuple(values.shape)}")
    return [float(v) for v in flat]


def _torch(path: Path, spaces: LatentSpaces) -> list[_Entry]:
    """A GANSpace direction export (a dict with ``lat_comp``), a {name: vector} dict or a bare (K, D) tensor."""
    obj = read_inert(path, _WHAT)
    if isinstance(obj, dict) and "lat_comp" in obj:
        return [_ganspace_export(path, obj, spaces)]
    keyed = isinstance(obj, dict)
    return [_Entry(str(k) if keyed else path.stem, a, "imported", space_hint([str(k or ""), path.stem]))
            for k, a in named_arrays(obj, path, "directions")]


def _ganspace_export(path: Path, obj: dict[Any, Any], spaces: LatentSpaces) -> _Entry:
    """One GANSpace direction: its name, latent space ("W" / "Z"), stdev and layer range [edit_start, edit_end)."""
    comp = as_array(obj["lat_comp"], f"{path.name}: lat_comp")
    name = obj.get("name")
    params: dict[str, Any] = {}
    stdev = obj.get("lat_stdev")
    if isinstance(stdev, (int, float)) and not isinstance(stdev, bool) and math.isfinite(stdev) and stdev >= 0:
        params["stdev"] = float(stdev)
    layers = _layers(obj.get("edit_start"), obj.get("edit_end"), spaces, path)
    if layers is not None:
        params["layers"] = layers
    said = obj.get("latent_space")
    hint = said.lower() if isinstance(said, str) and said.lower() in ("w", "z") else space_hint([path.stem])
    base = printable(name, 200) if isinstance(name, str) and name.strip() else path.stem
    return _Entry(base, comp, "ganspace", hint, params)


def _layers(start: Any, stop: Any, spaces: LatentSpaces, path: Path) -> list[int] | None:
    """[start, stop) of the ws an edit applies to, when the file gives both as integers."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop)):
        return None
    if not 0 <= start < stop:
        raise BadInput(f"{path.name}: its layer range [{start}, {stop}) is empty")
    if spaces.num_ws and stop > spaces.num_ws:  # a one-space model has no ws to check against: kept as given
        raise BadInput(f"{path.name}: its layer range [{start}, {stop}) reaches past this model's {spaces.num_ws} ws")
    return [start, stop]


# --- into a direction set ---------------------------------------------------------------------------------------

def _direction_set(path: Path, entries: list[_Entry], spaces: LatentSpaces, space: str | None) -> DirectionSet:
    """One set: every entry's rows as unit directions, all in one space (a set has one latent size)."""
    found: list[tuple[str, np.ndarray, _Entry]] = []
    for e in entries:
        where = path.name if e.base == path.stem else f"{path.name}: {e.base}"
        s, rows = space_rows(e.array, spaces, space, e.hint, where)
        found.append((s, rows, e))
        if sum(len(r) for _, r, _ in found) > MAX_DIRECTIONS:
            raise BadInput(f"{path.name}: holds more than {MAX_DIRECTIONS:,} directions; at most that many are read")
    used = sorted({s for s, rows, _ in found if len(rows)})
    if not used:
        raise BadInput(f"{path.name}: holds no directions")
    if len(used) > 1:
        raise BadInput(f"{path.name}: holds directions of several spaces ({', '.join(used)}); a set has one")
    directions = [d for s, rows, e in found for d in _rows(path, e, s, rows)]
    return DirectionSet(spaces.sizes[used[0]], directions, meta={"imported_from": printable(path.name, 200),
                                                                 "space": used[0]})


def _rows(path: Path, e: _Entry, space: str, rows: np.ndarray) -> list[Direction]:
    """Unit directions named by the entry (names from files are escaped: they are shown, in the dock and here)."""
    base = printable(e.base, 200)
    names = e.names if e.names is not None and len(e.names) == len(rows) else \
        [base if len(rows) == 1 else f"{base} #{i + 1}" for i in range(len(rows))]
    out = []
    for i, (name, row) in enumerate(zip(names, rows, strict=True)):
        norm = float(np.linalg.norm(row.astype(np.float64)))
        if not norm > _MIN_NORM:
            raise BadInput(f"{path.name}: direction {printable(name, 80)!r} is the zero vector (it has no direction)")
        params = {"space": space, "original_norm": norm, **e.params, **(e.row_params[i] if e.row_params else {})}
        out.append(Direction(name, e.method, params, vector=row))
    return out


__all__ = ["MAX_DIRECTIONS", "SUFFIXES", "import_directions"]
