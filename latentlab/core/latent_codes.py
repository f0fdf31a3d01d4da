"""Latent codes made by other tools (GAN inversions, encoders, projectors), read as bookmarks for a model.

Researchers publish the codes of their edits and inversions in three containers: NumPy ``.npy`` / ``.npz``
(NVIDIA's stylegan2-ada / stylegan3 projector writes ``projected_w.npz`` with ``w`` of shape (1, num_ws,
w_dim); InterFaceGAN writes ``z.npy``, ``w.npy``, ``wp.npy``) and PyTorch ``.pt`` (e4e / pSp / ReStyle
``latents.pt``: {image name: (num_ws, w_dim)} or a bare (N, num_ws, w_dim) tensor).

None of these is trusted: NumPy files are read with ``allow_pickle=False`` by the bounded readers of
``npy_files``, PyTorch files by the inert pickle interpreter (``checkpoints.torch_files``), which never
imports or calls what a pickle names; a file that names code is refused, never run.

Which latent space a code lives in is read from its shape: (.., num_ws, w_dim) and num_ws * w_dim values
are W+; a code of w_dim or z_dim values is W or Z when the two sizes differ. When they are equal (512 in
every StyleGAN) the name decides ("w", "ws", "projected_w", "dlatents" say W; "z" says Z), else the caller
must say. The helpers here are shared with ``directions.imports``, which reads direction files the same way.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from latentlab.core import limits
from latentlab.core.errors import AmbiguousSpace, BadInput, FileError
from latentlab.core.input_files import check_regular
from latentlab.core.npy_files import read_npy, read_npz
from latentlab.core.text import printable

SPACES = ("z", "w", "w+")
MAX_CODES = 10_000  # an inversion of a whole test set (CelebA-HQ's is 2,824); more is not a bookmark list
MAX_FILE_BYTES = 1 << 30  # 10,000 W+ codes of a 1024 px StyleGAN are 369 MB in float32
MAX_NUM_WS = 64  # a 1024 px StyleGAN2 has 18 ws, StyleGAN3 16; a W+ of more is no StyleGAN's
SUFFIXES = (".npy", ".npz", ".pt", ".pth")

_W_WORDS = {"w", "ws", "dlatent", "dlatents", "wlatent", "wlatents"}
_WP_WORDS = {"wp", "w+", "wplus"}
_Z_WORDS = {"z", "zs"}


@dataclass(frozen=True, eq=False)
class LatentCode:
    """One imported code: ``vector`` (flat float32, read-only) in ``space`` ("z", "w" or "w+").

    Compared by identity (``eq=False``): two codes with equal arrays are still two bookmarks.
    """

    name: str
    space: str
    vector: np.ndarray


@dataclass(frozen=True)
class LatentSpaces:
    """The latent spaces a model offers and their sizes; ``w_dim`` / ``num_ws`` are 0 for a one-space model."""

    z_dim: int
    w_dim: int = 0
    num_ws: int = 0

    @staticmethod
    def of(z_dim: Any, w_dim: Any = 0, num_ws: Any = 0) -> LatentSpaces:
        """Checked sizes (a StyleGAN gives all three; another model its one latent size as ``z_dim``)."""
        z = limits.check_int(z_dim, "z_dim", 1, limits.MAX_LATENT_DIM)
        w = limits.check_int(w_dim, "w_dim", 0, limits.MAX_LATENT_DIM)
        n = limits.check_int(num_ws, "num_ws", 0, MAX_NUM_WS)
        return LatentSpaces(z, w, n) if w and n else LatentSpaces(z)

    @property
    def sizes(self) -> dict[str, int]:
        """{space: values per code}; only "z" for a one-space model."""
        if not self.w_dim:
            return {"z": self.z_dim}
        return {"z": self.z_dim, "w": self.w_dim, "w+": self.num_ws * self.w_dim}

    def accepted(self) -> str:
        """The shapes this model takes, in words, for messages."""
        if not self.w_dim:
            return f"(N, {self.z_dim})"
        zw = f"(N, {self.z_dim}) for z or w" if self.z_dim == self.w_dim else \
            f"(N, {self.z_dim}) for z, (N, {self.w_dim}) for w"
        return f"{zw}, (N, {self.num_ws}, {self.w_dim}) or (N, {self.num_ws * self.w_dim}) for w+"

    def expected(self, space: str) -> str:
        """The shapes of one space, in words."""
        if space == "w+":
            return f"(N, {self.num_ws}, {self.w_dim}) or (N, {self.num_ws * self.w_dim})"
        return f"(N, {self.sizes[space]})"


# --- which space: from the shape, then the caller, then the name -------------------------------------------

def check_space(space: str | None, spaces: LatentSpaces) -> str | None:
    """``space`` if this model has it (None stays None); else ``BadInput`` naming the spaces it has."""
    if space is None or space in spaces.sizes:
        return space
    raise BadInput(f"latent space {printable(space, 20)!r} is not one of this model's: {', '.join(spaces.sizes)}")


def words(name: str) -> list[str]:
    """A file or key name split into lower-case words ("stylegan_ffhq_smile_w_boundary" -> [..., "w", ...])."""
    return [t for t in re.split(r"[^a-z0-9+]+", name.lower()) if t]


def space_hint(names: Iterable[str]) -> str | None:
    """The space named by the first of ``names`` that names one ("w", "projected_w", "dlatents", "z", "wp"), or None.

    "latents" alone says nothing: e4e writes W+ under that name, but its shape says so already, and a flat
    512-value "latents" from another script may as well be z.
    """
    for name in names:
        ws = set(words(name))
        said = {s for s, vocab in (("w", _W_WORDS), ("w+", _WP_WORDS), ("z", _Z_WORDS)) if ws & vocab}
        if len(said) == 1:
            return said.pop()
    return None


def space_rows(array: np.ndarray, spaces: LatentSpaces, space: str | None, hint: str | None,
               where: str) -> tuple[str, np.ndarray]:
    """(space, (N, D) float32 rows) of an array of codes or directions; ``BadInput`` naming what fits if none does.

    ``space`` (the caller's word) overrides the shape's reading where both fit (an (18, 512) array is one W+
    code, or 18 W codes when the caller says "w"); ``hint`` (from names) settles only a tie of z and w.
    """
    shape = tuple(array.shape)
    flat = _flat(array, spaces, space)
    if flat is None or flat.shape[1] not in spaces.sizes.values():
        raise BadInput(f"{where}: holds an array of shape {shape}; this model takes {spaces.accepted()}")
    fits = [s for s, d in spaces.sizes.items() if d == flat.shape[1]]
    if space is not None and space not in fits:
        raise BadInput(f"{where}: holds shape {shape}, which is not {space}: {space} takes {spaces.expected(space)}")
    chosen = space or (fits[0] if len(fits) == 1 else hint if hint in fits else None)
    if chosen is None:
        raise AmbiguousSpace(f"{where}: {flat.shape[1]} values could be z or w in this model; give the space (z or w)")
    return chosen, _finite(flat, where)


def _flat(array: np.ndarray, spaces: LatentSpaces, space: str | None) -> np.ndarray | None:
    """(N, D) rows: (.., num_ws, w_dim) as W+ rows, (N, 1, D) squeezed, (D,) as one row; None for other shapes."""
    shape = tuple(array.shape)
    wplus = spaces.w_dim and array.ndim in (2, 3) and shape[-2:] == (spaces.num_ws, spaces.w_dim)
    if wplus and not (array.ndim == 2 and space in ("z", "w")):
        return array.reshape(-1, spaces.num_ws * spaces.w_dim)
    if array.ndim == 3 and shape[1] == 1:
        return array.reshape(shape[0], shape[2])
    if array.ndim in (1, 2) and shape[-1] > 0:
        return array.reshape(-1, shape[-1])
    return None


def _finite(rows: np.ndarray, where: str) -> np.ndarray:
    if rows.dtype.kind not in "fiu":
        raise BadInput(f"{where}: holds {rows.dtype} values, not real numbers")
    out = np.ascontiguousarray(rows, dtype=np.float32)
    if not np.isfinite(out).all():
        raise BadInput(f"{where}: holds NaN or infinite values (or values beyond float32's range)")
    return out


# --- reading the containers ----------------------------------------------------------------------------------

def check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> str:
    """The file's suffix if it is one we read; else ``FileError`` listing them."""
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise FileError(path, f"not {what}: latentlab reads {', '.join(suffixes)} files")
    return suffix


def npz_names(path: Path, what: str) -> list[str]:
    """The arrays a .npz holds, refused when their declared sizes add up past ``MAX_FILE_BYTES``.

    ``read_npz`` checks each header against its member's declared size; a compressed member may declare
    gigabytes in a small file, so the total is capped here before anything is decompressed.
    """
    check_regular(path, what, max_bytes=MAX_FILE_BYTES)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if i.filename.endswith(".npy")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise FileError(path, f"not a readable .npz file ({printable(exc, 200)})") from None
    if sum(i.file_size for i in infos) > MAX_FILE_BYTES:
        raise FileError(path, f"its arrays unpack to more than {MAX_FILE_BYTES >> 20} MiB; refused")
    if not infos:
        raise FileError(path, "a .npz file without arrays")
    return [i.filename[:-4] for i in infos]


def read_arrays(path: Path, what: str, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a .npz (those of ``names`` it has; default all) or the one array of a .npy (under its stem)."""
    if path.suffix.lower() == ".npz":
        present = npz_names(path, what)
        return read_npz(path, present if names is None else [n for n in names if n in present], what=what)
    check_regular(path, what, max_bytes=MAX_FILE_BYTES)
    return {path.stem: read_npy(path, what=what)}


def read_inert(path: Path, what: str) -> Any:
    """A PyTorch file's (or pickle's) object, read without running anything; one that names code is refused.

    The inert reader turns what a pickle would import and call (``os.system``, a model class) into a
    record; tensors and codes never need code, so such a file is refused rather than half-read.
    """
    from latentlab.core.checkpoints.source import read_source

    check_regular(path, what, max_bytes=MAX_FILE_BYTES)
    content = read_source(path).torch_content()
    if content.carries_code:
        named = ", ".join(printable(n, 80) for n in content.foreign[:4])
        raise FileError(path, f"it names Python code ({named}) that torch.load would run; latentlab ran none of "
                              f"it and reads {what} only when it holds plain tensors")
    return content.obj


def as_array(value: Any, where: str) -> np.ndarray:
    """A tensor or array from an inert load as a NumPy array; anything else is ``BadInput``."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise BadInput(f"{where}: holds {value.dtype} values, not real numbers")
        return value.detach().float().numpy() if value.is_floating_point() else value.detach().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise BadInput(f"{where}: holds a {printable(type(value).__name__, 60)}, not a tensor or an array")


def named_arrays(obj: Any, path: Path, what: str) -> list[tuple[str | None, np.ndarray]]:
    """(key, array) pairs of an inert load: a dict's items (key = name) or one bare tensor (key None)."""
    if isinstance(obj, dict):
        if not obj:
            raise BadInput(f"{path.name}: an empty dict, no {what}")
        if len(obj) > MAX_CODES:
            raise BadInput(f"{path.name}: holds {len(obj):,} entries; at most {MAX_CODES:,} are read")
        return [(printable(k, 200), as_array(v, f"{path.name}: {printable(k, 80)}")) for k, v in obj.items()]
    return [(None, as_array(obj, path.name))]


# --- latent codes -------------------------------------------------------------------------------------------

T = TypeVar("T")


def read_in_space(read: Callable[..., T], view_space: str | None) -> tuple[T, str | None]:
    """``read()``, or, when the file cannot say whether it holds z or w, ``read(space=...)`` in the space being
    edited (z in z, w in w and W+): the result and the space assumed (None when the file said)."""
    try:
        return read(), None
    except AmbiguousSpace:
        if view_space is None:
            raise
        guess = "z" if view_space == "z" else "w"
        return read(space=guess), guess


def load_latent_codes(path: str | os.PathLike, *, z_dim: int, w_dim: int = 0, num_ws: int = 0,
                      space: str | None = None) -> list[LatentCode]:
    """Every code in ``path`` (.npy, .npz, .pt / .pth) as ``LatentCode``s for a model of these sizes.

    ``space`` ("z", "w", "w+") says where the codes live when the shape cannot (z_dim == w_dim). A missing,
    unreadable or unsafe file is ``FileError``; a readable one whose content does not fit is ``BadInput``.
    """
    p = Path(path)
    spaces = LatentSpaces.of(z_dim, w_dim, num_ws)
    space = check_space(space, spaces)
    what = "a latent-code file"
    if check_suffix(p, SUFFIXES, what) in (".pt", ".pth"):
        obj = read_inert(p, what)
        pairs, keyed = named_arrays(obj, p, "latent codes"), isinstance(obj, dict)
    elif p.suffix.lower() == ".npz" and {"latents", "files"} <= set(npz_names(p, what)):
        pairs, keyed = _own_encodings(p, what), True
    else:
        arrays = read_arrays(p, what)
        pairs, keyed = list(arrays.items()), len(arrays) > 1
    return _codes(p, pairs, keyed, spaces, space)


def _own_encodings(path: Path, what: str) -> list[tuple[str | None, np.ndarray]]:
    """``latentlab encode``'s .npz: one latent per image file, named by the file (its other arrays are not codes)."""
    arrays = read_arrays(path, what, ["latents", "files"])
    latents, files = arrays["latents"], arrays["files"]
    if latents.ndim != 2 or files.ndim != 1 or len(files) != len(latents) or files.dtype.kind != "U":
        raise BadInput(f"{path.name}: 'latents' {latents.shape} and 'files' {files.shape} do not pair up")
    return [(Path(str(f)).name, latents[i:i + 1]) for i, f in enumerate(files)]


def _codes(path: Path, pairs: list[tuple[str | None, np.ndarray]], keyed: bool, spaces: LatentSpaces,
           space: str | None) -> list[LatentCode]:
    """Codes named "<file>: <key>" when the file holds several named entries, else "<stem>"; "#k" when several."""
    out: list[LatentCode] = []
    file, stem = printable(path.name, 200), printable(path.stem, 200)  # names come from files: shown, never run
    for key, array in pairs:
        base = f"{file}: {printable(key, 200)}" if keyed else stem
        found, rows = space_rows(array, spaces, space, space_hint([key or "", path.stem]), base if keyed else file)
        if len(out) + len(rows) > MAX_CODES:
            raise BadInput(f"{path.name}: holds more than {MAX_CODES:,} codes; at most {MAX_CODES:,} are read")
        out.extend(_code(base if len(rows) == 1 else f"{base} #{i + 1}", found, r) for i, r in enumerate(rows))
    if not out:
        raise BadInput(f"{path.name}: holds no latent codes")
    return out


def _code(name: str, space: str, row: np.ndarray) -> LatentCode:
    vector = row.copy()
    vector.setflags(write=False)  # a frozen code: a bookmark shared by views must not change under them
    return LatentCode(name, space, vector)


__all__ = ["MAX_CODES", "SPACES", "LatentCode", "LatentSpaces", "load_latent_codes", "read_in_space"]
