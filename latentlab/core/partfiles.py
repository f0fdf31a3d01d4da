"""Temporary ``.part`` files and folders that atomic writes are built in, and cleaning up after killed runs.

Every temporary name latentlab makes is ``.<target>.latentlab-<8 random>.part[<suffix>]`` beside its target,
so a cleaner can tell ours from anyone else's by the name alone. While it is being written the temporary is
held with an ``flock``; the OS lets go of that lock when the writer dies, however it dies. Each one is also
listed in an in-flight record (a small JSON file in the data folder) until it is renamed or removed, so the
next start can find the leftovers of a killed run wherever they were written.

A leftover is removed only when it is ours by name, is a plain file (or a folder holding only files we write),
and its lock can be taken. ``flock`` is exact between processes of one machine; across NFS clients it depends
on the mount (Linux maps it onto NFS byte-range locks; a ``nolock`` mount keeps locks local), so leftovers
recorded by another host, or found without a record, must also be older than ``STALE_PART_S``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers are judged by age alone
    fcntl = None  # type: ignore[assignment]  # None stands for the missing module

log = logging.getLogger(__name__)

TAG = "latentlab-"
STALE_PART_S = 600.0  # a leftover with no live lock we can trust must be this old before it is removed
_PART = re.compile(r"^\.(?P<target>.+)\.latentlab-[a-z0-9_]{8}\.part(?:\.[^./]*)?$")
# What a temporary frame folder may hold (see latentlab.core.export.folder); anything else keeps the folder.
_OUR_FOLDER_FILES = re.compile(r"^(frame_\d{5,}\.png|frames\.json)$")


def is_part_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary names."""
    return _PART.match(name) is not None


def try_lock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` without waiting; True if taken (always True without flock)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class Part:
    """One temporary file or folder beside ``target``: created locked and recorded, then ``commit`` or ``discard``."""

    def __init__(self, target: Path, records: Path | None, folder: bool = False):
        self.target = target
        self.records = records
        parent = target.parent
        parent.mkdir(parents=True, exist_ok=True)
        clean_siblings(target)
        if folder:
            self.path = Path(tempfile.mkdtemp(prefix=f".{target.name}.{TAG}", suffix=".part", dir=parent))
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        else:
            # The suffix stays last: some writers pick their format from it.
            self.fd, name = tempfile.mkstemp(prefix=f".{target.stem}.{TAG}", suffix=f".part{target.suffix}",
                                             dir=parent)
            self.path = Path(name)
        try_lock(self.fd)  # a new name nobody else knows: always ours
        self.record = self._write_record()

    def _write_record(self) -> Path | None:
        if self.records is None:
            return None
        try:
            self.records.mkdir(parents=True, exist_ok=True)
            rec = self.records / f"{secrets.token_hex(8)}.json"
            rec.write_text(json.dumps({"path": str(self.path.absolute()), "host": socket.gethostname(),
                                       "pid": os.getpid()}))
            return rec
        except OSError as exc:  # a read-only data folder must not stop the write itself
            log.debug("no in-flight record for %s: %s", self.path, exc)
            return None

    def fsync(self) -> None:
        """Flush the temporary file's data to the disk (where a full disk often shows first)."""
        os.fsync(self.fd)

    def commit(self) -> None:
        """Rename the temporary onto the target (atomic), then let go of it."""
        try:
            os.replace(self.path, self.target)
        finally:
            self._close()

    def discard(self) -> None:
        try:
            if self.path.is_dir() and not self.path.is_symlink():
                _remove_our_folder(self.path)
            else:
                self.path.unlink(missing_ok=True)
        finally:
            self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.record is not None:
            self.record.unlink(missing_ok=True)
            self.record = None


def _remove_our_folder(path: Path) -> bool:
    """Remove a temporary frame folder: only files we write in it; a folder holding anything else stays."""
    foreign = []
    for child in path.iterdir():
        st = child.lstat()
        if stat.S_ISREG(st.st_mode) and _OUR_FOLDER_FILES.match(child.name):
            child.unlink()
        else:
            foreign.append(child.name)
    if foreign:
        log.warning("kept %s: it holds files latentlab did not write (%s)", path, ", ".join(foreign[:5]))
        return False
    path.rmdir()
    return True


def remove_if_stale(path: Path, trust_lock: bool, now: float | None = None) -> bool:
    """Remove one of our leftovers if nobody holds it; True when it is gone (or was never there).

    ``trust_lock``: the writer would have been on this machine, so a free lock proves it dead; otherwise the
    leftover must also be older than ``STALE_PART_S``.
    """
    if not is_part_name(path.name):
        return False
    try:
        st = path.lstat()
    except FileNotFoundError:
        return True
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return False  # a link or a device under our name: not something we made
    old = (now if now is not None else time.time()) - st.st_mtime > STALE_PART_S
    if not (old or (trust_lock and fcntl is not None)):
        return False
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | (getattr(os, "O_DIRECTORY", 0) if stat.S_ISDIR(st.st_mode) else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if not try_lock(fd):
            return False  # a live writer
        if os.fstat(fd).st_ino != st.st_ino:
            return False  # replaced under us
        if stat.S_ISDIR(st.st_mode):
            return _remove_our_folder(path)
        path.unlink()
        return True
    finally:
        os.close(fd)


def clean_siblings(target: Path) -> list[Path]:
    """Remove stale leftovers of earlier writes of ``target`` found beside it (no record: judged by age too)."""
    removed: list[Path] = []
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.stem}.{TAG}")
                      or p.name.startswith(f".{target.name}.{TAG}")]
    except OSError:
        return removed
    for p in candidates:
        try:
            if remove_if_stale(p, trust_lock=False):
                removed.append(p)
        except OSError as exc:
            log.debug("could not clean %s: %s", p, exc)
    return removed


def clean_recorded(records: Path, now: float | None = None) -> list[Path]:
    """At start: remove the leftovers that in-flight records name and no live writer holds; returns them."""
    removed: list[Path] = []
    if not records.is_dir():
        return removed
    host = socket.gethostname()
    now = time.time() if now is None else now
    for rec in records.glob("*.json"):
        try:
            info = json.loads(rec.read_text()[:8192])
            path = Path(info["path"])
            same_host = info["host"] == host
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            _drop_if_old(rec, now)  # half-written by a writer killed mid-record, or not ours at all
            continue
        try:
            if not path.is_absolute() or not is_part_name(path.name) or not _file_or_folder(path):
                rec.unlink(missing_ok=True)  # gone, or not something we made: never touch it
            elif remove_if_stale(path, trust_lock=same_host, now=now):
                removed.append(path)
                rec.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("could not clean %s: %s", path, exc)
    if removed:
        log.info("removed %d unfinished file(s) left by a killed run", len(removed))
    return removed


def _file_or_folder(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def _drop_if_old(rec: Path, now: float) -> None:
    try:
        if now - rec.stat().st_mtime > STALE_PART_S:
            rec.unlink(missing_ok=True)
    except OSError:
        pass
