"""Reading what an export is made from out of files: latent arrays, keyframes, direction vectors.

Accepted: ``.npy`` arrays, ``.npz`` archives (``FILE.npz:KEY`` picks one array), JSON (a list of numbers or
lists, ``{"NAME": vector, ...}`` or ``{"directions": [{"name": ..., "vector": [...]}, ...]}``), and for
keyframes a ``.llab`` session, whose bookmarks become the keys. Never unpickles anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import FileError
from latentlab.core.input_files import check_regular


def split_spec(spec: str) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:KEY`` (a Windows drive letter is not a key)."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    path, key = spec.rsplit(":", 1)
    if not path or (len(path) == 1 and path.isalpha()):  # C:\\... without a key
        return Path(spec), None
    return Path(path), key or None


def _json_named(obj: Any, where: Path) -> dict[str, Any]:
    if isinstance(obj, dict) and isinstance(obj.get("directions"), list):
        out = {}
        for i, d in enumerate(obj["directions"]):
            if not isinstance(d, dict) or "vector" not in d:
                raise ValueError(f"{where}: directions[{i}] has no 'vector'")
            out[str(d.get("name", i))] = d["vector"]
        return out
    if isinstance(obj, dict):
        return obj
    return {"": obj}


def _named_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array in a file, by name (one unnamed array for .npy and bare JSON lists)."""
    from latentlab.core.input_files import read_bytes
    from latentlab.core.npy_files import read_npy, read_npz
    from latentlab.core.safe_json import loads_bounded

    suffix = path.suffix.lower()
    if suffix == ".npy":
        return {"": read_npy(path, what="a latent file")}
    if suffix == ".npz":
        return read_npz(path, what="a latent file")
    if suffix == ".json":
        data = read_bytes(path, "a latent file", max_bytes=64 * 1024 * 1024)
        named = _json_named(loads_bounded(data, "a latent file", path=path), path)
        try:
            return {k: np.asarray(v, dtype=np.float64) for k, v in named.items()}
        except (TypeError, ValueError) as exc:
            raise FileError(path, f"cannot read it as numbers ({exc})") from None
    check_regular(path, "a latent file")
    raise FileError(path, f"unsupported file type {suffix or '(none)'}; use .npy, .npz or .json")


def _pick(arrays: dict[str, np.ndarray], key: str | None, path: Path) -> tuple[np.ndarray, str]:
    if key is not None:
        if key in arrays:
            return arrays[key], key
        only = arrays.get("")
        if only is not None and only.ndim >= 2 and key.lstrip("-").isdigit():
            if not -len(only) <= int(key) < len(only):
                raise ValueError(f"{path}: row {key} out of range (it has {len(only)})")
            return only[int(key)], f"{path.stem}[{key}]"
        raise ValueError(f"{path}: no entry {key!r}; it has {', '.join(k for k in arrays if k) or 'one unnamed array'}")
    if len(arrays) != 1:
        raise ValueError(f"{path} holds several arrays ({', '.join(arrays)}): pick one with {path}:NAME")
    name, arr = next(iter(arrays.items()))
    return arr, name or path.stem


def _float_array(arr: np.ndarray, path: Path) -> np.ndarray:
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: holds {arr.dtype} values, not numbers")
    out = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{path}: contains NaN or infinite values")
    return out


def load_latents(spec: str | os.PathLike, latent_dim: int | None = None) -> tuple[np.ndarray, str]:
    """A (T, D) latent path (a flow trajectory, any precomputed sequence) and its name."""
    path, key = split_spec(str(spec))
    arr, name = _pick(_named_arrays(path), key, path)
    arr = _float_array(arr, path)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:  # one path per row, as `latentlab flows traverse --save-path` writes
        raise ValueError(f"{path}: holds {arr.shape[0]} latent paths; pick one with {path}:ROW")
    if arr.ndim != 2:
        raise ValueError(f"{path}: a latent path must be a (steps, D) array, got shape {arr.shape}")
    if latent_dim is not None and arr.shape[1] != latent_dim:
        raise ValueError(f"{path}: latents have {arr.shape[1]} dimensions, the model {latent_dim}")
    return arr, name


