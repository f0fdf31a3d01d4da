"""Typed errors: what went wrong for the user, in one line, plus a hint of what to do.

Every error latentlab raises on purpose derives from ``LatentlabError``. The CLI prints ``str(exc)`` (the
message, then the hint) without a traceback; the app decides what to show by the error's *type* (a trust
dialog for ``UntrustedFile``, a hint line for the rest), never by its text.

The concrete classes also derive from the built-in exception a caller would naturally catch (``ValueError``
for bad input, ``OSError`` for a full disk), so code written against those keeps working.
"""

from __future__ import annotations

import os
from pathlib import Path

from latentlab.core.text import printable


class LatentlabError(Exception):
    """Base of latentlab's own errors: ``message`` (one line, for the user) and an optional ``hint``."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = printable(str(message))
        self.hint = printable(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class BadInput(LatentlabError, ValueError):
    """An argument or value the user gave cannot be used (a wrong shape, NaN, out of range, ...)."""


class AmbiguousSpace(BadInput):
    """Codes or directions whose size fits two latent spaces of the model (z and w, both 512): the caller must
    say which (``space=``); the app then uses the space being edited."""


class FileError(LatentlabError, ValueError):
    """A file cannot be used: the message names the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str, hint: str | None = None):
        self.path = Path(path)
        self.reason = printable(str(reason))
        super().__init__(f"{printable(str(self.path))}: {self.reason}", hint)


class CheckpointError(FileError):
    """A checkpoint could not be opened."""


class UntrustedFile(CheckpointError):
    """Opening this file would run code stored in it: the user must trust this exact file first.

    ``sha256`` is the digest of the bytes that were refused; a trust given for it applies to those bytes only.
    """

    def __init__(self, path: str | os.PathLike, reason: str, hint: str | None = None, sha256: str | None = None,
                 kind: str = "code", device_inode: tuple[int, int] | None = None):
        super().__init__(path, reason, hint)
        self.sha256 = sha256
        self.kind = kind  # what the file is: "torchscript", "pickle", "nvidia-pickle", ...
        self.device_inode = device_inode  # which file on disk held the refused bytes


class TrustMismatch(CheckpointError):
    """The file is not the one the user trusted (its bytes changed, or it became a link)."""


class UnsupportedLayout(CheckpointError):
    """The file is readable, but its weights do not fit any network latentlab (or a plugin) can build."""


class UnsafeOutput(BadInput):
    """Writing this output would destroy something the user has (an input file, a file we did not write)."""


class DiskFull(LatentlabError, OSError):
    """The disk filled up while writing; whatever was there before is kept."""


class StoreUnavailable(LatentlabError, RuntimeError):
    """The results store is locked, read-only or broken; the figures are still returned, and kept to save later."""


__all__ = [
    "BadInput", "CheckpointError", "DiskFull", "FileError", "LatentlabError", "StoreUnavailable",
    "TrustMismatch", "UnsafeOutput", "UnsupportedLayout", "UntrustedFile",
]
