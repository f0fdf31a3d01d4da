"""A results store in SQLite: computed figures keyed by what they were computed from, so asking again is instant.

Generic on purpose: a row is (kind, subject, dataset, name, params, seed) -> a JSON payload. Metrics use
kind "metric", subject = the checkpoint's SHA-256; direction or flow evaluations and sessions can use their
own kinds. The database runs in WAL mode (readers never block the writer, nor each other), every write is
one transaction (a crash leaves the old row or the new one), and each call opens its own connection, so
worker threads and several processes can share one store. A result computed while the store cannot be
written is never dropped: it waits in a pending journal (``store_journal``) until the store is free again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import StoreUnavailable
from latentlab.core.paths import data_dir
from latentlab.core.store_journal import Pending, PendingJournal

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    dataset TEXT NOT NULL,
    name    TEXT NOT NULL,
    params  TEXT NOT NULL,
    seed    INTEGER NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (kind, subject, dataset, name, params, seed)
);
CREATE INDEX IF NOT EXISTS results_by_subject ON results (kind, subject);
"""


class StoreError(StoreUnavailable, ValueError):
    """The store file cannot be used (corrupt, not a database, or from a newer latentlab)."""


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in a result key or payload")


def _payload(text: Any) -> Any:
    """A stored JSON value read back within bounds (the database is a file someone may have edited)."""
    from latentlab.core.safe_json import loads_bounded

    return loads_bounded(text, "a stored result", max_depth=64, max_bytes=256 * 1024 * 1024,
                         error=lambda reason: StoreError(f"the results store holds a broken row: {reason}"))


def canonical_json(obj: Any) -> str:
    """One spelling per value: sorted keys, no spaces, numpy scalars as Python numbers, NaN refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=False)


@dataclass
class StoredResult:
    kind: str
    subject: str
    dataset: str
    name: str
    params: dict[str, Any]
    seed: int
    created: float
    payload: dict[str, Any]


_UNAVAILABLE = {  # SQLite primary result codes that mean "not now / not here", not "broken"
    3: "permission denied", 5: "locked by another program", 6: "locked", 8: "read-only", 10: "a disk I/O error",
    13: "the disk is full", 14: "cannot be opened",
}


def _why(exc: sqlite3.Error) -> str | None:
    """Why the store cannot be used now (locked, read-only, ...), or None when the file itself is broken."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # Python before 3.11 does not say: treat an operational error as passing
        return "unavailable" if isinstance(exc, sqlite3.OperationalError) else None
    return _UNAVAILABLE.get(code & 0xFF)


