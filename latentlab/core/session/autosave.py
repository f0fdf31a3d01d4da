"""Autosave and crash recovery for sessions (Qt-free: the UI drives it from a QTimer).

Each running app owns two files in ``data_dir()/autosave``: a marker ``running-<pid>.json`` written at start
and an autosave ``session-<pid>.llab`` rewritten (atomically) after changes. A clean exit removes both. At the
next start, a marker whose process is gone means that run crashed: its autosave is offered for restore.
Markers record the process start time as well as the PID, so a recycled PID is not mistaken for the old run;
several app instances can run side by side, each with its own pair of files.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.core.paths import atomic_write_bytes, data_dir
from latentlab.core.session.records import Session, SessionError, load_session

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_S = 3.0  # how long after a change the UI should autosave (its QTimer's single-shot delay)
_RUNNING = "running-"
_CRASHED = "crashed-"


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a recycled PID apart; else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        # The command name (field 2) may contain spaces and parentheses: split after its closing one.
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (on this machine)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
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


@dataclass
class Recovery:
    """An autosave left by a run that did not exit cleanly."""

    session_path: Path
    marker_path: Path
    pid: int
    started: str | None
    saved: str  # when the autosave was last written

    def load(self) -> Session:
        return load_session(self.session_path)

    def discard(self) -> None:
        """Forget this crashed run (after restoring it, or when the user declines)."""
        self.session_path.unlink(missing_ok=True)
        self.marker_path.unlink(missing_ok=True)

    def to_dict(self) -> dict[str, Any]:
        return {"session_path": str(self.session_path), "pid": self.pid, "started": self.started,
                "saved": self.saved}


class Autosave:
    """One app run's autosave: ``begin()`` at start, ``save(session)`` after changes, ``end()`` on clean exit."""

    def __init__(self, folder: str | os.PathLike | None = None, pid: int | None = None):
        self.folder = Path(folder) if folder is not None else data_dir() / "autosave"
        self.pid = os.getpid() if pid is None else pid
        self._last: str | None = None
        self.saves = 0

    @property
    def path(self) -> Path:
        return self.folder / f"session-{self.pid}.llab"

    @property
    def marker(self) -> Path:
        return self.folder / f"{_RUNNING}{self.pid}.json"

    def _session_of(self, pid: int) -> Path:
        return self.folder / f"session-{pid}.llab"

    def begin(self) -> list[Recovery]:
        """Mark this run as running and return the crashed runs that left an autosave (newest first)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        found = self.find_crashed()
        marker = {"pid": self.pid, "host": socket.gethostname(), "start_ticks": process_start_ticks(self.pid),
                  "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        atomic_write_bytes(self.marker, json.dumps(marker).encode())
        return found

    def find_crashed(self) -> list[Recovery]:
        """Crashed runs with an autosave; a dead run's marker is renamed ``crashed-`` so only one app claims it."""
        out: list[Recovery] = []
        host = socket.gethostname()
        for m in sorted(self.folder.glob(f"{_RUNNING}*.json")) + sorted(self.folder.glob(f"{_CRASHED}*.json")):
            try:
                info = json.loads(m.read_text())
                pid = int(info["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable autosave marker %s", m)
                continue
            if pid == self.pid and m.name.startswith(_RUNNING):
                continue
            if info.get("host", host) != host:
                continue  # another machine's run (shared home folder): its liveness cannot be checked from here
            if m.name.startswith(_RUNNING):
                if _same_process_running(info):
                    continue
                claimed = self.folder / f"{_CRASHED}{pid}.json"
                try:
                    os.replace(m, claimed)
                except FileNotFoundError:
                    continue  # another app claimed it first
                m = claimed
            sess = self._session_of(pid)
            if not sess.is_file():
                m.unlink(missing_ok=True)  # crashed before its first autosave: nothing to restore
                continue
            saved = _dt.datetime.fromtimestamp(sess.stat().st_mtime, _dt.UTC).isoformat(timespec="seconds")
            out.append(Recovery(sess, m, pid, info.get("started"), saved))
        return sorted(out, key=lambda r: r.saved, reverse=True)

    def save(self, session: Session, force: bool = False) -> bool:
        """Write the autosave atomically if the session changed since the last save; True if written."""
        text = session.dumps(None)
        if not force and text == self._last:
            return False
        atomic_write_bytes(self.path, text.encode("utf-8"))
        self._last = text
        self.saves += 1
        return True

    def end(self) -> None:
        """Clean exit: remove this run's autosave and marker."""
        self.path.unlink(missing_ok=True)
        self.marker.unlink(missing_ok=True)
        self._last = None


__all__ = ["AUTOSAVE_DELAY_S", "Autosave", "Recovery", "SessionError", "pid_alive", "process_start_ticks"]
