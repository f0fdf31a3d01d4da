"""Metric figures computed while the results store is locked, read-only, a folder or not a database at all are
still printed and returned, and saved once the store is free (or the user is told plainly they were not)."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from latentlab.cli import main
from latentlab.core.metrics import evaluate
from latentlab.core.metrics.runner import KEPT_FOR_LATER, KIND, NOT_SAVED
from latentlab.core.store import ResultStore
from tests.helpers import tiny_checkpoint
from tests.security.hostile import child_env, python, run_with_mount, sha256, wait_for_line

pytestmark = pytest.mark.slow
METRICS = "kl,mig"


@pytest.fixture(scope="module")
def ck(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("store") / "ck.safetensors", latent_dim=4)


def rows(path) -> dict[str, dict]:
    with sqlite3.connect(path) as conn:
        return {name: json.loads(payload) for name, payload in conn.execute("SELECT name, payload FROM results")}


def compute(ck, store):
    return evaluate(str(ck), "dsprites", METRICS, n=50, store=store, device="cpu")


def test_a_store_locked_by_another_writer_loses_no_figure(ck, tmp_path):
    path = tmp_path / "results.sqlite3"
    ResultStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program in the middle of a write transaction
    try:
        results = compute(ck, ResultStore(path, timeout=0.2))
        assert all(r.ok for r in results.values())
        for r in results.values():
            assert any(n.startswith(KEPT_FOR_LATER) and "locked" in n for n in r.notes), r.notes
        assert (tmp_path / "results.sqlite3.pending").is_file()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rows(path) == {}  # nothing got in while it was locked ...
    ResultStore(path)  # ... and the next open moves it in
    stored = rows(path)
    assert {n: stored[n]["values"] for n in stored} == {n: r.to_dict()["values"] for n, r in results.items()}
    assert not (tmp_path / "results.sqlite3.pending").exists()


def test_the_cli_prints_figures_while_another_process_holds_the_store(ck, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_HOME", str(tmp_path / "home"))
    path = ResultStore().path
    holder = python("""
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1], isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        print("LOCKED", flush=True)
        sys.stdin.read()
        c.execute("ROLLBACK")
    """, str(path), env=child_env())
    try:
        wait_for_line(holder, "LOCKED")
        code = main(["metrics", str(ck), "--dataset", "dsprites", "--metrics", "kl", "--n", "50", "--quiet"])
        out, err = capsys.readouterr()
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert code == 0 and "Traceback" not in err
    assert "kl_total" in out and "computed" in out
    note = [ln for ln in out.splitlines() if ln.startswith("note (kl):")]
    assert len(note) == 1 and "locked by another program" in note[0] and "saved the next time" in note[0]
    assert "kl" in rows(ResultStore().path)  # free again: in the store now


def test_a_store_path_that_is_a_folder_prints_the_figures_and_keeps_them(ck, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "data" / "results.sqlite3"
    folder.mkdir(parents=True)
    code = main(["metrics", str(ck), "--dataset", "dsprites", "--metrics", "kl", "--n", "50", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    assert "kl_total" in out
    assert any("is a folder" in ln and "kept in" in ln for ln in out.splitlines() if ln.startswith("note (kl):"))
    folder.rmdir()  # the user fixes it
    assert ResultStore().get(KIND, *_key(ck, "kl")) is not None


def _key(ck, name):
    from latentlab.core.checkpoint import file_sha256
    from latentlab.core.metrics.runner import metric_key_params

    return file_sha256(ck), "dsprites", name, metric_key_params(name, None, 50, 25, "mean", False), 0


def test_when_nothing_can_keep_them_the_user_is_told_they_were_not_saved(ck, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("LATENTLAB_HOME", str(home))
    (home / "data" / "results.sqlite3").mkdir(parents=True)
    (home / "data" / "results.sqlite3.pending").mkdir()  # no journal beside it ...
    (home / "data" / "pending").write_text("in the way")  # ... nor in the data folder
    code = main(["metrics", str(ck), "--dataset", "dsprites", "--metrics", "kl", "--n", "50", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "kl_total" in out
    note = [ln for ln in out.splitlines() if ln.startswith("note (kl):")]
    assert len(note) == 1 and f"{NOT_SAVED}:" in note[0] and "it was not saved" in note[0]


def test_a_file_that_is_not_a_store_is_left_as_it_is_and_the_figures_still_come(ck, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_HOME", str(tmp_path / "home"))
    bad = tmp_path / "home" / "data" / "results.sqlite3"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"my thesis draft, not a database" * 100)
    before = sha256(bad)
    code = main(["metrics", str(ck), "--dataset", "dsprites", "--metrics", "kl", "--n", "50", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "kl_total" in out
    note = [ln for ln in out.splitlines() if ln.startswith("note (kl):")]
    assert len(note) == 1 and f"{NOT_SAVED}:" in note[0] and "not a usable results store" in note[0]
    assert sha256(bad) == before


def test_a_read_only_store_keeps_figures_for_later(ck, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_HOME", str(tmp_path / "home"))  # where a journal goes when the store's folder is ro
    folder = tmp_path / "ro"
    folder.mkdir()
    store = ResultStore(folder / "results.sqlite3")
    store.put("metric", "other", "d", "x", {}, 0, {"v": 1})
    before = sha256(store.path)
    script = f"""
        import json
        from latentlab.core.metrics import evaluate
        from latentlab.core.store import ResultStore
        res = evaluate({str(ck)!r}, "dsprites", "kl", n=50, store=ResultStore({str(store.path)!r}), device="cpu")
        print(json.dumps({{"notes": res["kl"].notes, "values": res["kl"].to_dict()["values"]}}))
    """
    proc = run_with_mount(f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}", script)
    if proc is None:
        pytest.skip("no private mount namespace here to make a folder read-only (root ignores file modes)")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any(n.startswith(KEPT_FOR_LATER) and "read-only" in n for n in got["notes"]), got["notes"]
    assert sha256(store.path) == before
    ResultStore(store.path)  # writable again (outside that namespace): the kept figure goes in
    assert rows(store.path)["kl"]["values"] == got["values"]


def test_a_hostile_journal_is_read_safely_and_never_overwrites_a_newer_figure(tmp_path):
    path = tmp_path / "results.sqlite3"
    store = ResultStore(path)
    key = ["metric", "s", "d", "m", "{}", 0]
    store.put(*key[:4], {}, 0, {"v": "newer"})
    journal = tmp_path / "results.sqlite3.pending"
    lines = [b"not json", b"[" * 100000, json.dumps({"key": key, "created": "soon", "payload": 3}).encode(),
             json.dumps({"key": key, "created": time.time() - 3600, "payload": '{"v": "older"}'}).encode(),
             json.dumps({"key": [*key[:3], "m2", "{}", 0], "created": time.time(), "payload": '{"v": 2}'}).encode(),
             b'{"key": ["metric", "s", "d", "cut sh']  # a line a crash cut short
    journal.write_bytes(b"\n".join(lines))
    store = ResultStore(path)
    assert store.get("metric", "s", "d", "m") == {"v": "newer"}
    assert store.get("metric", "s", "d", "m2") == {"v": 2}
    assert not journal.exists()
