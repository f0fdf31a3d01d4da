"""Sessions: save/open round trip, moved checkpoints, and autosave that survives a killed app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from latentlab.core.session import Autosave, load_session
from tests.helpers import tiny_checkpoint
from tests.ui.conftest import open_and_wait


def test_save_and_open_session_restores_models_latents_and_bookmarks(qtbot, window, tmp_path):
    a = tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4, seed=1)
    b = tiny_checkpoint(tmp_path / "b.safetensors", latent_dim=3, seed=2)
    open_and_wait(qtbot, window, a)
    window.state.set_latent(np.array([0.5, -1.0, 2.0, 0.25], np.float32), "test")
    window.bookmarks.name.setText("first")
    window.bookmarks.add_current()
    open_and_wait(qtbot, window, b)
    window.state.set_latent(np.array([1.0, 0.0, -0.5], np.float32), "test")
    window.grid.steps.setValue(7)
    path = window.sessions.save(tmp_path / "work.llab")
    assert path is not None and path.exists()
    saved = load_session(path)
    assert [Path(c.file.path).name for c in saved.checkpoints] == ["a.safetensors", "b.safetensors"]

    window.sessions._close_all()
    window.grid.steps.setValue(9)
    assert not window.state.models
    assert window.sessions.open(path)
    qtbot.waitUntil(lambda: len(window.state.models) == 2 and not window.sessions._pending, timeout=30000)
    assert window.state.current.path.name == "b.safetensors"
    assert np.allclose(window.state.z, [1.0, 0.0, -0.5])
    assert window.grid.steps.value() == 7
    first = next(e for e in window.state.models if e.path.name == "a.safetensors")
    window.state.select_model(first)
    assert np.allclose(window.state.z, [0.5, -1.0, 2.0, 0.25])
    assert [bm.name for bm in window.state.bookmarks_for_current()] == ["first"]


def test_a_moved_checkpoint_is_reported_and_can_be_located(qtbot, window, tmp_path):
    a = tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4)
    open_and_wait(qtbot, window, a)
    window.state.set_latent(np.full(4, 0.75, np.float32), "test")
    session_path = window.sessions.save(tmp_path / "s" / "moved.llab")
    window.sessions._close_all()
    new_home = tmp_path / "elsewhere"
    new_home.mkdir()
    moved = a.rename(new_home / "renamed.safetensors")
    asked = []

    def resolver(status):
        asked.append(status)
        return moved

    window.sessions.open(session_path, resolver=resolver)
    assert asked and asked[0].status == "moved"
    qtbot.waitUntil(lambda: window.state.current is not None and not window.sessions._pending, timeout=30000)
    assert window.state.current.path == moved
    assert np.allclose(window.state.z, 0.75)


def test_a_skipped_missing_checkpoint_says_so(qtbot, window, tmp_path):
    a = tiny_checkpoint(tmp_path / "a.safetensors", latent_dim=4)
    open_and_wait(qtbot, window, a)
    session_path = window.sessions.save(tmp_path / "gone.llab")
    window.sessions._close_all()
    a.unlink()
    window.sessions.open(session_path, resolver=lambda status: None)
    assert window.banner.isVisible() and "skipped" in window.banner.text


def test_corrupt_session_file_is_an_error_not_a_crash(qtbot, window, tmp_path):
    bad = tmp_path / "bad.llab"
    bad.write_text("{ this is not json")
    assert not window.sessions.open(bad)
    assert window.banner.level == "error" and "bad.llab" in window.banner.text


CHILD = textwrap.dedent('''
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PySide6.QtCore import QTimer
    from latentlab.ui.app import make_app
    from latentlab.ui.main_window import MainWindow
    app = make_app()
    win = MainWindow(device="cpu")
    win.show()
    win.sessions.begin(ask=False)
    win.open_paths([sys.argv[1]])
    def act():
        if win.state.current is None:
            QTimer.singleShot(50, act)
            return
        win.state.set_latent(np.array([1.5, -0.5, 0.25, 2.0], np.float32), "test")
        win.state.add_bookmark("before the crash")
        def wait_for_autosave():
            if win.sessions.autosave.saves:
                print("AUTOSAVED", flush=True)
            else:
                QTimer.singleShot(100, wait_for_autosave)
        wait_for_autosave()
    act()
    app.exec()
''')


def test_autosave_survives_a_killed_app_and_restores(qtbot, window, tmp_path, latentlab_home):
    ckpt = tiny_checkpoint(tmp_path / "crash.safetensors", latent_dim=4)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(ckpt)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and "AUTOSAVED" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "AUTOSAVED" in line, "the child app never autosaved"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    recoveries = window.sessions.begin(ask=False)
    assert len(recoveries) == 1 and recoveries[0].pid == proc.pid
    window.sessions.restore(recoveries[0])
    qtbot.waitUntil(lambda: window.state.current is not None and not window.sessions._pending, timeout=30000)
    assert np.allclose(window.state.z, [1.5, -0.5, 0.25, 2.0])
    assert [b.name for b in window.state.bookmarks] == ["before the crash"]
    assert Autosave().find_crashed() == []  # claimed once, not offered again


def test_clean_exit_leaves_no_autosave(qtbot, empty_models_dir, tmp_path):
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.show()
    win.sessions.begin(ask=False)
    open_and_wait(qtbot, win, tiny_checkpoint(tmp_path / "m.safetensors"))
    assert win.sessions.autosave_now()
    assert win.sessions.autosave.path.exists()
    win.close()
    assert not win.sessions.autosave.path.exists() and not win.sessions.autosave.marker.exists()


def test_autosave_waits_for_a_drag_to_end_and_writes_off_the_gui_thread(qtbot, empty_models_dir, tmp_path, monkeypatch):
    import threading

    from latentlab.ui import session_io
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.show()
    win.sessions.begin(ask=False)
    open_and_wait(qtbot, win, tiny_checkpoint(tmp_path / "m.safetensors"))
    writers = []
    real_write = win.sessions._write
    monkeypatch.setattr(win.sessions, "_write", lambda s: (writers.append(threading.current_thread()), real_write(s))[1])
    win.sliders.row(0).slider.setFloatValue(0.7)  # the user is dragging
    win.sessions._autosave_when_idle()
    assert writers == [] and win.sessions._timer.isActive()  # put off, not dropped
    monkeypatch.setattr(session_io, "IDLE_BEFORE_AUTOSAVE_S", 0.0)
    win.sessions._autosave_when_idle()
    win.sessions._join_writer()
    assert len(writers) == 1 and writers[0] is not threading.main_thread()
    assert load_session(win.sessions.autosave.path).checkpoints[0].latent[0] == np.float32(0.7)
    win.close()
