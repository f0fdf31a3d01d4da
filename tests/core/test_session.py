"""Sessions: exact round trip, clear errors, moved/changed files and relinking, autosave and crash recovery."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from latentlab.core.session import (
    Bookmark,
    DirectionRef,
    FileRef,
    FlowRef,
    Layout,
    Session,
    SessionError,
    check_files,
    load_session,
    relink,
    save_session,
    search_folder,
)
from latentlab.core.session.autosave import Autosave, process_start_ticks
from tests.helpers import tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def make_session(folder: Path) -> Session:
    rng = np.random.default_rng(0)
    a = tiny_checkpoint(folder / "a.safetensors")
    b = tiny_checkpoint(folder / "b.safetensors", latent_dim=6, seed=1)
    flow = folder / "flow.safetensors"
    flow.write_bytes(b"flow weights")
    dirs = folder / "dirs.npz"
    np.savez(dirs, smile=np.ones(4, np.float32))
    s = Session()
    ca = s.add_checkpoint(a, latent=rng.normal(size=4).astype(np.float32) / 3, name="A")
    cb = s.add_checkpoint(b, latent=rng.normal(size=6).astype(np.float32))
    ca.view = {"selected_dims": [0, 2], "span": 2.5}
    s.active = cb.id
    s.bookmarks = [Bookmark("start", rng.normal(size=4).astype(np.float32), ca.id, "a note, with unicode: é"),
                   Bookmark("end", np.array([1e-30, -3.4e38, 0.1, 7], np.float32), ca.id)]
    s.directions = [DirectionRef("smile", ca.id, file=FileRef.of(dirs), key="smile"),
                    DirectionRef("custom", cb.id, vector=rng.normal(size=6).astype(np.float32))]
    s.flows = [FlowRef("wave", FileRef.of(flow), cb.id, key="k0")]
    s.compare = [ca.id, cb.id]
    s.layout = Layout(base64.b64encode(os.urandom(300)).decode(), base64.b64encode(b"geom").decode(),
                      {"dock": {"sliders": "left"}, "grid_steps": 7})
    s.extra = {"theme": "dark"}
    return s


def test_session_round_trips_exactly(tmp_path):
    s = make_session(tmp_path)
    path = save_session(s, tmp_path / "work.llab")
    back = load_session(path)
    assert back == s and back.to_dict() == s.to_dict()
    assert back.checkpoints[0].latent.dtype == np.float32
    assert np.array_equal(back.checkpoints[0].latent, s.checkpoints[0].latent)
    assert np.array_equal(back.bookmarks[1].latent, s.bookmarks[1].latent)  # extreme float32 values exactly
    assert back.layout.window_state == s.layout.window_state and back.layout.view["dock"] == {"sliders": "left"}
    assert back.checkpoints[0].file.sha256 == s.checkpoints[0].file.sha256 and len(back.checkpoints[0].file.sha256) == 64
    data = json.loads(path.read_text())
    assert data["format"] == "latentlab-session" and data["version"] == 1
    assert data["checkpoints"][0]["file"]["relative"] == "a.safetensors"
    assert all(c.ok for c in check_files(back, path))


def _write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: json.dumps(d)[:200], "not valid JSON"),
    (lambda d: {**d, "version": 2}, "newer latentlab"),
    (lambda d: {**d, "version": 0}, "version 0 is not supported"),
    (lambda d: {**d, "format": "something-else"}, "not a latentlab session"),
    (lambda d: [1, 2], "expected an object"),
    (lambda d: {**d, "checkpoints": [{**d["checkpoints"][0], "latent": "0.5"}]}, r"checkpoints\[0\].latent"),
    (lambda d: {**d, "bookmarks": [{"name": 3, "latent": [1.0]}]}, r"bookmarks\[0\].name: expected a string"),
    (lambda d: {**d, "checkpoints": [{**d["checkpoints"][0], "file": {"path": "x", "sha256": "abc"}}]}, "SHA-256"),
    (lambda d: {**d, "compare": ["ckpt0", "nope"]}, r"compare\[1\]: refers to checkpoint 'nope'"),
    (lambda d: {**d, "layout": {"window_state": "%%%"}}, "not base64"),
])
def test_bad_session_files_give_clear_errors(tmp_path, mutate, message):
    good = make_session(tmp_path).to_dict()
    path = _write(tmp_path / "bad.llab", mutate(json.loads(json.dumps(good))))
    with pytest.raises(SessionError, match=message) as err:
        load_session(path)
    assert str(path) in str(err.value)


def test_missing_file_and_folder_errors(tmp_path):
    with pytest.raises(SessionError, match="no such file"):
        load_session(tmp_path / "nope.llab")
    with pytest.raises(SessionError, match="folder"):
        load_session(tmp_path)


def test_a_failed_save_keeps_the_previous_file(tmp_path):
    s = make_session(tmp_path)
    path = save_session(s, tmp_path / "work.llab")
    before = path.read_bytes()
    s.bookmarks[0].latent = np.array([np.nan, 0, 0, 0], np.float32)
    with pytest.raises(SessionError, match="NaN"):
        save_session(s, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.glob(".*")) == []


def test_moved_and_changed_files_are_detected_and_relinked(tmp_path):
    s = make_session(tmp_path)
    path = save_session(s, tmp_path / "work.llab")
    moved = tmp_path / "elsewhere" / "a.safetensors"
    moved.parent.mkdir()
    shutil.move(tmp_path / "a.safetensors", moved)
    tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=6, seed=7)  # same name, different weights
    s = load_session(path)
    status = {(c.kind, c.key): c for c in check_files(s, path)}
    assert status["checkpoint", "ckpt0"].status == "moved" and "moved" in status["checkpoint", "ckpt0"].message
    assert status["checkpoint", "ckpt1"].status == "changed"
    assert status["flow", "wave"].ok and status["direction", "smile"].ok

    wrong = relink(s, "checkpoint", "ckpt0", tmp_path / "b.safetensors")
    assert wrong.status == "changed" and s.checkpoint("ckpt0").file.path == str(tmp_path / "a.safetensors")
    fixed = relink(s, "checkpoint", "ckpt0", moved)
    assert fixed.ok and s.checkpoint("ckpt0").file.path == str(moved.resolve())
    old_sha = s.checkpoint("ckpt1").file.sha256
    accepted = relink(s, "checkpoint", "ckpt1", tmp_path / "b.safetensors", accept_changed=True)
    assert accepted.ok and s.checkpoint("ckpt1").file.sha256 != old_sha
    assert all(c.ok for c in check_files(s, path))
    save_session(s, path)
    assert load_session(path) == s


def test_files_that_travel_with_the_session_and_folder_search(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    s = make_session(project)
    save_session(s, project / "work.llab")
    copied = tmp_path / "copy"
    shutil.copytree(project, copied)
    shutil.rmtree(project)
    s2 = load_session(copied / "work.llab")
    checks = check_files(s2, copied / "work.llab")
    assert all(c.ok for c in checks) and s2.checkpoint("ckpt0").file.path == str(copied / "a.safetensors")

    s3 = load_session(copied / "work.llab")  # without the session's folder nothing is found ...
    missing = [c for c in check_files(s3) if c.status == "moved"]
    assert len(missing) == 4
    found = search_folder(s3, tmp_path, missing)  # ... until the user points at a folder
    assert len(found) == 4 and all(c.ok for c in check_files(s3))


# --- autosave and crash recovery ------------------------------------------------------------------------------

def exited_without_cleanup(folder: Path, session_file: Path, pid: int | None = None) -> int:
    """A real app run that autosaved and then ended without ``end()`` (as a crash does); the PID its marker names
    (its own, or ``pid``: as if its PID had been given to another process since)."""
    script = textwrap.dedent(f"""
        import os
        from latentlab.core.session.autosave import Autosave
        from latentlab.core.session import load_session
        a = Autosave({str(folder)!r}, pid={pid!r})
        a.begin()
        a.save(load_session({str(session_file)!r}))
        print(a.pid, flush=True)
        os._exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


