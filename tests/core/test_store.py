"""The SQLite results store: keys, replacement, isolation, concurrent readers and writers, bad files."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from latentlab.core.store import ResultStore, StoreError, canonical_json


def test_put_get_by_full_key(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite3")
    store.put("metric", "abc", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 0, {"value": 0.5})
    assert store.get("metric", "abc", "dsprites", "mig", {"b": [1, 2], "n": 10}, 0) == {"value": 0.5}
    for other in (("metric", "abd", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 0),
                  ("metric", "abc", "shapes3d", "mig", {"n": 10, "b": [1, 2]}, 0),
                  ("metric", "abc", "dsprites", "dci", {"n": 10, "b": [1, 2]}, 0),
                  ("metric", "abc", "dsprites", "mig", {"n": 11, "b": [1, 2]}, 0),
                  ("metric", "abc", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 1),
                  ("flow-eval", "abc", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 0)):
        assert store.get(*other) is None
    store.put("metric", "abc", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 0, {"value": 0.7})
    assert store.get("metric", "abc", "dsprites", "mig", {"n": 10, "b": [1, 2]}, 0) == {"value": 0.7}
    assert len(store.find(kind="metric", subject="abc")) == 1
    assert store.delete("metric", subject="abc") == 1 and store.find() == []


def test_survives_reopening_and_lives_in_the_data_dir(latentlab_home):
    store = ResultStore()
    assert store.path.parent == latentlab_home / "data"
    store.put("session", "s1", "", "state", {}, 0, {"sliders": [0.1, 0.2]})
    assert ResultStore().get("session", "s1", "", "state") == {"sliders": [0.1, 0.2]}
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_canonical_params_spelling():
    assert canonical_json({"b": np.float64(0.5), "a": np.int64(3)}) == '{"a":3,"b":0.5}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_concurrent_writers_and_readers(tmp_path):
    path = tmp_path / "r.sqlite3"
    ResultStore(path)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            s = ResultStore(path)
            for i in range(25):
                s.put("metric", f"w{w}", "d", "m", {"i": i}, 0, {"i": i, "blob": "x" * 2000})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            s = ResultStore(path)
            for _ in range(50):
                for row in s.find(kind="metric"):
                    assert row.payload["i"] == row.params["i"]  # never a half-written row
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)] + [threading.Thread(target=reader)
                                                                                 for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ResultStore(path).find(kind="metric")) == 75


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable results store"):
        ResultStore(bad)
