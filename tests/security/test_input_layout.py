"""A hostile window layout in a session, and text from files in the GUI (pytest-qt, offscreen).

A session's saved geometry and dock state are bytes anyone can write. Whatever they hold, the app must keep
running with a usable window: menus, at least one panel, on a screen. Names from files must show as
literal text: never rich text, never raw control characters.
"""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from latentlab.core.session import Session, load_session
from latentlab.ui.layout_restore import restore_window_layout
from latentlab.ui.safe_text import PlainLabel, plain_rich, rich
from tests.ui.conftest import open_and_wait

b64 = lambda raw: base64.b64encode(bytes(raw)).decode()  # noqa: E731


def _crafted_geometry(win, left: int, top: int, width: int, height: int) -> str:
    """The window's own saveGeometry() with every rectangle replaced (Qt 6 layout: magic, version, frame and
    normal rectangles, screen, flags, screen width, geometry; rectangles as left, top, right, bottom)."""
    g = bytes(win.saveGeometry())
    assert struct.unpack(">I", g[:4])[0] == 0x1D9D0CB and len(g) == 66
    rect = struct.pack(">4i", left, top, left + width - 1, top + height - 1)
    return b64(g[:8] + rect + rect + g[40:-16] + rect)


def _usable(win) -> None:
    """What must hold after any restore: the window is up, reachable, with its menus and a panel."""
    assert win.isVisible() and not win.menuBar().isHidden() and not win.statusBar().isHidden()
    assert any(not d.isHidden() for d in win.docks.values())
    screens = [s.availableGeometry() for s in QGuiApplication.screens()]
    assert any(win.frameGeometry().intersects(s) for s in screens)
    for d in win.docks.values():
        if d.isFloating() and not d.isHidden():
            assert any(d.frameGeometry().intersects(s) for s in screens), d.windowTitle()


def _apply(win, geometry=None, state=None, view=None) -> list[str]:
    s = Session()
    s.layout.geometry, s.layout.window_state, s.layout.view = geometry, state, view or {}
    return win.sessions.apply(s, None)


def test_garbage_layout_bytes_keep_the_current_layout(qtbot, window):
    state, geometry = bytes(window.saveState()), bytes(window.saveGeometry())
    problems = _apply(window, b64(b"\x00\xff garbage" * 30), b64(b"\x00\x00\x00\xffnot a state" * 40))
    assert any("geometry is not one Qt can read" in p for p in problems)
    assert any("panel layout is not one Qt can read" in p for p in problems)
    assert bytes(window.saveState()) == state and bytes(window.saveGeometry()) == geometry
    assert window.banner.level == "warning" and "current layout is kept" in window.banner.text
    _usable(window)


def test_a_tiny_window_does_not_stick(qtbot, window):
    _apply(window, _crafted_geometry(window, 10, 10, 5, 5))
    assert window.width() >= 200 and window.height() >= 150
    _usable(window)


@pytest.mark.parametrize("left, top, width, height", [
    (100_000, 100_000, 800, 600), (-50_000, -50_000, 800, 600), (0, 0, 1_000_000, 1_000_000),
    (2_000_000_000, 2_000_000_000, 100, 100),
])
def test_off_screen_and_huge_geometry_leaves_a_reachable_window(qtbot, window, left, top, width, height):
    _apply(window, _crafted_geometry(window, left, top, width, height))
    _usable(window)
    screens = [s.availableGeometry() for s in QGuiApplication.screens()]
    assert window.width() <= max(s.width() for s in screens) + 64 or window.width() <= 1440 + 64


def test_a_state_that_hides_every_panel_is_refused(qtbot, window):
    for d in window.docks.values():
        d.hide()
    hidden_state = b64(window.saveState())
    for d in window.docks.values():
        d.show()
    before = bytes(window.saveState())
    problems = _apply(window, state=hidden_state)
    assert any("hides every panel" in p for p in problems)
    assert bytes(window.saveState()) == before
    _usable(window)


def test_a_floating_panel_far_off_screen_ends_reachable(qtbot, window):
    dock = window.docks["Metrics"]
    dock.setFloating(True)
    dock.show()
    dock.move(90_000, 90_000)
    state = b64(window.saveState())
    dock.setFloating(False)
    _apply(window, state=state)
    _usable(window)


def test_hidden_menu_and_status_bars_are_shown_again(qtbot, window):
    window.menuBar().hide()
    window.statusBar().hide()
    _apply(window, state=b64(window.saveState()))
    _usable(window)


def test_view_settings_of_the_wrong_type_are_skipped_not_raised(qtbot, window):
    steps, rng = window.grid.steps.value(), window.state.range_std
    problems = _apply(window, view={"range_std": "wide", "grid_steps": 10**30, "show_passive": "yes",
                                    "grid_dims": "0," * 100_000, "map_method": ["PCA"]})
    assert any("range_std, grid_dims, grid_steps, show_passive" in p for p in problems)
    assert window.grid.steps.value() == steps and window.state.range_std == rng
    _apply(window, view={"range_std": float("nan"), "grid_steps": True})
    assert window.state.range_std == rng and window.grid.steps.value() == steps
    _usable(window)


