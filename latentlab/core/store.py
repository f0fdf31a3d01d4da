"""A results store in SQLite: computed figures keyed by what they were computed from, so asking again is instant.

Generic on purpose: a row is (kind, subject, dataset, name, params, seed) -> a JSON payload. Metrics use
kind "metric", subject = the checkpoint's SHA-256; direction or flow evaluations and sessions can use their
own kinds. The database runs in WAL mode (readers never block the writer, nor each other), every write is
one transaction (a crash leaves the old row or the new one), and each call opens its own connection, so
worker threads and several processes can share one store.
"""

from __future__ import annotations

import json
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


class ResultStore:
    """SQLite-backed results; ``path`` defaults to results.sqlite3 in the user's data directory."""

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0):
        self.path = Path(path) if path is not None else data_dir() / "results.sqlite3"
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path}: written by a newer latentlab (schema {version})")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: not a usable results store ({exc})") from exc

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

    def get(self, kind: str, subject: str, dataset: str, name: str, params: dict[str, Any] | None = None,
            seed: int = 0) -> dict[str, Any] | None:
        """The payload stored under this exact key, or None."""
        key = self._key(kind, subject, dataset, name, params or {}, seed)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT payload FROM results WHERE kind=? AND subject=? AND dataset=? AND name=? AND params=? AND seed=?",
                key).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, subject: str, dataset: str, name: str, params: dict[str, Any] | None, seed: int,
            payload: dict[str, Any]) -> None:
        """Store (or replace) one result, atomically."""
        key = self._key(kind, subject, dataset, name, params or {}, seed)
        text = json.dumps(payload, default=_plain, allow_nan=True)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (*key, time.time(), text))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def find(self, kind: str | None = None, subject: str | None = None, dataset: str | None = None,
             name: str | None = None) -> list[StoredResult]:
        """Every stored result matching the given fields, newest first."""
        where, args = [], []
        for col, val in (("kind", kind), ("subject", subject), ("dataset", dataset), ("name", name)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT kind, subject, dataset, name, params, seed, created, payload FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY created DESC", args).fetchall()
        return [StoredResult(r[0], r[1], r[2], r[3], json.loads(r[4]), int(r[5]), float(r[6]), json.loads(r[7]))
                for r in rows]

    def delete(self, kind: str, subject: str | None = None, name: str | None = None) -> int:
        """Forget results of ``kind`` (optionally only one subject / name); returns how many rows went."""
        where, args = ["kind=?"], [kind]
        if subject is not None:
            where.append("subject=?")
            args.append(subject)
        if name is not None:
            where.append("name=?")
            args.append(name)
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM results WHERE " + " AND ".join(where), args)
            return int(cur.rowcount)

