"""Where latentlab keeps its files: the user's data and cache directories.

``LATENTLAB_HOME`` overrides both (tests point it at a temporary folder so they never touch a real home).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

from latentlab.core.errors import DiskFull
from latentlab.core.partfiles import Part, clean_recorded

log = logging.getLogger(__name__)

APP = "latentlab"


def _override() -> Path | None:
    home = os.environ.get("LATENTLAB_HOME")
    return Path(home) if home else None


def data_dir() -> Path:
    base = _override()
    path = base / "data" if base else Path(platformdirs.user_data_dir(APP, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    base = _override()
    path = base / "cache" if base else Path(platformdirs.user_cache_dir(APP, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def records_dir() -> Path:
    """Where in-flight records of temporary files live (see ``latentlab.core.partfiles``)."""
    base = _override()
    return (base / "data" if base else Path(platformdirs.user_data_dir(APP, appauthor=False))) / "inflight"


def clean_leftovers() -> list[Path]:
    """Remove the ``.part`` files and folders of killed runs (only ours, only with no live writer); at start."""
    try:
        return clean_recorded(records_dir())
    except OSError as exc:
        log.debug("leftover cleaning skipped: %s", exc)
        return []


_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
         errno.EFBIG: "the file is larger than this file system or the file-size limit allows"}


def disk_full(exc: BaseException | None, target: Path) -> DiskFull | None:
    """The one-line ``DiskFull`` for an error that means there was no room to write ``target``; else None."""
    while exc is not None:
        if isinstance(exc, DiskFull):
            return exc
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return DiskFull(f"{target}: {_FULL[exc.errno]}; nothing was written and what was there is kept",
                            "free some space or write somewhere else")
        exc = exc.__cause__ or exc.__context__
    return None


def _default_mode(path: Path) -> None:
    # mkstemp creates 0600 files; a file the user asked for gets the usual umask-based mode instead.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _make_parent(path: Path) -> None:
    """Create the folder ``path`` goes in; one that is a file (or lies under one) is a clear ``FileError``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        from latentlab.core.errors import FileError

        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), path.parent)
        raise FileError(blocker, f"is a file, not a folder: {path.name} cannot be written inside it") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one.

    A full disk raises ``DiskFull`` and leaves the old file as it was.
    """
    with AtomicPath(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


class AtomicPath:
    """Context manager giving a temporary path beside ``target``; renamed onto it only on success.

    For writers that want a file name (safetensors, PyAV, Pillow) rather than bytes. ``before_commit`` runs
    just before the rename and may raise to keep the old target (a last check that the output is safe).
    A full disk (while writing or while flushing) raises ``DiskFull``; the old target is kept either way.
    """

    def __init__(self, target: str | os.PathLike, before_commit: Callable[[], None] | None = None):
        self.target = Path(target)
        self.before_commit = before_commit
        self.part: Part | None = None

    @property
    def tmp(self) -> Path | None:
        return self.part.path if self.part is not None else None

    def __enter__(self) -> Path:
        _make_parent(self.target)
        try:
            self.part = Part(self.target, records_dir())
        except OSError as exc:
            raise disk_full(exc, self.target) or exc from None
        return self.part.path

    def __exit__(self, exc_type, exc, tb) -> None:
        part = self.part
        assert part is not None
        if exc_type is None:
            try:
                part.fsync()  # on some file systems a full disk shows only here
                _default_mode(part.path)
                if self.before_commit is not None:
                    self.before_commit()
                part.commit()
                return
            except BaseException as late:
                exc = late
        part.discard()
        full = disk_full(exc, self.target)
        if full is not None and full is not exc:
            raise full from None
        if exc_type is None:
            raise exc  # the flush or the last check failed: the old target stays
