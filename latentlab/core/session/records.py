"""The .llab session file: what was open, where every slider stood, bookmarks, directions, flows, layout.

A session is versioned JSON. Files are referenced by path *and* SHA-256 (and size), so reopening can tell a
file that moved (missing: ask for it) from one that changed (a different file now sits there: say so) and
find files that travelled with the session (a path relative to the session file is kept as well).
Latents are stored as JSON numbers, which round-trip float32 values exactly.

Qt-free: the UI stores its ``QMainWindow.saveState()`` as an opaque base64 string in ``layout``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from latentlab import __version__
from latentlab.core.errors import BadInput
from latentlab.core.input_files import read_bytes
from latentlab.core.limits import MAX_VIEW_LATENT
from latentlab.core.paths import atomic_write_bytes
from latentlab.core.safe_json import describe, loads_bounded

SESSION_FORMAT = "latentlab-session"
SESSION_VERSION = 1
SUFFIX = ".llab"
MAX_COMPARE = 4
STATUSES = ("ok", "moved", "changed")
MAX_SESSION_BYTES = 64 * 1024 * 1024  # thousands of bookmarks of 512-dimensional latents fit many times over
MAX_TEXT = 4096  # names, paths, notes
MAX_ITEMS = 100_000  # checkpoints, bookmarks, directions or flows in one session
MAX_LAYOUT_BYTES = 1024 * 1024  # Qt's saved window state and geometry are a few kilobytes


class SessionError(BadInput):
    """A session file could not be read or is invalid; the message says where and why."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# --- validation helpers -------------------------------------------------------------------------------------------

def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise SessionError(f"{where}: missing {key!r}")
    return d[key]


def _obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise SessionError(f"{where}: expected an object, got {describe(v)}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise SessionError(f"{where}: expected a list, got {describe(v)}")
    if len(v) > MAX_ITEMS:
        raise SessionError(f"{where}: {len(v)} entries; a session holds at most {MAX_ITEMS}")
    return v


@overload
def _str(v: Any, where: str, optional: Literal[False] = False, limit: int = MAX_TEXT) -> str: ...
@overload
def _str(v: Any, where: str, optional: bool, limit: int = MAX_TEXT) -> str | None: ...
def _str(v: Any, where: str, optional: bool = False, limit: int = MAX_TEXT) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise SessionError(f"{where}: expected a string, got {describe(v)}")
    if len(v) > limit:
        raise SessionError(f"{where}: {len(v)} characters; at most {limit} are accepted")
    return v


@overload
def _vector(v: Any, where: str, optional: Literal[False] = False) -> np.ndarray: ...
@overload
def _vector(v: Any, where: str, optional: bool) -> np.ndarray | None: ...
def _vector(v: Any, where: str, optional: bool = False) -> np.ndarray | None:
    if v is None and optional:
        return None
    if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise SessionError(f"{where}: expected a non-empty list of numbers")
    if len(v) > MAX_VIEW_LATENT:
        raise SessionError(f"{where}: {len(v)} values; a latent has at most {MAX_VIEW_LATENT}")
    arr = np.asarray(v, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise SessionError(f"{where}: contains NaN or infinite values")
    return arr


def _vec_out(v: np.ndarray | None, where: str) -> list[float] | None:
    if v is None:
        return None
    arr = np.asarray(v, dtype=np.float32).reshape(-1)
    if not np.isfinite(arr).all():
        raise SessionError(f"{where}: cannot save NaN or infinite values")
    return [float(x) for x in arr]


def _eq_vec(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32)))


# --- the records --------------------------------------------------------------------------------------------------

