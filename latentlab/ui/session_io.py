"""Sessions in the app: save/open .llab files, autosave a few seconds after each change, restore after a crash.

What is saved is the app model (``latentlab.app.sessions``: every open model with its latent, locks,
directions and flows, bookmarks, the compare set, view and export settings) plus the window's layout; it is
applied back as the checkpoints finish loading. Nothing here reads a panel's widgets.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from latentlab.app import AppModel
from latentlab.app import sessions as app_sessions
from latentlab.core.session import (
    AUTOSAVE_DELAY_S,
    HEARTBEAT_S,
    Autosave,
    FileStatus,
    Session,
    SessionError,
    check_files,
    load_session,
    relink,
    save_session,
)
from latentlab.ui.layout_restore import restore_window_layout
from latentlab.ui.safe_text import plain_rich, rich

log = logging.getLogger(__name__)

IDLE_BEFORE_AUTOSAVE_S = 1.0  # no autosave while the latent moved this recently (a drag is going on)
SESSION_FILTER = "latentlab sessions (*.llab);;All files (*)"


# A function that resolves a moved/changed file: returns a new path, or None to skip that file.
Resolver = Callable[[FileStatus], Path | None]


class SessionController(QObject):
    saved = Signal(str)
    restored = Signal(str)
    declined = Signal()  # the user chose not to restore a crashed session

    def __init__(self, window, state: AppModel, autosave: Autosave | None = None):
        super().__init__(window)
        self.window = window
        self.state = state
        self.path: Path | None = None
        self.autosave = autosave or Autosave()
        self.autosave_enabled = True
        self._timer = QTimer(self, singleShot=True, interval=int(AUTOSAVE_DELAY_S * 1000), timeout=self._autosave_when_idle)
        # Tells apps on other hosts of a shared home that this run is alive (see core.session.autosave).
        self._heartbeat = QTimer(self, interval=int(HEARTBEAT_S * 1000), timeout=self._beat)
        self._last_activity = 0.0
        self._writer: threading.Thread | None = None
        state.latentChanged.connect(self._note_activity)
        self._restore: app_sessions.Restore | None = None
        for sig in (state.modelsChanged, state.latentCommitted, state.bookmarksChanged, state.currentModelChanged,
                    state.locksChanged, state.directionsChanged, state.flowsChanged, state.compareChanged):
            sig.connect(self.changed)
        state.view.events.connect(self.changed)
        state.export.events.connect(self.changed)
        state.modelsChanged.connect(self._apply_pending)

    # --- capture --------------------------------------------------------------------------------------------------
    def capture(self) -> Session:
        """The app model's session (``latentlab.app.sessions``) plus this window's layout."""
        session = app_sessions.capture(self.state)
        win = self.window
        session.layout.window_state = base64.b64encode(bytes(win.saveState())).decode()
        session.layout.geometry = base64.b64encode(bytes(win.saveGeometry())).decode()
        return session

    # --- apply ----------------------------------------------------------------------------------------------------
    def apply(self, session: Session, base: Path | None, resolver: Resolver | None = None) -> list[str]:
        """Open the session's checkpoints and restore the rest as they load; returns what could not be restored."""
        restore = app_sessions.Restore(self.state, session)
        problems = list(restore.problems)
        statuses = {(s.kind, s.key): s for s in check_files(session, base)}
        for ref in session.checkpoints:
            st = statuses.get(("checkpoint", ref.id))
            path: Path | None = Path(ref.file.path)
            if st is not None and not st.ok:
                path = (resolver or self._ask_for_file)(st)
                if path is None:
                    problems.append(f"{ref.name or ref.file.path}: {st.status} ({st.message}); skipped")
                    continue
                try:
                    relink(session, "checkpoint", ref.id, path, accept_changed=True)
                except SessionError as exc:
                    problems.append(str(exc))
                    continue
            elif st is not None and st.found is not None:
                path = st.found
            restore.expect(ref, Path(path))
            self.window.models.open(path, arch=ref.arch, select=False)
        self._restore = restore
        lay = session.layout
        problems += restore_window_layout(self.window, lay.geometry, lay.window_state)
        for p in problems:
            self.state.message.emit("warning", p)
        self._apply_pending()
        return problems

    @property
    def _pending(self) -> dict:
        """Checkpoints of the session being restored that have not opened yet."""
        return self._restore.waiting if self._restore is not None else {}

    def _apply_pending(self) -> None:
        restore = self._restore
        if restore is None:
            return
        before = len(restore.problems)
        for entry in list(self.state.models):
            restore.model_opened(entry)
        for p in restore.problems[before:]:
            self.state.message.emit("warning", p)
        if restore.done:
            self._restore = None
            self.restored.emit(str(self.path or "autosave"))

    def _ask_for_file(self, status: FileStatus) -> Path | None:
        name = Path(status.ref.path).name
        what = ("was not found at its saved location" if status.status == "moved"
                else "has changed since the session was saved (its SHA-256 differs)")
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Session file problem")
        box.setText(f"<b>{rich(name)}</b> {what}.")
        box.setInformativeText(plain_rich(f"Saved path: {status.ref.path}\n{status.message}"))
        locate = box.addButton("Locate…", QMessageBox.ButtonRole.AcceptRole)
        use = box.addButton("Use it anyway", QMessageBox.ButtonRole.YesRole) if status.status == "changed" else None
        box.addButton("Skip", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is use and status.found is not None:
            return status.found
        if box.clickedButton() is locate:
            path, _ = QFileDialog.getOpenFileName(self.window, f"Locate {name}", str(Path(status.ref.path).parent))
            return Path(path) if path else None
        return None

    # --- files ----------------------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path | None:
        path = path or self.path
        if path is None:
            return self.save_as()
        if path.suffix != ".llab":
            path = path.with_suffix(".llab")
        try:
            save_session(self.capture(), path)
        except (OSError, SessionError) as exc:
            self.state.message.emit("error", f"could not save the session: {exc}")
            return None
        self.path = path
        self.saved.emit(str(path))
        self.state.message.emit("info", f"session saved to {path}")
        return path

    def save_as(self) -> Path | None:
        start = str(self.path or Path.cwd() / "session.llab")
        name, _ = QFileDialog.getSaveFileName(self.window, "Save session", start, SESSION_FILTER)
        return self.save(Path(name)) if name else None

    def open(self, path: Path | None = None, resolver: Resolver | None = None) -> bool:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(self.window, "Open session", str(Path.cwd()), SESSION_FILTER)
            if not name:
                return False
            path = Path(name)
        try:
            session = load_session(path)
        except (OSError, SessionError) as exc:
            self.state.message.emit("error", f"could not open the session: {exc}")
            return False
        self._close_all()
        self.path = Path(path)
        self.apply(session, self.path.parent, resolver)
        return True

    def _close_all(self) -> None:
        for entry in list(self.state.models):
            self.state.remove_model(entry)
        self.state.bookmarks.clear()
        self.state.bookmarksChanged.emit()

    # --- autosave and recovery -----------------------------------------------------------------------------------------
    def changed(self, *_args) -> None:
        if self.autosave_enabled:
            self._timer.start(int(AUTOSAVE_DELAY_S * 1000))

    def _note_activity(self, _source: str = "") -> None:
        self._last_activity = time.monotonic()

    def _autosave_when_idle(self) -> None:
        """The autosave timer: not in the middle of a drag, and the disk write off the GUI thread."""
        if time.monotonic() - self._last_activity < IDLE_BEFORE_AUTOSAVE_S:
            self._timer.start(int(IDLE_BEFORE_AUTOSAVE_S * 1000))
            return
        if not self.state.models:
            return
        session = self.capture()  # Qt state: on this thread; the rest (JSON, fsync, rename) is not
        self._join_writer()
        self._writer = threading.Thread(target=self._write, args=(session,), name="latentlab-autosave", daemon=True)
        self._writer.start()

    def _write(self, session: Session) -> bool:
        try:
            return self.autosave.save(session)
        except (OSError, SessionError) as exc:
            log.warning("autosave failed: %s", exc)
            return False

    def _join_writer(self) -> None:
        if self._writer is not None:
            self._writer.join(10.0)
            self._writer = None

    def autosave_now(self) -> bool:
        """Write the autosave now, on this thread; True if it was written."""
        if not self.state.models:
            return False
        self._join_writer()
        return self._write(self.capture())

    def begin(self, ask: bool = True) -> list:
        """Mark this run as running; offer to restore what a crashed run left behind."""
        try:
            recoveries = self.autosave.begin()
        except OSError as exc:
            log.warning("autosave unavailable: %s", exc)
            self.autosave_enabled = False
            return []
        self._heartbeat.start()
        if recoveries and ask:
            QTimer.singleShot(0, lambda: self._offer(recoveries))
        return recoveries

    def _beat(self) -> None:
        def beat() -> None:
            try:
                self.autosave.heartbeat()
            except OSError as exc:  # off the GUI thread: a hung network folder must not freeze the app
                log.warning("autosave heartbeat failed: %s", exc)

        threading.Thread(target=beat, name="latentlab-heartbeat", daemon=True).start()

    def _offer(self, recoveries) -> None:
        rec = recoveries[0]
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Restore session?")
        box.setText("latentlab did not shut down cleanly last time.")
        box.setInformativeText(f"Restore the session autosaved at {rec.saved}?")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard)
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        if box.exec() == QMessageBox.StandardButton.Yes:
            self.restore(rec)
        else:
            rec.discard()
            self.declined.emit()
        for other in recoveries[1:]:
            other.discard()

    def restore(self, recovery) -> None:
        try:
            session = recovery.load()
        except (OSError, SessionError) as exc:
            self.state.message.emit("error", f"the autosaved session could not be read: {exc}")
            return
        self.apply(session, None)
        recovery.discard()

    def end(self) -> None:
        self._timer.stop()
        self._heartbeat.stop()
        self._join_writer()
        if self.autosave_enabled:
            self.autosave.end()