def test_a_hostile_session_file_opens_without_wrecking_the_app(qtbot, window, tiny_ckpt, tmp_path):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    path = window.sessions.save(tmp_path / "s.llab")
    text = path.read_text()
    s = load_session(path)
    for d in window.docks.values():
        d.hide()
    s.layout.window_state = b64(window.saveState())
    for d in window.docks.values():
        d.show()
    s.layout.geometry = _crafted_geometry(window, 0, 0, 3, 3)
    s.layout.view = {"grid_steps": "many"}
    s.checkpoints[0].view = {"locked": ["x", -1, 10**9, 1, True]}
    hostile = tmp_path / "hostile.llab"
    hostile.write_text(s.dumps())
    assert window.sessions.open(hostile)
    qtbot.waitUntil(lambda: window.state.current is not None and not window.sessions._pending, timeout=30000)
    assert window.state.locked == {1} and window.state.current.path == entry.path
    assert path.read_text() == text
    _usable(window)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_any_bytes_as_a_layout_leave_a_usable_window(qtbot, window, geometry, state):
    good = bytes(window.saveGeometry())
    # Also bytes that start like a real geometry or state, so Qt's parser is reached, not just its magic check.
    restore_window_layout(window, b64(good[:8] + geometry), b64(bytes(window.saveState())[:12] + state))
    _usable(window)


FUZZ_CHILD = r"""
import base64, gc, json, random, sys
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QWidget
from latentlab.ui.app import make_app
from latentlab.ui.layout_restore import restore_window_layout
from latentlab.ui.main_window import MainWindow

app = make_app()
win = MainWindow(device="cpu")
win.show()
app.processEvents()
good = bytes(win.saveState())
rng = random.Random(20261202)
crashed = unusable = 0
for tried in range(1, 121):
    corrupt = bytearray(good)
    for _ in range(rng.randrange(1, 6)):
        corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
    problems = restore_window_layout(win, None, base64.b64encode(bytes(corrupt)).decode())
    crashed += any("Qt crashes reading it" in p for p in problems)
    app.processEvents()
    win.grab()
    unusable += not (win.isVisible() and not win.menuBar().isHidden() and any(not d.isHidden() for d in win.docks.values()))
    if crashed:
        break
good_ok = not restore_window_layout(win, None, base64.b64encode(good).decode())
app.processEvents()
win.grab()
# The app lives on after a restore: it frees the layout and builds others. Do both before answering.
win.close()
win.deleteLater()
app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
app.processEvents()
gc.collect()
junk = [QWidget() for _ in range(2000)]
del junk
gc.collect()
again = MainWindow(device="cpu")
again.show()
app.processEvents()
again.grab()
again.close()
print(json.dumps({"crashed": crashed, "unusable": unusable, "good": good_ok, "tried": tried}))
"""


@pytest.mark.slow
def test_a_state_with_a_few_bytes_changed_never_crashes_the_app(tmp_path):
    """Qt's restoreState crashes the process on some slightly corrupt states (about one in twenty states with
    1-5 random bytes changed, found by fuzzing); others overwrite the heap without crashing at once. Such states
    are tried in a child process first. Here an app process of its own restores corrupt states until one is
    refused because it crashed the probe, restores the good one, frees its window and builds another: it must
    exit cleanly (a state that corrupted its heap would abort it), with a usable window throughout. Run apart
    from the test process, so that a failure is this test's and not a later test's."""
    import json
    import os
    import subprocess
    import sys

    models = tmp_path / "no-models"
    models.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LATENTLAB_MODELS": str(models),
           "LATENTLAB_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", FUZZ_CHILD], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["crashed"], "no corrupt state crashed Qt: the fuzzing no longer reaches the parser's crash"
    assert result["unusable"] == 0 and result["good"]


HOSTILE = '<img src="file:///etc/passwd"><b>bold</b>\x1b[31m\nline two\u202e'


def test_names_from_files_are_never_rich_text(qtbot, window):
    label = PlainLabel(HOSTILE)
    qtbot.addWidget(label)
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.text().startswith('<img src="file:///etc/passwd">') and "\x1b" not in label.text()
    assert "\\x1b" in label.text() and "\\u202e" in label.text()
    assert "<img" not in rich(HOSTILE) and "&lt;img" in rich(HOSTILE)
    tip = plain_rich(HOSTILE)
    assert tip.startswith("<qt>") and "<b>" not in tip and "<br>" in tip and "\x1b" not in tip
    assert window.model_label.textFormat() == Qt.TextFormat.PlainText
    assert window.banner.label.textFormat() == Qt.TextFormat.PlainText
    window.show_message("error", HOSTILE)
    assert "\x1b" not in window.banner.text and "\x1b" not in window.statusBar().currentMessage()
    assert "\n" not in window.statusBar().currentMessage()


def test_a_model_name_from_a_card_shows_literally(qtbot, window, tmp_path):
    from latentlab.core.checkpoint import make_card, save_checkpoint
    from tests.helpers import tiny_model

    model = tiny_model(latent_dim=3)
    model.info = type(model.info)(HOSTILE, 3, (1, 64, 64), latent_names=("<i>a</i>", "b\x1b[0m", "c"),
                                  dataset="dsprites", factor_names=model.info.factor_names)
    path = save_checkpoint(model, tmp_path / "evil.safetensors", make_card(model))
    open_and_wait(qtbot, window, path)
    assert "\x1b" not in window.windowTitle() and "\n" not in window.windowTitle()
    assert window.model_label.text().startswith('<img src=') and "\x1b" not in window.model_label.text()
    rows = window.sliders.findChildren(PlainLabel)
    assert any(r.text() == "<i>a</i>" for r in rows)
    assert all("\x1b" not in r.text() for r in rows)
