"""Files latentlab reads data from: refuse what is not a readable, non-empty regular file, before opening it.

A named pipe (FIFO) blocks ``open()`` until someone writes to it, and a device such as ``/dev/zero`` never
ends: given where a dataset, an image, a label CSV or a session goes, either would hang the app. Both are
told apart from a regular file by ``stat`` alone, which never blocks; ``read_bytes`` also opens with
``O_NONBLOCK`` and checks the opened file again, so a path swapped for a pipe in between cannot block it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from latentlab.core.errors import FileError, LatentlabError

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _error(cls: type[LatentlabError], path: Path, reason: str) -> LatentlabError:
    # FileError and its kinds take (path, reason); the message-only kinds (BadInput, ...) take one line.
    return cls(path, reason) if issubclass(cls, FileError) else cls(f"{path}: {reason}")


def _kind_reason(mode: int, what: str) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"is a folder, not {what}"
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}, not {what}; refused (reading it could block or never end)"


def check_regular(path: str | os.PathLike, what: str = "a data file", *, max_bytes: int | None = None,
                  allow_empty: bool = False, error: type[LatentlabError] = FileError) -> int:
    """The size of ``path`` when it is a readable regular file (symlinks followed); else ``error``.

    ``what`` completes "is a folder, not ..." ("a session file"). ``error`` is the caller's own error type:
    a ``FileError`` kind is built from (path, reason), any other kind from "path: reason".
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        raise _error(error, p, "no such file") from None
    except PermissionError:
        raise _error(error, p, "cannot be read (permission denied)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _error(error, p, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    reason = _kind_reason(st.st_mode, what)
    if reason is None and st.st_size == 0 and not allow_empty:
        reason = "is empty (0 bytes)"
    if reason is None and max_bytes is not None and st.st_size > max_bytes:
        reason = f"is too large ({st.st_size} bytes; at most {max_bytes} are read)"
    if reason is None and not os.access(p, os.R_OK):
        reason = "cannot be read (permission denied)"
    if reason is not None:
        raise _error(error, p, reason)
    return st.st_size


def read_bytes(path: str | os.PathLike, what: str = "a data file", *, max_bytes: int,
               allow_empty: bool = False, error: type[LatentlabError] = FileError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; every refusal is ``error`` (see ``check_regular``)."""
    p = Path(path)
    check_regular(p, what, max_bytes=max_bytes, allow_empty=allow_empty, error=error)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _error(error, p, f"cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        reason = _kind_reason(os.fstat(fh.fileno()).st_mode, what)  # it may have been swapped since the check
        if reason is not None:
            raise _error(error, p, reason)
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise _error(error, p, f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise _error(error, p, f"is too large (more than {max_bytes} bytes)")
    if not data and not allow_empty:
        raise _error(error, p, "is empty (0 bytes)")
    return data


__all__ = ["check_regular", "read_bytes"]