def load_keyframes(spec: str | os.PathLike, latent_dim: int | None = None,
                   checkpoint_sha: str | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Keyframe latents and their names: rows of an array, the arrays of an .npz, or a session's bookmarks.

    For a session, bookmarks of the checkpoint with ``checkpoint_sha`` are used when it is listed there, else
    every bookmark of the right size.
    """
    path, key = split_spec(str(spec))
    if path.suffix.lower() == ".llab":
        from latentlab.core.session import load_session

        sess = load_session(path)
        ids = {c.id for c in sess.checkpoints if checkpoint_sha and c.file.sha256 == checkpoint_sha}
        marks = [b for b in sess.bookmarks if not ids or b.checkpoint in ids]
        if latent_dim is not None:
            marks = [b for b in marks if b.latent.size == latent_dim]
        if len(marks) < 2:
            raise ValueError(f"{path}: fewer than two bookmarks fit this model; a keyframe path needs two")
        return [np.asarray(b.latent, np.float32) for b in marks], [b.name for b in marks]
    arrays = _named_arrays(path)
    if key is None and len(arrays) > 1:  # an .npz of named keyframes, in the file's order
        keys = [_float_array(a, path).reshape(-1) for a in arrays.values()]
        names = list(arrays)
    else:
        arr, _ = _pick(arrays, key, path)
        arr = _float_array(arr, path)
        if arr.ndim != 2:
            raise ValueError(f"{path}: keyframes must be a (K, D) array, got shape {arr.shape}")
        keys, names = list(arr), [f"key {i + 1}" for i in range(len(arr))]
    if len(keys) < 2:
        raise ValueError(f"{path}: a keyframe path needs at least two keyframes, found {len(keys)}")
    if latent_dim is not None and any(k.size != latent_dim for k in keys):
        raise ValueError(f"{path}: keyframes must have {latent_dim} dimensions like the model")
    return keys, names


def load_vector(spec: str | os.PathLike, latent_dim: int | None = None, what: str = "vector") -> tuple[np.ndarray, str]:
    """One latent-sized vector and its name, from ``FILE:NAME`` or a file holding a single vector."""
    path, key = split_spec(str(spec))
    arr, name = _pick(_named_arrays(path), key, path)
    arr = _float_array(arr, path)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"{path}: holds a {arr.shape} array; pick one {what} with {path}:NAME (or row index)")
    if latent_dim is not None and arr.size != latent_dim:
        raise ValueError(f"{path}: the {what} has {arr.size} dimensions, the model {latent_dim}")
    return arr, name


def load_direction(spec: str | os.PathLike, latent_dim: int | None = None) -> tuple[Any, str]:
    """A direction and its name: from a latentlab direction file (``dirs.safetensors:NAME``, a Direction object
    that ``direction_traversal`` sweeps, curved fields included), or a plain vector (.npy, FILE.npz:NAME, .json).
    """
    path, key = split_spec(str(spec))
    if path.suffix.lower() == ".safetensors":
        return _direction_from_file(path, key, latent_dim)
    arr, name = load_vector(spec, latent_dim, "direction")
    if not np.any(arr):
        raise ValueError(f"{spec}: the direction is all zeros")
    return arr, name


def _direction_from_file(path: Path, key: str | None, latent_dim: int | None) -> tuple[Any, str]:
    try:
        from latentlab.core.directions.io import load_directions
    except ImportError:
        raise ValueError(f"{path}: this latentlab cannot read direction files; export the vector as .npy") from None
    directions = load_directions(path)
    if latent_dim is not None and directions.latent_dim != latent_dim:
        raise ValueError(f"{path}: its directions have {directions.latent_dim} dimensions, the model {latent_dim}")
    if key is None:
        if len(directions) != 1:
            raise ValueError(f"{path} holds {len(directions)} directions ({', '.join(directions.names)}): "
                             f"pick one with {path}:NAME")
        d = directions[0]
    else:
        try:
            d = directions[int(key)] if key.isdigit() and key not in directions.names else directions[key]
        except (KeyError, IndexError) as exc:
            raise ValueError(f"{path}: {exc.args[0] if exc.args else exc}") from None
    return d, d.name
