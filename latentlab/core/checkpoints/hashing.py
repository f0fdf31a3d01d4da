"""SHA-256 of files, cached by (path, size, mtime, inode) in a small least-recently-used table."""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from threading import Lock

_CACHE_SIZE = 512
_cache: OrderedDict[tuple, str] = OrderedDict()
_lock = Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes (cached while its path, size, mtime and inode stay the same)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    remember(key, digest)
    return digest


def remember(key: tuple, digest: str) -> None:
    with _lock:
        _cache[key] = digest
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
