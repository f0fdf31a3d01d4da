"""Checking the files a session refers to: ``ok``, ``moved`` (ask the user for it) or ``changed``; relinking."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.core.session.records import FileRef, Session


@dataclass
class FileStatus:
    """What became of one referenced file: ``ok``, ``moved`` (not found) or ``changed`` (different bytes)."""

    kind: str  # checkpoint | direction | flow
    key: str
    ref: FileRef
    status: str
    found: Path | None = None
    actual_sha256: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "status": self.status, "path": self.ref.path,
                "found": str(self.found) if self.found else None, "sha256": self.ref.sha256,
                "actual_sha256": self.actual_sha256, "message": self.message}


def _candidates(ref: FileRef, base: Path | None) -> list[Path]:
    out = [Path(ref.path)]
    if base is not None and ref.relative:
        rel = (base / ref.relative).resolve()
        if rel != out[0]:
            out.append(rel)
    return out


def _check(kind: str, key: str, ref: FileRef, base: Path | None) -> FileStatus:
    from latentlab.core.checkpoint import file_sha256

    what = f"{kind} {key!r}"
    changed: tuple[Path, str] | None = None
    for cand in _candidates(ref, base):
        if not cand.is_file():
            continue
        sha = file_sha256(cand)
        if sha == ref.sha256:
            if str(cand) != ref.path:
                # Travelled with the session file (a copied project folder): follow it.
                old = ref.path
                ref.path = str(cand)
                return FileStatus(kind, key, ref, "ok", cand, sha, f"{what}: found at {cand} (was {old})")
            return FileStatus(kind, key, ref, "ok", cand, sha, "")
        changed = changed or (cand, sha)
    if changed is not None:
        return FileStatus(kind, key, ref, "changed", changed[0], changed[1],
                          f"{what}: {changed[0]} is not the file this session used (its contents changed)")
    return FileStatus(kind, key, ref, "moved", None, None, f"{what}: {ref.path} was moved or deleted")


def check_files(session: Session, session_path: str | os.PathLike | None = None) -> list[FileStatus]:
    """Check every referenced file; paths of files found beside the session file are updated in place."""
    base = Path(session_path).resolve().parent if session_path is not None else None
    return [_check(kind, key, ref, base) for kind, key, ref in session.file_refs()]


def _find_ref(session: Session, kind: str, key: str) -> FileRef:
    for k, name, ref in session.file_refs():
        if k == kind and name == key:
            return ref
    raise KeyError(f"no {kind} {key!r} with a file in this session")


def relink(session: Session, kind: str, key: str, new_path: str | os.PathLike,
           accept_changed: bool = False) -> FileStatus:
    """Point a reference at ``new_path``. The same bytes: done. Different bytes: status ``changed`` and nothing
    updated, unless ``accept_changed`` (the user chose to use that file anyway; its SHA becomes the reference).
    """
    from latentlab.core.checkpoint import file_sha256

    ref = _find_ref(session, kind, key)
    p = Path(new_path).resolve()
    if not p.is_file():
        return FileStatus(kind, key, ref, "moved", None, None, f"{p}: no such file")
    sha = file_sha256(p)
    if sha != ref.sha256 and not accept_changed:
        return FileStatus(kind, key, ref, "changed", p, sha,
                          f"{p} is a different file from the one this session used (SHA-256 {sha[:12]}..., "
                          f"expected {ref.sha256[:12]}...)")
    msg = "" if sha == ref.sha256 else f"now using {p}, a different file from the original"
    ref.path, ref.sha256, ref.size, ref.relative = str(p), sha, p.stat().st_size, None
    return FileStatus(kind, key, ref, "ok", p, sha, msg)


def search_folder(session: Session, folder: str | os.PathLike[str], statuses: list[FileStatus] | None = None,
                  max_files: int = 20000) -> list[FileStatus]:
    """Look for moved files (same size and SHA-256) under ``folder`` and relink those found."""
    from latentlab.core.checkpoint import file_sha256

    wanted = [s for s in (statuses or check_files(session)) if s.status == "moved"]
    if not wanted:
        return []
    by_size: dict[int | None, list[FileStatus]] = {}
    for s in wanted:
        by_size.setdefault(s.ref.size, []).append(s)
    found: list[FileStatus] = []
    seen = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            seen += 1
            if seen > max_files or not by_size:
                return found
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # a named pipe or a device would block (or never end) the hashing
            size = st.st_size
            pending = by_size.get(size, []) + by_size.get(None, [])
            if not pending:
                continue
            sha = file_sha256(p)
            for s in list(pending):
                if s.ref.sha256 == sha:
                    found.append(relink(session, s.kind, s.key, p))
                    by_size[s.ref.size].remove(s)
                    if not by_size[s.ref.size]:
                        del by_size[s.ref.size]
    return found
