"""Sessions in the app: save/open .llab files, autosave a few seconds after each change, restore after a crash.

The window's state is captured into a core ``Session`` (checkpoints by path and SHA-256, latents, bookmarks,
panel layout) and applied back once the checkpoints have loaded. Panels with state of their own (directions,
flows, compare) register a provider with ``capture(session)`` and ``apply(session, entries_by_id)``.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from latentlab.core.session import (
    AUTOSAVE_DELAY_S,
    HEARTBEAT_S,
    Autosave,
    CheckpointRef,
    FileRef,
    FileStatus,
    Session,
    SessionError,
    check_files,
    load_session,
    relink,
    save_session,
)
from latentlab.core.session import (
    Bookmark as SessionBookmark,
)
from latentlab.core.text import printable
from latentlab.ui.layout_restore import integer, number, restore_window_layout
from latentlab.ui.safe_text import plain_rich, rich
from latentlab.ui.state import Bookmark, ExplorerState, ModelEntry

log = logging.getLogger(__name__)

IDLE_BEFORE_AUTOSAVE_S = 1.0  # no autosave while the latent moved this recently (a drag is going on)
SESSION_FILTER = "latentlab sessions (*.llab);;All files (*)"


class SessionProvider(Protocol):
    def capture(self, session: Session, ids: dict[int, str]) -> None: ...

    def apply(self, session: Session, entries: dict[str, ModelEntry]) -> None: ...


# A function that resolves a moved/changed file: returns a new path, or None to skip that file.
Resolver = Callable[[FileStatus], Path | None]


class SessionController(QObject):
    saved = Signal(str)
    restored = Signal(str)
    declined = Signal()  # the user chose not to restore a crashed session

    def __init__(self, window, state: ExplorerState, autosave: Autosave | None = None):
        super().__init__(window)
        self.window = window
        self.state = state
        self.path: Path | None = None
        self.providers: list[SessionProvider] = []
        self.autosave = autosave or Autosave()
        self.autosave_enabled = True
        self._timer = QTimer(self, singleShot=True, interval=int(AUTOSAVE_DELAY_S * 1000), timeout=self._autosave_when_idle)
        # Tells apps on other hosts of a shared home that this run is alive (see core.session.autosave).
        self._heartbeat = QTimer(self, interval=int(HEARTBEAT_S * 1000), timeout=self._beat)
        self._last_activity = 0.0
        self._writer: threading.Thread | None = None
        state.latentChanged.connect(self._note_activity)
        self._pending: dict[str, tuple[CheckpointRef, Session]] = {}
        for sig in (state.modelsChanged, state.latentCommitted, state.bookmarksChanged, state.currentModelChanged,
                    state.locksChanged, state.rangeChanged):
            sig.connect(self.changed)
        state.modelsChanged.connect(self._apply_pending)

    # --- capture --------------------------------------------------------------------------------------------------
    def capture(self) -> Session:
        st = self.state
        session = Session()
        ids: dict[int, str] = {}
        for i, entry in enumerate(st.models):
            cid = f"c{i}"
            ids[entry.token] = cid
            latent = st.z if entry is st.current else st.latents_by_model.get(entry.token)
            view: dict[str, Any] = {}
            if entry is st.current and st.locked:
                view["locked"] = sorted(st.locked)
            ref = CheckpointRef(
                id=cid,
                file=FileRef(path=str(entry.path.resolve()), sha256=entry.checkpoint.sha256,
                             size=entry.path.stat().st_size if entry.path.exists() else None),
                latent=None if latent is None or latent.size == 0 else np.asarray(latent, np.float32).copy(),
                name=entry.name,
                # Plain state_dict files do not say what they are: keep the network they were opened as.
                arch=entry.checkpoint.card.get("architecture") if entry.checkpoint.format == "state_dict" else None,
                view=view,
            )
            session.checkpoints.append(ref)
        if st.current is not None:
            session.active = ids[st.current.token]
        by_sha = {e.checkpoint.sha256: ids[e.token] for e in st.models}
        for bm in st.bookmarks:
            session.bookmarks.append(SessionBookmark(bm.name, bm.z.copy(), by_sha.get(bm.model_sha), bm.note))
        win = self.window
        session.layout.window_state = base64.b64encode(bytes(win.saveState())).decode()
        session.layout.geometry = base64.b64encode(bytes(win.saveGeometry())).decode()
        session.layout.view = {
            "range_std": st.range_std,
            "grid_dims": win.grid.dims_edit.text(),
            "grid_steps": win.grid.steps.value(),
            "show_passive": win.sliders.show_passive.isChecked(),
            "map_method": win.latent_map.method.currentText(),
        }
        for p in self.providers:
            p.capture(session, ids)
        return session

    # --- apply ----------------------------------------------------------------------------------------------------
    def apply(self, session: Session, base: Path | None, resolver: Resolver | None = None) -> list[str]:
        """Open the session's checkpoints and restore the rest as they load; returns what could not be restored."""
        problems: list[str] = []
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
            self._pending[str(Path(path).resolve())] = (ref, session)
            self.window.models.open(path, arch=ref.arch, select=False)
        lay = session.layout
        problems += restore_window_layout(self.window, lay.geometry, lay.window_state)
        problems += self._apply_view(lay.view)
        for p in problems:
            self.state.message.emit("warning", p)
        self._apply_pending()
        return problems

    def _apply_view(self, v: dict[str, Any]) -> list[str]:
        """The panels' settings from a session; a value of the wrong type or range is skipped (and said)."""
        win, skipped = self.window, []
        spin = win.sliders.range_spin
        if "range_std" in v:
            r = number(v["range_std"], spin.minimum(), spin.maximum())
            if r is None:
                skipped.append("range_std")
            else:
                self.state.set_range(r)
                spin.setValue(r)
        if "grid_dims" in v:
            if isinstance(v["grid_dims"], str) and len(v["grid_dims"]) <= 1000:
                win.grid.dims_edit.setText(printable(v["grid_dims"]))
            else:
                skipped.append("grid_dims")
        if "grid_steps" in v:
            steps = integer(v["grid_steps"], win.grid.steps.minimum(), win.grid.steps.maximum())
            if steps is None:
                skipped.append("grid_steps")
            else:
                win.grid.steps.setValue(steps)
        if "show_passive" in v:
            if isinstance(v["show_passive"], bool):
                win.sliders.show_passive.setChecked(v["show_passive"])
            else:
                skipped.append("show_passive")
        if v.get("map_method") in ("PCA", "t-SNE"):
            win.latent_map.method.setCurrentText(v["map_method"])
        if skipped:
            log.warning("session: ignoring view settings of the wrong type or range: %s", ", ".join(skipped))
            return [f"the session's {', '.join(skipped)} setting(s) could not be used; kept the current ones"]
        return []

    def _apply_pending(self) -> None:
        if not self._pending:
            return
        for entry in list(self.state.models):
            key = str(entry.path.resolve())
            if key not in self._pending:
                continue
            ref, session = self._pending.pop(key)
            if ref.latent is not None and ref.latent.shape[0] == entry.latent_dim:
                self.state.latents_by_model[entry.token] = ref.latent.copy()
            for bm in session.bookmarks:
                if bm.checkpoint == ref.id and bm.latent.shape[0] == entry.latent_dim:
                    self.state.bookmarks.append(Bookmark(bm.name, bm.latent.copy(), entry.checkpoint.sha256, note=bm.note))
            self.state.bookmarksChanged.emit()
            entries = {ref.id: entry}
            if session.active == ref.id:
                self.state.select_model(entry)
                if ref.latent is not None and ref.latent.shape[0] == entry.latent_dim:
                    self.state.set_latent(ref.latent, "session", commit=False)
                locked = ref.view.get("locked", [])
                for j in locked if isinstance(locked, list) else []:
                    if integer(j, 0, entry.latent_dim - 1) is not None:
                        self.state.set_locked(j, True)
            for p in self.providers:
                p.apply(session, entries)
        if not self._pending:
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


