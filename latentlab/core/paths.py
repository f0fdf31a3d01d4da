"""Where latentlab keeps its files: the user's data and cache directories.

``LATENTLAB_HOME`` overrides both (tests point it at a temporary folder so they never touch a real home).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

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


def _default_mode(path: Path) -> None:
    # mkstemp creates 0600 files; a file the user asked for gets the usual umask-based mode instead.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _make_parent(path: Path) -> None:
    """Create the folder ``path`` goes in; one that is a file (or lies under one) is a clear ``FileError``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        from latentlab.core.errors import FileError

        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), path.parent)
        raise FileError(blocker, f"is a file, not a folder: {path.name} cannot be written inside it") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _default_mode(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class AtomicPath:
    """Context manager giving a temporary path beside ``target``; renamed onto it only on success.

    For writers that want a file name (safetensors, PyAV, Pillow) rather than bytes.
    """

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        _make_parent(self.target)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.stem}.", suffix=f".part{self.target.suffix}",
                                   dir=self.target.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is None:
            _default_mode(self.tmp)
            os.replace(self.tmp, self.target)
        else:
            self.tmp.unlink(missing_ok=True)