@dataclass
class FileRef:
    """A file the session depends on: where it was, what its bytes hashed to."""

    path: str
    sha256: str
    size: int | None = None
    relative: str | None = None  # from the session file's folder, written at save time

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileRef:
        """Reference an existing file (hashes it)."""
        from latentlab.core.checkpoint import file_sha256

        p = Path(path).resolve()
        return cls(str(p), file_sha256(p), p.stat().st_size)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "relative": self.relative}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> FileRef:
        d = _obj(d, where)
        sha = _str(_req(d, "sha256", where), f"{where}.sha256")
        if not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise SessionError(f"{where}.sha256: not a SHA-256 hex digest")
        size = d.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise SessionError(f"{where}.size: expected a non-negative integer")
        return cls(_str(_req(d, "path", where), f"{where}.path"), sha, size,
                   _str(d.get("relative"), f"{where}.relative", optional=True))


@dataclass
class CheckpointRef:
    id: str  # stable key that bookmarks, directions, flows and the compare set refer to
    file: FileRef
    latent: np.ndarray | None = None  # the sliders' current position
    name: str | None = None
    arch: str | None = None  # for plain state_dict files, which do not say what they are
    view: dict[str, Any] = field(default_factory=dict)  # free-form per-checkpoint UI state (selected dims, ...)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CheckpointRef) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file.to_dict(), "latent": _vec_out(self.latent, f"checkpoint {self.id}"),
                "name": self.name, "arch": self.arch, "view": self.view}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> CheckpointRef:
        d = _obj(d, where)
        return cls(_str(_req(d, "id", where), f"{where}.id"), FileRef.from_dict(_req(d, "file", where), f"{where}.file"),
                   _vector(d.get("latent"), f"{where}.latent", optional=True),
                   _str(d.get("name"), f"{where}.name", optional=True), _str(d.get("arch"), f"{where}.arch", optional=True),
                   _obj(d.get("view", {}), f"{where}.view"))


@dataclass
class Bookmark:
    name: str
    latent: np.ndarray
    checkpoint: str | None = None
    note: str = ""
    space: str | None = None  # a style generator's latent space the latent lies in ("z", "w", "w+")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bookmark) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "latent": _vec_out(self.latent, f"bookmark {self.name!r}"),
             "checkpoint": self.checkpoint, "note": self.note}
        if self.space is not None:
            d["space"] = self.space
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Bookmark:
        d = _obj(d, where)
        space = _str(d.get("space"), f"{where}.space", optional=True, limit=8)
        return cls(_str(_req(d, "name", where), f"{where}.name"), _vector(_req(d, "latent", where), f"{where}.latent"),
                   _str(d.get("checkpoint"), f"{where}.checkpoint", optional=True),
                   _str(d.get("note", ""), f"{where}.note"), space)


@dataclass
class DirectionRef:
    """A direction: in a file (path + SHA, ``key`` naming it inside) or stored inline as a vector."""

    name: str
    checkpoint: str | None = None
    file: FileRef | None = None
    key: str | None = None
    vector: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.file is None) == (self.vector is None):
            raise SessionError(f"direction {self.name!r}: give either a file or an inline vector")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DirectionRef) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "checkpoint": self.checkpoint, "file": self.file.to_dict() if self.file else None,
                "key": self.key, "vector": _vec_out(self.vector, f"direction {self.name!r}")}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> DirectionRef:
        d = _obj(d, where)
        f = d.get("file")
        return cls(_str(_req(d, "name", where), f"{where}.name"),
                   _str(d.get("checkpoint"), f"{where}.checkpoint", optional=True),
                   FileRef.from_dict(f, f"{where}.file") if f is not None else None,
                   _str(d.get("key"), f"{where}.key", optional=True),
                   _vector(d.get("vector"), f"{where}.vector", optional=True))


@dataclass
class FlowRef:
    name: str
    file: FileRef
    checkpoint: str | None = None
    key: str | None = None  # e.g. which potential inside the file

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file.to_dict(), "checkpoint": self.checkpoint, "key": self.key}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> FlowRef:
        d = _obj(d, where)
        return cls(_str(_req(d, "name", where), f"{where}.name"), FileRef.from_dict(_req(d, "file", where), f"{where}.file"),
                   _str(d.get("checkpoint"), f"{where}.checkpoint", optional=True),
                   _str(d.get("key"), f"{where}.key", optional=True))


