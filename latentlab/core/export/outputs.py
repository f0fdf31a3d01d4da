"""Is this output safe to write? Never onto an input, never over a file of another kind, never through a device.

An export replaces its target only when that target is not one of the files it reads (compared by device and
inode, so symlinks, ``..`` and hard links are seen through), is a regular file (or nothing), and already holds
the kind of file being written (an MP4 over an MP4): ``export ck.safetensors --out ck.safetensors --format mp4``
and ``--out notes.txt --format gif`` are refused before anything is decoded. Folders of PNG frames have their
own rules (``latentlab.core.export.folder``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from latentlab.core.errors import FileError, UnsafeOutput

_KINDS = {"mp4": "MP4", "gif": "GIF", "grid": "PNG", "png": "PNG"}


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows links: what a write through this name would reach
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two names reach the same file (device and inode), however they are spelled."""
    ia, ib = _identity(Path(a)), _identity(Path(b))
    return ia is not None and ia == ib


def holds_kind(path: Path, fmt: str) -> bool:
    """Whether the file's first bytes are those of ``fmt`` (an empty file counts as any kind)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return True
    if fmt == "mp4":
        return head[4:8] == b"ftyp"
    if fmt == "gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    return head[:8] == b"\x89PNG\r\n\x1a\n"


def refuse_inputs(out: Path, inputs: Iterable[str | os.PathLike]) -> None:
    """``UnsafeOutput`` when ``out`` reaches one of ``inputs``.

    Also as the OS will spell it once missing folders on the way exist (``new/../ck.safetensors``).
    """
    spellings = [out, Path(os.path.realpath(out))]
    for src in inputs:
        if any(same_file(o, src) for o in spellings):
            spelled = "" if os.path.abspath(out) == os.path.abspath(src) else f" ({src})"
            raise UnsafeOutput(f"{out}: this is a file the export reads{spelled}; writing there would destroy it",
                               "choose another output name")


def check_file_output(out: Path, fmt: str, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse a file target (MP4, GIF, grid PNG) that writing would wreck; call before decoding anything."""
    refuse_inputs(out, inputs)
    real = Path(os.path.realpath(out))  # what the name reaches, once missing folders on the way exist
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        blocker = next((p for p in (out.parent, *out.parent.parents) if p.exists() and not p.is_dir()), out.parent)
        raise FileError(blocker, f"is a file, not a folder: {out.name} cannot be written inside it") from None
    except OSError as exc:
        raise UnsafeOutput(f"{out}: cannot be checked ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeOutput(f"{out} is a folder", f"give a file name ending in .{'png' if fmt == 'grid' else fmt}")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeOutput(f"{out} is not a regular file (a device, a pipe or a socket); latentlab will not replace it")
    try:
        ok = holds_kind(real, fmt)
    except OSError as exc:
        raise UnsafeOutput(f"{out}: exists and cannot be read ({exc.strerror or exc}); it is left alone") from None
    if not ok:
        raise UnsafeOutput(f"{out} exists and is not a {_KINDS[fmt]} file; latentlab replaces only a file of the "
                           "kind it writes", "choose another output name, or move that file away first")
