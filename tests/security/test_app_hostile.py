"""The app opens hostile files the way the CLI does: nothing runs until the user trusts those exact bytes."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from latentlab.core.errors import UntrustedFile
from latentlab.core.session import Session, save_session
from tests.security import hostile_files as hf


def _asking(window, monkeypatch) -> list:
    asked = []
    monkeypatch.setattr(window, "_ask_trust", lambda p, refusal: asked.append((p, refusal)))
    window.models.trustRequested.disconnect()
    window.models.trustRequested.connect(window._ask_trust)
    return asked


def test_gui_file_argument_asks_before_running_a_torchscript_program(qtbot, window, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    asked = _asking(window, monkeypatch)
    window.open_paths([path])  # what `latentlab gui prog.pt` does
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    assert isinstance(asked[0][1], UntrustedFile) and not marker.exists()
    assert window.state.current is None


def test_a_dropped_code_file_asks_and_runs_nothing(qtbot, window, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    path = hf.reduce_pickle_legacy(tmp_path / "dropped.pt", marker)
    asked = _asking(window, monkeypatch)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    assert not marker.exists() and window.state.current is None


def test_a_session_naming_a_code_file_asks_and_runs_nothing(qtbot, window, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    session = Session()
    session.add_checkpoint(path, name="prog")
    session_path = save_session(session, tmp_path / "s.llab")
    asked = _asking(window, monkeypatch)
    window.sessions.open(session_path)
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    assert asked[0][0].name == "prog.pt" and not marker.exists()