def test_a_run_that_ended_without_cleaning_up_is_offered_once(tmp_path):
    folder = tmp_path / "autosave"
    s = make_session(tmp_path)
    pid = exited_without_cleanup(folder, save_session(s, tmp_path / "s.llab"))
    now = Autosave(folder)
    offers = now.begin()
    assert len(offers) == 1 and offers[0].pid == pid
    assert offers[0].load() == s
    assert Autosave(folder).find_crashed() == []  # claimed by `now` while it decides
    offers[0].discard()
    assert Autosave(folder).find_crashed() == []
    now.end()
    assert list(folder.iterdir()) == []


def test_a_released_claim_is_offered_again(tmp_path):
    folder = tmp_path / "autosave"
    exited_without_cleanup(folder, save_session(make_session(tmp_path), tmp_path / "s.llab"))
    first = Autosave(folder).begin()
    first[0].release()  # e.g. the app that found it exits before the user answered
    assert len(Autosave(folder).begin()) == 1


def test_clean_exit_and_live_runs_are_not_offered(tmp_path):
    folder = tmp_path / "autosave"
    s = make_session(tmp_path)
    first = Autosave(folder)
    first.begin()
    first.save(s)
    first.end()
    other = Autosave(folder, pid=os.getppid())  # holds its lock: another app instance still running
    other.begin()
    other.save(s)
    assert Autosave(folder).begin() == []
    assert other.path.is_file()


def test_a_marker_naming_a_live_pid_with_a_free_lock_is_a_crash(tmp_path):
    """PIDs are reused: a dead run's marker may name a PID that is alive again. Its free lock tells."""
    folder = tmp_path / "autosave"
    exited_without_cleanup(folder, save_session(make_session(tmp_path), tmp_path / "s.llab"), pid=os.getppid())
    offers = Autosave(folder).begin()
    assert [o.pid for o in offers] == [os.getppid()]


@pytest.mark.skipif(process_start_ticks(os.getpid()) is None, reason="needs /proc for process start times")
def test_an_old_pid_only_marker_is_still_judged_by_its_pid_and_start_time(tmp_path):
    folder = tmp_path / "autosave"
    folder.mkdir()
    save_session(make_session(tmp_path), folder / "session-123.llab")
    alive = {"pid": os.getppid(), "host": __import__("socket").gethostname(),
             "start_ticks": process_start_ticks(os.getppid()), "started": "2024-01-01T00:00:00+00:00"}
    (folder / "running-123.json").write_text(json.dumps(alive))
    assert Autosave(folder).begin() == []  # that process still runs
    alive["start_ticks"] -= 1  # ... no: the PID was recycled
    (folder / "running-123.json").write_text(json.dumps(alive))
    assert [o.pid for o in Autosave(folder).begin()] == [os.getppid()]


def test_a_killed_process_leaves_an_autosave_that_restores(tmp_path):
    folder = tmp_path / "autosave"
    s = make_session(tmp_path)
    saved = save_session(s, tmp_path / "to-autosave.llab")
    script = textwrap.dedent(f"""
        import os, signal
        from latentlab.core.session.autosave import Autosave
        from latentlab.core.session import load_session
        a = Autosave({str(folder)!r})
        a.begin()
        a.save(load_session({str(saved)!r}))
        os.kill(os.getpid(), signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and not proc.stderr.strip().startswith("Traceback"), proc.stderr
    offers = Autosave(folder).begin()
    assert len(offers) == 1
    assert offers[0].load() == load_session(saved)