@dataclass
class Layout:
    window_state: str | None = None  # base64 of QMainWindow.saveState(), opaque here
    geometry: str | None = None  # base64 of saveGeometry()
    view: dict[str, Any] = field(default_factory=dict)  # anything else the UI wants back (selected dims, tabs, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"window_state": self.window_state, "geometry": self.geometry, "view": self.view}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Layout:
        d = _obj(d, where)
        for key in ("window_state", "geometry"):
            v = d.get(key)
            if v is not None:
                import base64
                import binascii

                text = _str(v, f"{where}.{key}", limit=MAX_LAYOUT_BYTES)
                try:
                    base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    raise SessionError(f"{where}.{key}: not base64") from None
        return cls(d.get("window_state"), d.get("geometry"), _obj(d.get("view", {}), f"{where}.view"))


@dataclass
class Session:
    checkpoints: list[CheckpointRef] = field(default_factory=list)
    active: str | None = None
    bookmarks: list[Bookmark] = field(default_factory=list)
    directions: list[DirectionRef] = field(default_factory=list)
    flows: list[FlowRef] = field(default_factory=list)
    compare: list[str] = field(default_factory=list)  # checkpoint ids shown side by side (2-4)
    layout: Layout = field(default_factory=Layout)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, for state no field covers yet
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)
    app_version: str = __version__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and self.to_dict() == other.to_dict()

    # --- convenience for the UI ---------------------------------------------------------------------------
    def checkpoint(self, id: str) -> CheckpointRef:
        for c in self.checkpoints:
            if c.id == id:
                return c
        raise KeyError(f"no checkpoint {id!r} in this session")

    def add_checkpoint(self, path: str | os.PathLike, latent: np.ndarray | None = None, name: str | None = None,
                       arch: str | None = None) -> CheckpointRef:
        """Reference a checkpoint file (hashed now) under a fresh id."""
        taken = {c.id for c in self.checkpoints}
        i = len(self.checkpoints)
        while f"ckpt{i}" in taken:
            i += 1
        ref = CheckpointRef(f"ckpt{i}", FileRef.of(path), None if latent is None else np.asarray(latent, np.float32),
                            name, arch)
        self.checkpoints.append(ref)
        return ref

    def file_refs(self) -> list[tuple[str, str, FileRef]]:
        """(kind, key, ref) for every referenced file: checkpoints by id, directions and flows by name."""
        out = [("checkpoint", c.id, c.file) for c in self.checkpoints]
        out += [("direction", d.name, d.file) for d in self.directions if d.file is not None]
        out += [("flow", f.name, f.file) for f in self.flows]
        return out

    # --- (de)serialisation -----------------------------------------------------------------------------------
    def validate(self) -> None:
        ids = [c.id for c in self.checkpoints]
        if len(set(ids)) != len(ids):
            raise SessionError("checkpoints: duplicate ids")
        known = set(ids)

        def ref(v: str | None, where: str) -> None:
            if v is not None and v not in known:
                raise SessionError(f"{where}: refers to checkpoint {v!r}, which the session does not list")

        ref(self.active, "active")
        for i, b in enumerate(self.bookmarks):
            ref(b.checkpoint, f"bookmarks[{i}].checkpoint")
        for i, d in enumerate(self.directions):
            ref(d.checkpoint, f"directions[{i}].checkpoint")
        for i, f in enumerate(self.flows):
            ref(f.checkpoint, f"flows[{i}].checkpoint")
        for i, c in enumerate(self.compare):
            ref(c, f"compare[{i}]")
        if self.compare and not 2 <= len(self.compare) <= MAX_COMPARE:
            raise SessionError(f"compare: lists {len(self.compare)} checkpoints; compare takes 2 to {MAX_COMPARE}")
        if len(set(self.compare)) != len(self.compare):
            raise SessionError("compare: a checkpoint is listed twice")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SESSION_FORMAT, "version": SESSION_VERSION, "app_version": self.app_version,
            "created": self.created, "modified": self.modified,
            "checkpoints": [c.to_dict() for c in self.checkpoints], "active": self.active,
            "bookmarks": [b.to_dict() for b in self.bookmarks], "directions": [d.to_dict() for d in self.directions],
            "flows": [f.to_dict() for f in self.flows], "compare": list(self.compare),
            "layout": self.layout.to_dict(), "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Session:
        d = _obj(d, "session")
        if d.get("format") != SESSION_FORMAT:
            raise SessionError("not a latentlab session (its 'format' is not 'latentlab-session')")
        version = d.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise SessionError("session: 'version' is missing or not an integer")
        if version > SESSION_VERSION:
            raise SessionError(f"written by a newer latentlab (session version {version}); this one reads up to "
                               f"version {SESSION_VERSION}: update latentlab to open it")
        if version < SESSION_VERSION:
            d = _migrate(d, version)

        def items(key: str, parse: Any) -> list[Any]:
            return [parse(x, f"{key}[{i}]") for i, x in enumerate(_list(d.get(key, []), key))]

        try:
            session = cls(
                checkpoints=items("checkpoints", CheckpointRef.from_dict),
                active=_str(d.get("active"), "active", optional=True),
                bookmarks=items("bookmarks", Bookmark.from_dict),
                directions=items("directions", DirectionRef.from_dict),
                flows=items("flows", FlowRef.from_dict),
                compare=[_str(x, f"compare[{i}]") for i, x in enumerate(_list(d.get("compare", []), "compare"))],
                layout=Layout.from_dict(d.get("layout", {}), "layout"),
                extra=_obj(d.get("extra", {}), "extra"),
                created=_str(d.get("created", _now()), "created"),
                modified=_str(d.get("modified", _now()), "modified"),
                app_version=_str(d.get("app_version", "unknown"), "app_version"),
            )
        except SessionError:
            raise
        except (TypeError, ValueError) as exc:
            raise SessionError(f"session: {exc}") from None
        session.validate()
        return session

    def dumps(self, base: Path | None = None) -> str:
        """JSON text; with ``base`` (the session file's folder) each file also gets a path relative to it."""
        self.validate()
        if base is not None:
            for _, _, r in self.file_refs():
                try:
                    r.relative = os.path.relpath(r.path, base)
                except ValueError:  # another drive on Windows: no relative path exists
                    r.relative = None
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def loads(cls, text: str | bytes) -> Session:
        """Parse and validate session JSON; anything wrong, however deep or large, is one ``SessionError``."""
        data = loads_bounded(text, "the session", max_bytes=MAX_SESSION_BYTES, error=SessionError)
        return cls.from_dict(data)


# Old format versions -> current. Version 1 is the first; a future version 2 adds a step here.
MIGRATIONS: dict[int, Any] = {}


def _migrate(d: dict[str, Any], version: int) -> dict[str, Any]:
    while version < SESSION_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SessionError(f"session version {version} is not supported (this latentlab reads version "
                               f"{SESSION_VERSION})")
        d, version = step(d), version + 1
    return d


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write the session atomically (stamping ``modified``); the old file stays intact if anything fails."""
    p = Path(path)
    session.modified = _now()
    text = session.dumps(p.resolve().parent)
    atomic_write_bytes(p, text.encode("utf-8"))
    return p


def load_session(path: str | os.PathLike) -> Session:
    """Read and validate a .llab file; errors name the file and what is wrong."""
    p = Path(path)
    raw = read_bytes(p, "a session file", max_bytes=MAX_SESSION_BYTES, error=SessionError)
    try:
        return Session.loads(raw)
    except SessionError as exc:
        raise SessionError(f"{p}: {exc}") from None
