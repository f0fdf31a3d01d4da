"""Results that could not go into the results store yet (it was locked, read-only, or not a database file).

One JSON line per result, appended under an ``flock`` and flushed to the disk, in ``<store>.pending`` beside the
store, or where that folder cannot be written, in the data folder (named after the store's path). The store
reads it as if its rows were in the database and moves them in at its next successful open or write; a
line cut short by a crash, or anything that is not one of our lines, is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from latentlab.core import partfiles

log = logging.getLogger(__name__)

MAX_JOURNAL_BYTES = 512 << 20  # beyond this a journal is not read (and nothing more is appended)
Key = tuple[str, str, str, str, str, int]


@dataclass(frozen=True)
class Pending:
    key: Key
    created: float
    payload: str  # JSON text, as the store keeps it


def _parse(line: bytes) -> Pending | None:
    try:
        d = json.loads(line)
        key = d["key"]
        if not (isinstance(key, list) and len(key) == 6 and all(isinstance(k, str) for k in key[:5])
                and isinstance(key[5], int) and isinstance(d["payload"], str)):
            return None
        return Pending((key[0], key[1], key[2], key[3], key[4], key[5]), float(d["created"]), d["payload"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


@contextmanager
def _locked(path: Path, mode: str, exclusive: bool) -> Iterator[IO[bytes]]:
    with open(path, mode) as fh:
        if partfiles.fcntl is not None:
            partfiles.fcntl.flock(fh.fileno(), partfiles.fcntl.LOCK_EX if exclusive else partfiles.fcntl.LOCK_SH)
        yield fh


class PendingJournal:
    """The pending results of one store: ``append``, ``entries``, and ``drain`` into the database."""

    def __init__(self, store_path: Path, fallback_dir: Path):
        beside = store_path.with_name(store_path.name + ".pending")
        digest = hashlib.sha256(str(store_path.absolute()).encode()).hexdigest()[:16]
        self.paths = [beside, fallback_dir / f"{digest}.pending"]
        self._cache: tuple[tuple, list[Pending]] | None = None

    def _existing(self) -> list[Path]:
        return [p for p in self.paths if _regular(p)]

    def exists(self) -> bool:
        return bool(self._existing())

    def append(self, entry: Pending) -> Path:
        """Keep one result for later; returns where. OSError when no place will take it."""
        line = json.dumps({"key": list(entry.key), "created": entry.created, "payload": entry.payload}).encode()
        errors = []
        for path in self.paths:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if os.path.lexists(path) and not _regular(path):  # a link could lead into a file of the user's
                    raise OSError(f"{path} is not a regular file")
                if _regular(path) and path.stat().st_size > MAX_JOURNAL_BYTES:
                    raise OSError(f"{path} is over {MAX_JOURNAL_BYTES >> 20} MB")
                self._append_to(path, line)
                return path
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
        raise OSError("; ".join(errors))

    @staticmethod
    def _append_to(path: Path, line: bytes) -> None:
        for _ in range(10):
            with _locked(path, "ab", exclusive=True) as fh:
                try:
                    if os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino:
                        continue  # drained and removed while we waited for the lock: open it anew
                except FileNotFoundError:
                    continue
                fh.write(line + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
                return
        raise OSError(f"{path} kept being replaced while it was written")

    def entries(self) -> list[Pending]:
        """Every readable pending result (later lines win over earlier ones for the same key)."""
        files = self._existing()
        try:
            stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        except OSError:
            stamp = ()
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        out: dict[Key, Pending] = {}
        for path in files:
            for e in self._read(path):
                if e.key not in out or e.created >= out[e.key].created:
                    out[e.key] = e
        result = list(out.values())
        self._cache = (stamp, result)
        return result

    @staticmethod
    def _read(path: Path) -> list[Pending]:
        try:
            if path.stat().st_size > MAX_JOURNAL_BYTES:
                log.warning("%s is too large to read; its results stay there", path)
                return []
            with _locked(path, "rb", exclusive=False) as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            log.warning("cannot read pending results %s: %s", path, exc)
            return []
        entries = [_parse(line) for line in lines if line.strip()]
        if None in entries:
            log.warning("%s: skipped %d unreadable line(s)", path, entries.count(None))
        return [e for e in entries if e is not None]

    def drain(self, write: Callable[[list[Pending]], None]) -> int:
        """Hand every pending result to ``write`` (one database transaction); on success, forget them."""
        moved = 0
        for path in self._existing():
            try:
                with _locked(path, "r+b", exclusive=True) as fh:
                    entries = [e for e in (_parse(line) for line in fh.read().splitlines() if line.strip()) if e]
                    if entries:
                        write(entries)  # raises if the store is still unavailable: the journal stays
                    # Removed while held: an appender waiting for the lock sees the name gone and starts anew.
                    path.unlink()
                moved += len(entries)
            except OSError as exc:
                log.warning("pending results %s stay where they are: %s", path, exc)
        self._cache = None
        return moved

    def drop(self, keep: Callable[[Pending], bool]) -> None:
        """Forget pending results that ``keep`` rejects (the user deleted them from the store)."""
        for path in self._existing():
            try:
                with _locked(path, "r+b", exclusive=True) as fh:
                    lines = [ln for ln in fh.read().splitlines() if ln.strip()]
                    kept = [ln for ln in lines if (e := _parse(ln)) is not None and keep(e)]
                    if len(kept) != len(lines):
                        fh.seek(0)
                        fh.truncate(0)
                        fh.write(b"".join(ln + b"\n" for ln in kept))
                        fh.flush()
                        os.fsync(fh.fileno())
            except OSError as exc:
                log.warning("cannot update pending results %s: %s", path, exc)
        self._cache = None
