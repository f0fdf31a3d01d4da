"""Fixtures for the pytest-qt tests: a window on a tiny model, closed cleanly after each test, and a check
that no test leaves a window, a running thread or an active timer behind."""

from __future__ import annotations

import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import Checkpoint
from tests.helpers import tiny_checkpoint


@pytest.fixture
def empty_models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "no-demo-models"
    folder.mkdir()
    monkeypatch.setenv("LATENTLAB_MODELS", str(folder))
    return folder


@pytest.fixture
def window(qtbot, empty_models_dir):
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def open_and_wait(qtbot, win, path, timeout=30000):
    win.open_paths([path])
    qtbot.waitUntil(lambda: win.state.current is not None and win.state.current.path == path, timeout=timeout)
    return win.state.current


def wait_for_analysis(qtbot, win, timeout=60000):
    entry = win.state.current
    qtbot.waitUntil(lambda: entry.encoded is not None or entry.analysis_error is not None, timeout=timeout)
    assert entry.analysis_error is None, entry.analysis_error
    return entry


def decoded(model, z) -> np.ndarray:
    from latentlab.core.render import to_uint8

    with torch.inference_mode():
        return to_uint8(model.decode(torch.as_tensor(np.asarray(z, np.float32))[None]))[0]


def wait_for_frame(qtbot, win, z, timeout=30000):
    """Wait until the preview shows the frame of exactly ``z``."""
    def shown():
        res = win.preview.last_result
        return res is not None and res.z is not None and np.array_equal(res.z, z)

    qtbot.waitUntil(shown, timeout=timeout)


def make_checkpoint_entry(model, name="custom"):
    from pathlib import Path

    from latentlab.app import ModelEntry

    ck = Checkpoint(path=Path(f"/virtual/{name}.safetensors"), sha256=name * 4, format="test", card={}, model=model)
    return ModelEntry(ck)


def latentlab_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("latentlab") and t.is_alive()]


@pytest.fixture
def tiny_ckpt(tmp_path):
    return tiny_checkpoint(tmp_path / "tiny-vae.safetensors", latent_dim=4)


# --- leaks -----------------------------------------------------------------------------------------------------
# Every test that runs Qt (it asks for qtbot or qapp) must leave nothing behind: after the test and pytest-qt's
# cleanup, with the deferred deletes processed, no top-level widget made during the test may still exist, no
# QThread may run, no QTimer that our code started may be active, and no latentlab thread may be alive. What a
# test leaks runs on inside the next ones (a timer firing on a half-deleted window, a render thread holding a
# model), where it fails somewhere else or crashes the interpreter.

OUR_CODE = str(Path(__file__).resolve().parents[2] / "latentlab")
THREAD_EXIT_S = 10.0  # a stopped thread finishes its current step first: a render or one export frame


def _started_by_us() -> bool:
    frame = sys._getframe(2)  # the caller of the patched start()
    return frame.f_code.co_filename.startswith(OUR_CODE)


def _where() -> str:
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _delete_deferred(qapp) -> None:
    """Run the deleteLater() calls the test and its cleanup made (an event loop would, between events)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    for _ in range(5):  # deleting a widget can post more deletions (its children's, their timers')
        qapp.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _alive(obj) -> bool:
    import shiboken6

    return obj is not None and shiboken6.isValid(obj)


@pytest.fixture(autouse=True)
def no_leaked_qt_objects(request, monkeypatch):
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    from PySide6.QtCore import QThread, QTimer
    from PySide6.QtWidgets import QApplication

    qapp = request.getfixturevalue("qapp")
    timers: list[tuple[weakref.ref, str]] = []
    qthreads: list[tuple[weakref.ref, str]] = []
    timer_start, thread_start = QTimer.start, QThread.start

    def start_timer(self, *args):
        if _started_by_us():
            timers.append((weakref.ref(self), _where()))
        return timer_start(self, *args)

    def start_thread(self, *args):
        qthreads.append((weakref.ref(self), _where()))
        return thread_start(self, *args)

    monkeypatch.setattr(QTimer, "start", start_timer)
    monkeypatch.setattr(QThread, "start", start_thread)
    before_widgets = set(QApplication.topLevelWidgets())
    before_threads = set(latentlab_threads())
    yield
    if getattr(request.node, "rep_call_failed", False):  # its own failure says more (tests/conftest.py sets it)
        _delete_deferred(qapp)
        return
    _delete_deferred(qapp)
    problems = []
    widgets = [w for w in QApplication.topLevelWidgets() if w not in before_widgets and _alive(w)]
    problems += [f"a top-level {type(w).__name__} ({w.windowTitle()!r}) is still there" for w in widgets]
    for ref, where in qthreads:
        t = ref()
        if _alive(t) and t.isRunning():
            problems.append(f"a {type(t).__name__} started at {where} is still running")
    for ref, where in timers:
        t = ref()
        if _alive(t) and t.isActive():
            problems.append(f"a QTimer started at {where} is still active (every {t.interval()} ms)")
    for t in set(latentlab_threads()) - before_threads:
        t.join(THREAD_EXIT_S)
        if t.is_alive():
            problems.append(f"the thread {t.name!r} is still alive")
    for w in widgets:  # clean up, so that one leak fails one test and not every test after it
        w.close()
        w.deleteLater()
    _delete_deferred(qapp)
    assert not problems, "the test left Qt objects behind:\n  " + "\n  ".join(problems)
