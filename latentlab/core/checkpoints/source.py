"""A file's bytes, read once, with the SHA-256 of exactly those bytes, and the user's trust bound to them.

Every loader works on a ``Source``: the bytes in memory, their digest, and what they are (``sniff``). The
digest identifies the checkpoint (results and sessions key on it) and is what a user's trust names: when
the app asks "trust this file?", it shows the SHA-256 of the bytes it refused; the trust it gets back is
checked against the SHA-256 of the bytes it then loads, which are the very bytes parsed. A file changed or
swapped (another inode, e.g. a symlink put in its place) between the dialog and the load is refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentlab.core.checkpoints.sniff import kind_of, sniff_bytes
from latentlab.core.errors import CheckpointError, TrustMismatch

_GIB = 1 << 30


def max_file_bytes() -> int:
    """The largest file latentlab reads into memory (``LATENTLAB_MAX_FILE_GB`` overrides; default 16)."""
    try:
        return int(float(os.environ.get("LATENTLAB_MAX_FILE_GB", "16")) * _GIB)
    except ValueError:
        return 16 * _GIB


@dataclass(frozen=True)
class Trust:
    """The user's "yes, run code from this file": for the bytes with ``sha256`` (any bytes if None)."""

    sha256: str | None = None
    device_inode: tuple[int, int] | None = None  # the file as it was when the user said yes

    @staticmethod
    def for_refusal(exc: Any) -> Trust:
        """The trust that answers an ``UntrustedFile``: the refused bytes, in the file that held them."""
        return Trust(exc.sha256, exc.device_inode)

    @staticmethod
    def of(trust: bool | str | Trust | None) -> Trust | None:
        """``False``/``None``: no trust; ``True``: whatever the file holds now; a hex digest: those bytes only."""
        if isinstance(trust, Trust):
            return trust
        if trust is True:
            return Trust()
        if isinstance(trust, str):
            digest = trust.strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"a trusted SHA-256 must be 64 hex digits, got {trust[:80]!r}")
            return Trust(digest)
        return None


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An fd for reading ``path``, refused unless it is a non-empty regular file (a FIFO would block)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a folder, not a checkpoint file") from None
    except PermissionError:
        raise CheckpointError(path, "the file is not readable (permission denied)") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be opened ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(st.st_mode):
        problem = "is a folder, not a checkpoint file"
    elif not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file (a pipe, socket or device); latentlab reads only files"
    elif st.st_size == 0:
        problem = "the file is empty (0 bytes)"
    elif st.st_size > max_file_bytes():
        problem = (f"the file is {st.st_size / _GIB:.1f} GiB, more than latentlab reads "
                   f"({max_file_bytes() / _GIB:.0f} GiB; LATENTLAB_MAX_FILE_GB raises it)")
    if problem:
        os.close(fd)
        raise CheckpointError(path, problem)
    return fd, st


def check_file(path: str | os.PathLike) -> Path:
    """``path`` if it is a readable, non-empty regular file, else a CheckpointError saying why."""
    p = Path(path)
    if not os.path.lexists(p):
        raise CheckpointError(p, "no such file")
    fd, _ = open_regular(p)
    os.close(fd)
    return p


def sniff_format(path: str | os.PathLike) -> str:
    """The kind of the file at ``path`` from its head (and a zip's directory), without reading it all."""
    p = Path(path)
    fd, st = open_regular(p)
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(1 << 20)
        fh.seek(0)
        return kind_of(head, st.st_size, fh)


def _read_all(fd: int, size: int, path: Path) -> bytes:
    chunks, got = [], 0
    while got <= size:
        block = os.read(fd, min(1 << 24, size + 1 - got))
        if not block:
            break
        chunks.append(block)
        got += len(block)
    if got != size:
        raise CheckpointError(path, "the file changed while it was being read")
    return b"".join(chunks)


@dataclass
class Source:
    """A file's bytes, their SHA-256 and kind; the inert PyTorch content is read on demand, once."""

    path: Path
    data: bytes
    sha256: str
    kind: str
    device_inode: tuple[int, int]
    _content: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def head(self, n: int = 4096) -> bytes:
        return self.data[:n]

    def torch_content(self):
        """The file as a ``TorchContent`` read by the inert interpreter (CheckpointError if it cannot be)."""
        if self._content is None:
            from latentlab.core.checkpoints.pickle_vm import PickleRefused
            from latentlab.core.checkpoints.torch_files import read_torch_bytes

            try:
                self._content = read_torch_bytes(self.data, what="the file")
            except PickleRefused as exc:
                raise CheckpointError(self.path, f"cannot be read safely: {exc.message}") from None
        return self._content


def read_source(path: str | os.PathLike, trust: Trust | None = None) -> Source:
    """Read the file once; with ``trust``, refuse bytes other than the ones the user trusted."""
    p = Path(path)
    if not os.path.lexists(p):
        raise CheckpointError(p, "no such file")
    fd, st = open_regular(p)
    try:
        ident = (st.st_dev, st.st_ino)
        if trust is not None and trust.device_inode is not None and trust.device_inode != ident:
            raise TrustMismatch(p, "this is not the file you trusted: it was replaced (or a link now stands in its "
                                   "place) since then; open it again to see what it is now")
        data = _read_all(fd, st.st_size, p)
    finally:
        os.close(fd)
    digest = hashlib.sha256(data).hexdigest()
    if trust is not None and trust.sha256 is not None and trust.sha256 != digest:
        raise TrustMismatch(p, f"its bytes changed since you trusted it (SHA-256 now {digest[:16]}..., trusted "
                               f"{trust.sha256[:16]}...); nothing was loaded — open it again to decide anew")
    return Source(p, data, digest, sniff_bytes(data), ident)