class DirectionsSessionProvider:
    """Directions in a session: by file when they were loaded from or saved to one, else inline vectors."""

    def __init__(self, panel):
        self.panel = panel

    def capture(self, session: Session, ids: dict[int, str]) -> None:
        from latentlab.core.session import DirectionRef

        panel = self.panel
        entry = panel.state.current
        if not panel.set or entry is None:
            return
        cid = ids.get(entry.token)
        for d in panel.set:
            if panel.file is not None and panel.file.exists():
                session.directions.append(DirectionRef(d.name, cid, FileRef.of(panel.file), d.name, None))
            elif d.vector is not None:
                session.directions.append(DirectionRef(d.name, cid, None, None, d.vector.copy()))
            else:
                log.warning("direction %s is a field that was never saved to a file; it is not in the session", d.name)

    def apply(self, session: Session, entries: dict[str, ModelEntry]) -> None:
        from latentlab.core.directions import Direction, DirectionSet

        panel = self.panel
        refs = [r for r in session.directions if r.checkpoint in entries]
        if not refs:
            return
        entry = entries[refs[0].checkpoint]
        if entry is not panel.state.current:
            return  # directions act on the model being explored
        files = {r.file.path for r in refs if r.file is not None}
        for f in files:
            panel.load(Path(f))
        inline = [Direction(r.name, "session", {}, vector=r.vector) for r in refs if r.vector is not None]
        if inline:
            panel.add_directions(DirectionSet(entry.latent_dim, inline, entry.checkpoint.sha256, entry.name, {}))


class FlowsSessionProvider:
    """Flows in a session, by file (trained flows are kept in the data folder automatically)."""

    def __init__(self, panel):
        self.panel = panel

    def capture(self, session: Session, ids: dict[int, str]) -> None:
        from latentlab.core.session import FlowRef

        panel = self.panel
        entry = panel.state.current
        if panel.flows is None or entry is None or panel.flows_file is None or not panel.flows_file.exists():
            return
        session.flows.append(FlowRef(panel.flows_file.name, FileRef.of(panel.flows_file), ids.get(entry.token),
                                     str(panel.k.value())))

    def apply(self, session: Session, entries: dict[str, ModelEntry]) -> None:
        panel = self.panel
        for ref in session.flows:
            entry = entries.get(ref.checkpoint)
            if entry is None or entry is not panel.state.current:
                continue
            if panel.load(Path(ref.file.path)) and ref.key and ref.key.isdigit() and len(ref.key) < 6:
                panel.k.setValue(int(ref.key))  # the spin box clamps it to the potentials the flows have
