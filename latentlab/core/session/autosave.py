"""Autosave and crash recovery for sessions (Qt-free: the UI drives it from a QTimer).

Each running app is an *instance* (host name, PID and a random tag, so no two share a name even across the
machines of a shared home) with two files in ``data_dir()/autosave``: ``running-<instance>.json``, which it
holds with an exclusive ``flock`` from ``begin()`` until it exits, and its autosave ``session-<instance>.llab``,
rewritten atomically after changes. A clean exit removes both.

A crashed run is recognised by its lock, not by its PID: the OS drops a dead process's locks however it died
(SIGKILL, a power cut on the next boot), and PIDs are reused. At start every other instance's lock is tried; one
that can be taken belonged to a dead run, and its autosave is offered. The taker keeps holding that lock until
the user restores or discards it (or the taker itself exits), so two apps started at once never both claim
it, and a live instance's lock can never be taken, so its autosave is never taken over.

Runs of another host are offered too. What that relies on: Linux maps ``flock`` on NFS onto the server's
byte-range locks, which a crashed client loses when its lease runs out, but a ``nolock`` mount keeps locks on
one machine, where another host cannot see them. So a foreign run must also have stopped refreshing its
heartbeat (the marker's modification time, touched every ``HEARTBEAT_S`` while it runs) for
``FOREIGN_STALE_S`` before it counts as crashed. Markers of older latentlab versions (no lock) are judged by
PID and process start time as before.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import secrets
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from latentlab.core import partfiles
from latentlab.core.partfiles import try_lock
from latentlab.core.paths import atomic_write_bytes, data_dir
from latentlab.core.session.records import Session, SessionError, load_session

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_S = 3.0  # how long after a change the UI should autosave (its QTimer's single-shot delay)
HEARTBEAT_S = 60.0  # how often a running app touches its marker
FOREIGN_STALE_S = 600.0  # another host's run with a free lock counts as crashed after this long without a beat
LOCK_VERSION = 2  # markers that are held with flock (older ones only name a PID)
_RUNNING = "running-"
_CRASHED = "crashed-"  # claimed markers of older versions, still offered
_MAX_MARKER = 65536


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a recycled PID apart; else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        # The command name (field 2) may contain spaces and parentheses: split after its closing one.
        return int(text[text.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (on this machine)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]  # ctypes has windll on Windows only
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _same_process_running(marker: dict[str, Any]) -> bool:
    pid = marker.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return False
    recorded = marker.get("start_ticks")
    now = process_start_ticks(pid)
    if recorded is not None and now is not None and recorded != now:
        return False  # the PID was recycled by an unrelated process
    return True


def _name_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64] or "host"


def _read_marker(fh: IO[bytes]) -> dict[str, Any]:
    try:
        info = json.loads(fh.read(_MAX_MARKER).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return info if isinstance(info, dict) else {}


@dataclass
class Recovery:
    """An autosave left by a run that did not exit cleanly; its lock is held until ``discard`` or ``release``."""

    session_path: Path
    marker_path: Path
    pid: int
    started: str | None
    saved: str  # when the autosave was last written
    host: str | None = None
    _lock: IO[bytes] | None = field(default=None, repr=False, compare=False)

    def load(self) -> Session:
        return load_session(self.session_path)

    def discard(self) -> None:
        """Forget this crashed run (after restoring it, or when the user declines)."""
        self.session_path.unlink(missing_ok=True)
        self.marker_path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Let go of the claim without deleting anything: a later start offers it again."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def to_dict(self) -> dict[str, Any]:
        return {"session_path": str(self.session_path), "pid": self.pid, "started": self.started,
                "saved": self.saved, "host": self.host}


class Autosave:
    """One app run's autosave: ``begin()`` at start, ``save(session)`` after changes, ``end()`` on clean exit."""

    def __init__(self, folder: str | os.PathLike | None = None, pid: int | None = None, host: str | None = None):
        self.folder = Path(folder) if folder is not None else data_dir() / "autosave"
        self.pid = os.getpid() if pid is None else pid
        self.host = host or socket.gethostname()
        self.instance = f"{_name_part(self.host)}-{self.pid}-{secrets.token_hex(4)}"
        self._last: str | None = None
        self._lock: IO[bytes] | None = None
        self._beating = threading.Lock()
        self.saves = 0

    @property
    def path(self) -> Path:
        return self.folder / f"session-{self.instance}.llab"

    @property
    def marker(self) -> Path:
        return self.folder / f"{_RUNNING}{self.instance}.json"

    def begin(self) -> list[Recovery]:
        """Hold this run's marker, then return the crashed runs that left an autosave (newest first)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._hold_marker()
        return self.find_crashed()

    def _hold_marker(self) -> None:
        # Locked before it gets its visible name: a marker anyone can see is already held.
        fresh = self.folder / f".{_RUNNING}{self.instance}.new"
        fh = open(fresh, "w+b")
        try:
            try_lock(fh.fileno())
            info = {"lock": LOCK_VERSION, "pid": self.pid, "host": self.host, "instance": self.instance,
                    "start_ticks": process_start_ticks(self.pid),
                    "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
            fh.write(json.dumps(info).encode())
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(fresh, self.marker)
        except BaseException:
            fh.close()
            fresh.unlink(missing_ok=True)
            raise
        self._lock = fh

    def heartbeat(self) -> None:
        """Say this run is alive (for apps on other hosts of a shared home); called every ``HEARTBEAT_S``."""
        with self._beating:  # the UI's timer thread and the autosave writer both beat
            if self._lock is None:
                return
            try:
                os.utime(self.marker)
            except FileNotFoundError:  # removed by someone who could not see our lock: put it back
                self._lock.close()
                self._lock = None
                self._hold_marker()

    def find_crashed(self) -> list[Recovery]:
        """Crashed runs with an autosave, each claimed (its lock held) by this run until discarded or released."""
        out: list[Recovery] = []
        for m in sorted(self.folder.glob(f"{_RUNNING}*.json")) + sorted(self.folder.glob(f"{_CRASHED}*.json")):
            if m != self.marker:
                rec = self._claim(m)
                if rec is not None:
                    out.append(rec)
        for fresh in self.folder.glob(f".{_RUNNING}*.new"):  # a run killed while it was starting
            self._claim(fresh, starting=True)
        return sorted(out, key=lambda r: r.saved, reverse=True)

    def _claim(self, marker: Path, starting: bool = False) -> Recovery | None:
        try:
            if not stat.S_ISREG(marker.lstat().st_mode):
                return None  # a link, a pipe (opening it would hang) or a folder: never one of ours
            fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            fh = os.fdopen(fd, "rb")
        except OSError:
            return None
        keep = False
        try:
            if not try_lock(fh.fileno()):
                return None  # alive, or being offered by another app right now
            try:
                if os.stat(marker).st_ino != os.fstat(fh.fileno()).st_ino:
                    return None  # removed and made anew meanwhile
            except FileNotFoundError:
                return None
            if starting:  # a run killed between creating its marker and naming it (a live one holds it)
                if time.time() - os.fstat(fh.fileno()).st_mtime > HEARTBEAT_S:
                    marker.unlink(missing_ok=True)
                return None
            info = _read_marker(fh)
            if not isinstance(info.get("pid"), int):
                log.warning("ignoring %s: not an autosave marker latentlab can read", marker)
                return None
            if not self._dead(info, marker, fh):
                return None
            prefix = _RUNNING if marker.name.startswith(_RUNNING) else _CRASHED
            sess = self.folder / f"session-{marker.name[len(prefix):-len('.json')]}.llab"
            if not sess.is_file():
                marker.unlink(missing_ok=True)  # crashed before its first autosave: nothing to restore
                return None
            saved = _dt.datetime.fromtimestamp(sess.stat().st_mtime, _dt.UTC).isoformat(timespec="seconds")
            keep = True
            return Recovery(sess, marker, info["pid"], info.get("started"), saved,
                            info.get("host") if isinstance(info.get("host"), str) else None, fh)
        finally:
            if not keep:
                fh.close()

    def _dead(self, info: dict[str, Any], marker: Path, fh: IO[bytes]) -> bool:
        """The lock was free: is its owner really gone?"""
        host = info.get("host")
        if info.get("lock") != LOCK_VERSION:  # an older latentlab's marker: only its PID tells
            if marker.name.startswith(_CRASHED) or (isinstance(host, str) and host != self.host):
                return True
            return not _same_process_running(info)
        if host == self.host:  # flock is exact on one machine (where there is flock at all)
            return partfiles.fcntl is not None or not _same_process_running(info)
        return time.time() - os.fstat(fh.fileno()).st_mtime > FOREIGN_STALE_S

    def save(self, session: Session, force: bool = False) -> bool:
        """Write the autosave atomically if the session changed since the last save; True if written."""
        text = session.dumps(None)
        if not force and text == self._last:
            return False
        atomic_write_bytes(self.path, text.encode("utf-8"))
        self._last = text
        self.saves += 1
        self.heartbeat()
        return True

    def end(self) -> None:
        """Clean exit: remove this run's autosave and marker, and let go of its lock."""
        self.path.unlink(missing_ok=True)
        self.marker.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._last = None


__all__ = ["AUTOSAVE_DELAY_S", "FOREIGN_STALE_S", "HEARTBEAT_S", "Autosave", "Recovery", "SessionError", "pid_alive",
           "process_start_ticks"]
