"""NumPy ``.npy`` / ``.npz`` files read safely: never unpickled, and each array's header checked before its data.

``allow_pickle=False`` alone stops an object array from running code, but numpy then says only "Object
arrays cannot be loaded when allow_pickle=False". Here each array's header (dtype, shape) is read first,
without touching its data: an object array is refused with a message saying why, and an array whose header
claims more bytes than the file holds is refused before numpy allocates room for it.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from latentlab.core.errors import FileError, LatentlabError
from latentlab.core.input_files import check_regular
from latentlab.core.text import printable

_REFUSED = "holds Python objects (dtype object); refused: unpickling it could run code from the file"


def _fail(error: type[LatentlabError], path: Path, reason: str) -> LatentlabError:
    return error(path, reason) if issubclass(error, FileError) else error(f"{path}: {reason}")


def _header(fp: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    return tuple(int(s) for s in shape), np.dtype(dtype)


def _check(path: Path, label: str, fp: IO[bytes], available: int, error: type[LatentlabError]) -> None:
    try:
        shape, dtype = _header(fp)
    except (ValueError, OSError, EOFError) as exc:
        raise _fail(error, path, f"{label}: not a NumPy array ({printable(exc, 200)})") from None
    if dtype.hasobject:
        raise _fail(error, path, f"{label} {_REFUSED}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available:
        raise _fail(error, path, f"{label}: its header claims {nbytes} bytes of data, the file holds {available}")


def read_npz(path: str | os.PathLike, names: list[str] | None = None, *, what: str = "a .npz file",
             error: type[LatentlabError] = FileError) -> dict[str, np.ndarray]:
    """The arrays ``names`` (default: all) of a .npz file; a missing name raises ``KeyError``.

    Refusals (not a regular file, not a .npz, an object array, a header larger than its data) are ``error``.
    """
    p = Path(path)
    check_regular(p, what, error=error)
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
            wanted = list(members) if names is None else names
            out: dict[str, np.ndarray] = {}
            for name in wanted:
                member = members[name]  # KeyError for the caller: "missing array ..."
                info = zf.getinfo(member)
                with zf.open(member) as fp:
                    _check(p, f"array {printable(name, 80)!r}", fp, info.file_size, error)
                with zf.open(member) as fp:
                    out[name] = np.lib.format.read_array(fp, allow_pickle=False)
            return out
    except LatentlabError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise _fail(error, p, f"not a readable .npz file ({printable(exc, 200)})") from None
    except (ValueError, OSError) as exc:
        raise _fail(error, p, f"corrupt .npz file ({printable(exc, 200)})") from None


def read_npy(path: str | os.PathLike, *, what: str = "a .npy file",
             error: type[LatentlabError] = FileError) -> np.ndarray:
    """One array from a .npy file, checked as ``read_npz`` checks each array."""
    p = Path(path)
    size = check_regular(p, what, error=error)
    try:
        with open(p, "rb") as fp:
            _check(p, "the array", fp, size, error)
            fp.seek(0)
            return np.lib.format.read_array(fp, allow_pickle=False)
    except LatentlabError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise _fail(error, p, f"corrupt .npy file ({printable(exc, 200)})") from None


__all__ = ["read_npy", "read_npz"]