class ResultStore:
    """SQLite-backed results; ``path`` defaults to results.sqlite3 in the user's data directory.

    When the database cannot be written (another program holds a write transaction, it is read-only, or its
    path is a folder), ``put`` keeps the result in a pending journal beside it (``store_journal``) and returns
    False; ``get`` and ``find`` see pending results too, and the next successful open or write moves them into
    the database. ``problem`` says what was wrong the last time. A file that is not a results store at all
    raises ``StoreError``.
    """

    def __init__(self, path: str | Path | None = None, timeout: float = 5.0):
        self.path = Path(path) if path is not None else data_dir() / "results.sqlite3"
        self.timeout = timeout
        self.problem: StoreUnavailable | None = None
        self.last_pending: Path | None = None  # where the last result that could not go in was kept
        self.journal = PendingJournal(self.path, data_dir() / "pending")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported by the first use
        if self._ensure_schema():
            self.flush_pending()

    def _unavailable(self, exc: BaseException, why: str) -> StoreUnavailable:
        if self.path.is_dir():
            text = f"{self.path}: the results store path is a folder, not a database file"
        elif self.path.exists() and not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            text = f"{self.path}: the results store is read-only"
        elif why == "cannot be opened":
            text = f"{self.path}: the results store cannot be opened"
        else:
            text = f"{self.path}: the results store is {why}"
        self.problem = StoreUnavailable(text)
        log.info("%s (%s)", text, exc)  # the caller tells the user, with what became of the result
        return self.problem

    def _ensure_schema(self) -> bool:
        """Create or check the tables; False (and ``problem`` set) when the store cannot be used now."""
        try:
            with self._connect() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path}: written by a newer latentlab (schema {version})")
                # Only write what is missing, so that a read-only store that is set up can still be read.
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if not {"results", "results_by_subject"} <= tables:
                    conn.executescript(_SCHEMA)
                if version != SCHEMA_VERSION:
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            why = _why(exc)
            if why is None:
                raise StoreError(f"{self.path}: not a usable results store ({exc})") from exc
            self._unavailable(exc, why)
            return False
        return True

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _key(kind: str, subject: str, dataset: str, name: str, params: dict[str, Any], seed: int) -> tuple:
        return (str(kind), str(subject), str(dataset), str(name), canonical_json(params or {}), int(seed))

    def _pending(self, key: tuple | None = None) -> list[Pending]:
        if not self.journal.exists():
            return []
        entries = self.journal.entries()
        return entries if key is None else [e for e in entries if e.key == key]

    def get(self, kind: str, subject: str, dataset: str, name: str, params: dict[str, Any] | None = None,
            seed: int = 0) -> dict[str, Any] | None:
        """The payload stored under this exact key (or kept pending), or None."""
        key = self._key(kind, subject, dataset, name, params or {}, seed)
        row = None
        try:
            with self._connect() as conn:
                row = conn.execute(
                    "SELECT payload, created FROM results WHERE kind=? AND subject=? AND dataset=? AND name=? "
                    "AND params=? AND seed=?", key).fetchone()
        except sqlite3.Error as exc:
            self._unavailable(exc, _why(exc) or "unreadable")
        pending = self._pending(key)
        if pending and (row is None or pending[0].created > row[1]):
            return _payload(pending[0].payload)
        return None if row is None else _payload(row[0])

    def put(self, kind: str, subject: str, dataset: str, name: str, params: dict[str, Any] | None, seed: int,
            payload: dict[str, Any]) -> bool:
        """Store (or replace) one result, atomically: True. False: the store is unavailable and the result is
        kept in the pending journal (``problem`` says why); ``StoreUnavailable`` if it could not be kept either.
        """
        key = self._key(kind, subject, dataset, name, params or {}, seed)
        entry = Pending(key, time.time(), json.dumps(payload, default=_plain, allow_nan=True))
        try:
            if self.problem is not None and not self._ensure_schema():
                raise self.problem
            self._write([entry])
        except (sqlite3.Error, StoreUnavailable) as exc:
            if isinstance(exc, sqlite3.Error):
                problem = self._unavailable(exc, _why(exc) or "unusable")
            else:
                self.problem = problem = exc
            try:
                self.last_pending = self.journal.append(entry)
            except OSError as err:
                raise StoreUnavailable(f"{problem.message}; the result could not be kept for later either "
                                       f"({err})", "it was not saved") from None
            return False
        self.problem = None
        self.flush_pending()  # the store is free again
        return True

    def _write(self, entries: list[Pending]) -> None:
        """One transaction; a pending result never replaces a newer one stored meanwhile."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(kind, subject, dataset, name, params, seed) DO UPDATE SET created=excluded.created, "
                    "payload=excluded.payload WHERE excluded.created >= results.created",
                    [(*e.key, e.created, e.payload) for e in entries])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def flush_pending(self) -> int:
        """Move pending results into the database; how many went (0 when the store is still unavailable)."""
        if not self.journal.exists():
            return 0
        try:
            moved = self.journal.drain(self._write)
        except sqlite3.Error as exc:
            self._unavailable(exc, _why(exc) or "unusable")
            return 0
        if moved:
            log.info("%s: saved %d result(s) kept while it was unavailable", self.path, moved)
        return moved

    def find(self, kind: str | None = None, subject: str | None = None, dataset: str | None = None,
             name: str | None = None) -> list[StoredResult]:
        """Every stored (or pending) result matching the given fields, newest first."""
        where, args = [], []
        for col, val in (("kind", kind), ("subject", subject), ("dataset", dataset), ("name", name)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT kind, subject, dataset, name, params, seed, created, payload FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows: dict[tuple, tuple] = {}
        try:
            with self._connect() as conn:
                for r in conn.execute(sql, args).fetchall():
                    rows[tuple(r[:6])] = (float(r[6]), r[7])
        except sqlite3.Error as exc:
            self._unavailable(exc, _why(exc) or "unreadable")
        wanted = (kind, subject, dataset, name)
        for e in self._pending():
            if all(w is None or w == k for w, k in zip(wanted, e.key[:4], strict=True)):
                if e.key not in rows or rows[e.key][0] < e.created:
                    rows[e.key] = (e.created, e.payload)
        out = [StoredResult(k[0], k[1], k[2], k[3], _payload(k[4]), int(k[5]), c, _payload(p))
               for k, (c, p) in rows.items()]
        return sorted(out, key=lambda r: r.created, reverse=True)

    def delete(self, kind: str, subject: str | None = None, name: str | None = None) -> int:
        """Forget results of ``kind`` (optionally only one subject / name); returns how many rows went.

        ``StoreUnavailable`` when the store cannot be written now (nothing is deleted then).
        """
        where, args = ["kind=?"], [kind]
        if subject is not None:
            where.append("subject=?")
            args.append(subject)
        if name is not None:
            where.append("name=?")
            args.append(name)
        try:
            with self._connect() as conn:
                cur = conn.execute("DELETE FROM results WHERE " + " AND ".join(where), args)
                count = int(cur.rowcount)
        except sqlite3.Error as exc:
            raise self._unavailable(exc, _why(exc) or "unusable") from None
        self.journal.drop(lambda e: not (e.key[0] == kind and subject in (None, e.key[1])
                                         and name in (None, e.key[3])))
        return count
