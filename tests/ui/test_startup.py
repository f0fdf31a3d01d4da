"""Start-up: the splash, the install check that renders one frame, and opening a .llab the way a desktop does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from latentlab.cli import gui_argv
from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.desktop import desktop_entry
from latentlab.core.session import CheckpointRef, FileRef, Session, save_session
from latentlab.ui.app import open_from_event, parse_args
from latentlab.ui.panels.preview import EMPTY_HINT
from latentlab.ui.startup import StartupProgress
from tests.conftest import ROOT
from tests.core.test_desktop import exec_argv
from tests.helpers import tiny_checkpoint
from tests.ui.conftest import decoded, wait_for_frame

LATENT = [0.75, -1.25, 0.5, 1.5]


def session_file(tmp_path: Path) -> tuple[Path, Path]:
    ckpt = tiny_checkpoint(tmp_path / "sess-model.safetensors", latent_dim=4)
    session = Session(checkpoints=[CheckpointRef(id="m0", file=FileRef.of(ckpt),
                                                 latent=np.array(LATENT, np.float32))], active="m0")
    return save_session(session, tmp_path / "my run.llab"), ckpt


def test_the_splash_names_each_step_before_the_heavy_imports(qtbot):
    from PySide6.QtWidgets import QMainWindow

    progress = StartupProgress(QApplication.instance())
    assert progress.splash.isVisible()
    progress.step("Loading PyTorch")
    assert progress.message == "Loading PyTorch…"
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    progress.finish(window)
    assert progress.splash is None
    assert [s[0] for s in progress.steps] == ["Loading PyTorch", "ready"]


def test_a_desktop_double_click_on_a_session_restores_it_and_renders_it(tmp_path):
    """What a file manager runs for the installed entry, in a process of its own: the session comes back."""
    llab, ckpt = session_file(tmp_path)
    launcher = [sys.executable, "-m", "latentlab"]
    entry = dict(line.split("=", 1) for line in desktop_entry(launcher).splitlines() if "=" in line)
    argv = exec_argv(entry["Exec"], [str(llab)])
    assert argv == [*launcher, "gui", str(llab)]
    png = tmp_path / "frame.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([*argv, "--exit-after-frame", str(png)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["path"]) == ckpt
    assert report["latent"] == pytest.approx(LATENT)
    assert report["icons_broken"] == []
    steps = report["startup"]
    assert [s["step"] for s in steps] == ["Loading the explorer", "Building the window", "ready", "PyTorch loaded"]
    assert not steps[2]["torch_loaded"], "the window is up before torch is imported"
    assert steps[3]["torch_loaded"]
    frame = np.asarray(Image.open(png))
    expected = decoded(open_checkpoint(ckpt, device="cpu").model, np.array(LATENT, np.float32))
    assert frame.shape == expected.shape and np.abs(frame.astype(int) - expected).max() <= 1


def test_a_file_given_without_gui_opens_the_app_and_a_session_goes_to_restore():
    assert gui_argv(["run.llab"]) == ["run.llab"]
    assert gui_argv(["models/vae.safetensors", "--device", "cpu"]) == ["models/vae.safetensors", "--device", "cpu"]
    assert gui_argv(["info", "x.safetensors"]) is None and gui_argv([]) == [] and gui_argv(["gui", "a"]) == ["a"]
    args = parse_args(["a.safetensors", "/tmp/My Run.LLAB", "b.pt"])
    assert args.session == "/tmp/My Run.LLAB" and args.checkpoints == ["a.safetensors", "b.pt"]
    with pytest.raises(SystemExit):
        parse_args(["one.llab", "two.llab"])


def test_a_file_open_event_restores_the_session_in_the_running_window(qtbot, window, tmp_path):
    llab, ckpt = session_file(tmp_path)
    assert open_from_event(window, QFileOpenEvent(str(llab)))
    qtbot.waitUntil(lambda: window.state.current is not None and not window.sessions._pending, timeout=30000)
    assert window.state.current.path == ckpt
    assert np.allclose(window.state.z, LATENT)


def test_the_empty_preview_says_what_is_loading(qtbot, window, tiny_ckpt):
    overlay = window.preview.canvas.overlay
    assert overlay.toPlainText() == EMPTY_HINT
    window.open_paths([tiny_ckpt])
    assert overlay.toPlainText() == f"Opening {tiny_ckpt.name}…"
    qtbot.waitUntil(lambda: window.state.current is not None, timeout=30000)
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=30000)  # the first frame replaced it


def test_the_window_shows_a_loading_state_until_finish_startup_then_opens_what_was_asked(qtbot, empty_models_dir,
                                                                                          tiny_ckpt):
    """``latentlab gui``'s window is built before torch: it says so, and a file asked for meanwhile (a drop,
    the command line) opens once ``finish_startup`` has started the render service."""
    from latentlab.ui.main_window import LOADING_TEXT, MainWindow

    win = MainWindow(device=None)
    qtbot.addWidget(win)
    win.show()
    try:
        overlay = win.preview.canvas.overlay
        assert not win.started and not win.bridge.running
        assert overlay.isVisible() and overlay.toPlainText() == LOADING_TEXT
        assert win.statusBar().currentMessage() == LOADING_TEXT
        assert win.device_label.text() == "device: …"
        win.open_paths([tiny_ckpt])  # while loading: kept for later
        assert win.state.current is None and win.models._current_load is None
        with qtbot.waitSignal(win.startupFinished, timeout=30000):
            win.finish_startup("cpu")
        assert win.started and win.bridge.running
        assert win.statusBar().currentMessage() != LOADING_TEXT
        assert win.device_label.text() == "device: cpu"
        qtbot.waitUntil(lambda: win.state.current is not None, timeout=30000)
        entry = win.state.current
        assert entry.path == tiny_ckpt and len(win.state.models) == 1
        wait_for_frame(qtbot, win, win.state.z)
        assert win.preview.last_result.model_token == entry.token
        assert not overlay.isVisible()
        assert np.array_equal(win.preview.last_result.image, decoded(entry.model, win.state.z))
        win.finish_startup("cpu")  # idempotent
    finally:
        win.close()


def test_the_torch_half_of_start_up_runs_on_a_later_turn_once_the_window_is_exposed(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from latentlab.ui.app import when_painted

    win = QMainWindow()
    qtbot.addWidget(win)
    win.show()
    calls = []
    when_painted(win, lambda: calls.append(win.windowHandle().isExposed()))
    assert calls == []  # never from inside the call: the event loop paints the window first
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)
    assert calls == [True]


def test_the_install_check_never_writes_its_png_over_a_checkpoint(tmp_path):
    """``--exit-after-frame`` takes an optional PNG: a checkpoint named after it must not be replaced."""
    import hashlib
    import os
    import subprocess
    import sys

    from tests.helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LATENTLAB_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "latentlab", "gui", "--exit-after-frame", str(ckpt)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == before
    assert out.returncode != 0
