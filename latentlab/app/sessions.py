"""An AppModel to a session and back: everything a user set, for every open model, never read from widgets.

``capture(app)`` writes each open checkpoint (by path and SHA-256) with its latent, locks and the potential
its Flows view plays; bookmarks; every model's directions (by file when they came from or went to one, else
inline vectors) and flows (by file); the compare set; view and export settings. ``Restore`` applies a
session as its checkpoints finish opening (opening files is the caller's: the app does it off the GUI thread,
after asking about moved files and trust); what cannot be restored is collected in ``problems``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.app.bookmarks import Bookmark
from latentlab.app.entries import ModelEntry
from latentlab.app.explorer import AppModel
from latentlab.app.settings import ViewSettings
from latentlab.core.errors import LatentlabError
from latentlab.core.session import Bookmark as SessionBookmark
from latentlab.core.session import CheckpointRef, DirectionRef, FileRef, FlowRef, Session
from latentlab.core.style_settings import EDIT_SPACES, StyleSettings

log = logging.getLogger(__name__)

_VIEW_KEYS = {f.name for f in fields(ViewSettings)}


def _file_ref(path: Path | None) -> FileRef | None:
    if path is None or not Path(path).is_file():
        return None
    return FileRef.of(path)


def capture(app: AppModel) -> Session:
    """The session of everything in ``app`` (the window layout is the UI's to add)."""
    session = Session()
    ids = {e.token: f"c{i}" for i, e in enumerate(app.models)}
    for entry in app.models:
        session.checkpoints.append(_checkpoint_ref(app, entry, ids[entry.token]))
        _capture_extras(app, entry, ids[entry.token], session)
    if app.current is not None:
        session.active = ids[app.current.token]
    by_sha = {e.checkpoint.sha256: ids[e.token] for e in app.models}
    for bm in app.bookmarks:
        session.bookmarks.append(SessionBookmark(bm.name, bm.z.copy(), by_sha.get(bm.model_sha), bm.note, bm.space))
    session.layout.view = {**app.view.to_dict(), "export": app.export.to_dict(),
                           "compare": [ids[e.token] for e in app.compare if e.token in ids]}
    return session


def _checkpoint_ref(app: AppModel, entry: ModelEntry, cid: str) -> CheckpointRef:
    latent = app.latent_of(entry)
    ex = app.extras(entry)
    view: dict[str, Any] = {}
    if ex.locked:
        view["locked"] = sorted(ex.locked)
    if ex.flows is not None:
        view["flow_k"] = ex.flow_k
    condition = entry.condition()
    if condition is not None:
        view["condition"] = [float(v) for v in condition]
    style = app.style_of(entry)
    if style is not None:
        view["style"] = style.to_dict()
    size = entry.path.stat().st_size if entry.path.exists() else None
    return CheckpointRef(
        id=cid,
        file=FileRef(path=str(entry.path.resolve()), sha256=entry.checkpoint.sha256, size=size),
        latent=None if latent is None or latent.size == 0 else np.asarray(latent, np.float32).copy(),
        name=entry.name,
        # Plain state_dict files do not say what they are: keep the network they were opened as.
        arch=entry.checkpoint.card.get("architecture") if entry.checkpoint.format == "state_dict" else None,
        view=view,
    )


def _capture_extras(app: AppModel, entry: ModelEntry, cid: str, session: Session) -> None:
    ex = app.extras(entry)
    if ex.directions is not None:
        file = _file_ref(ex.directions_file)
        for d in ex.directions:
            if file is not None:
                session.directions.append(DirectionRef(d.name, cid, file, d.name, None))
            elif d.vector is not None:
                session.directions.append(DirectionRef(d.name, cid, None, None, np.asarray(d.vector).copy()))
            else:
                log.warning("direction %s is a field never saved to a file; it is not in the session", d.name)
    file = _file_ref(ex.flows_file) if ex.flows is not None else None
    if file is not None:
        session.flows.append(FlowRef(Path(file.path).name, file, cid, str(ex.flow_k)))


def _bookmark_dim(entry: ModelEntry, space: str | None) -> int:
    """The size a bookmark of ``space`` has for ``entry`` (its view's size when it names no space)."""
    if space in EDIT_SPACES and hasattr(entry.model, "latent_space"):
        from latentlab.core.style_edit import latent_dim_of

        return latent_dim_of(entry.model, space)
    return entry.latent_dim


class Restore:
    """Applies ``session`` to ``app`` as its checkpoints open; call ``model_opened`` for each entry added."""

    def __init__(self, app: AppModel, session: Session):
        self.app = app
        self.session = session
        self.problems: list[str] = []
        self.waiting: dict[str, CheckpointRef] = {}  # resolved path -> the reference still to apply
        self._opened: dict[str, ModelEntry] = {}  # checkpoint id -> entry
        refused = app.view.update({k: v for k, v in session.layout.view.items() if k in _VIEW_KEYS})
        export = session.layout.view.get("export")
        if isinstance(export, dict):
            refused += [f"export.{k}" for k in app.export.update(export)]
        if refused:
            log.warning("session: ignoring settings of the wrong type or range: %s", ", ".join(refused))
            self.problems.append(f"the session's {', '.join(refused)} setting(s) could not be used; "
                                 "kept the current ones")

    def expect(self, ref: CheckpointRef, path: Path) -> None:
        """``ref``'s checkpoint is being opened from ``path`` (after any relinking)."""
        self.waiting[str(Path(path).resolve())] = ref

    @property
    def done(self) -> bool:
        return not self.waiting

    def model_opened(self, entry: ModelEntry) -> bool:
        """Apply what the session holds for ``entry`` (if it is one of its checkpoints); True when it was."""
        ref = self.waiting.pop(str(entry.path.resolve()), None)
        if ref is None:
            return False
        self._opened[ref.id] = entry
        app = self.app
        ex = app.extras(entry)
        self._restore_style(entry, ref.view.get("style"))
        if ref.latent is not None and ref.latent.shape[0] == entry.latent_dim:
            ex.latent = ref.latent.copy()
        ex.locked = {int(j) for j in ref.view.get("locked", []) if isinstance(j, int) and 0 <= j < entry.latent_dim}
        self._restore_condition(entry, ref.view.get("condition"))
        for bm in self.session.bookmarks:
            if bm.checkpoint == ref.id and bm.latent.shape[0] == _bookmark_dim(entry, bm.space):
                app.bookmarks.append(Bookmark(bm.name, bm.latent.copy(), entry.checkpoint.sha256, note=bm.note,
                                              space=bm.space if bm.space in EDIT_SPACES else None))
        app.bookmarksChanged.emit()
        self._restore_directions(entry, ref)
        self._restore_flows(entry, ref)
        if ref.id in self.session.layout.view.get("compare", []):
            app.set_compared(entry, True)
        if self.session.active == ref.id:
            if app.current is entry:  # already current: its saved latent is not applied by selecting it
                app.set_latent(ex.latent if ex.latent is not None else app.z, "session", commit=False)
                app.locksChanged.emit()
            app.select_model(entry)
        return True

    def _restore_style(self, entry: ModelEntry, saved: Any) -> None:
        if saved is None:
            return
        if self.app.style_of(entry) is None:
            self.problems.append(f"the session has style settings for {entry.name}, which is not a style generator")
            return
        try:
            settings = StyleSettings.from_dict(saved)
        except LatentlabError as exc:
            self.problems.append(f"the style settings saved for {entry.name} could not be used: {exc}")
            return
        if not self.app.set_style(entry, **asdict(settings)):
            self.problems.append(f"the style settings saved for {entry.name} do not fit it; kept its defaults")

    def _restore_condition(self, entry: ModelEntry, saved: Any) -> None:
        if saved is None or not entry.conditioned:
            return
        c = entry.condition()
        ok = (isinstance(saved, list) and c is not None and len(saved) == len(c)
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in saved))
        if not ok:
            self.problems.append(f"the condition saved for {entry.name} does not fit it; it starts with all off")
            return
        self.app.set_condition(entry, np.asarray(saved, np.float32))

    def _restore_directions(self, entry: ModelEntry, ref: CheckpointRef) -> None:
        from latentlab.core.directions import Direction, DirectionSet, load_directions

        refs = [r for r in self.session.directions if r.checkpoint == ref.id]
        if not refs:
            return
        found: list = []
        file = None
        for path in dict.fromkeys(r.file.path for r in refs if r.file is not None):
            try:
                loaded = load_directions(path)
            except (LatentlabError, OSError) as exc:
                self.problems.append(f"directions of {entry.name}: {exc}")
                continue
            wanted = {r.key for r in refs if r.file is not None and r.file.path == path}
            found += [d for d in loaded if d.name in wanted or not wanted]
            file = Path(path)
        found += [Direction(r.name, "session", {}, vector=r.vector) for r in refs if r.vector is not None]
        if found:
            self.app.set_directions(entry, DirectionSet(entry.latent_dim, found, entry.checkpoint.sha256,
                                                        entry.name, {}), file)

    def _restore_flows(self, entry: ModelEntry, ref: CheckpointRef) -> None:
        from latentlab.core.flows import load_flows

        for fr in self.session.flows:
            if fr.checkpoint != ref.id:
                continue
            try:
                flows = load_flows(fr.file.path, checkpoint_sha256=entry.checkpoint.sha256,
                                   latent_dim=entry.latent_dim)
            except (LatentlabError, OSError) as exc:
                self.problems.append(f"flows of {entry.name}: {exc}")
                continue
            k = int(fr.key) if fr.key and fr.key.isdigit() else int(ref.view.get("flow_k", 0) or 0)
            self.app.set_flows(entry, flows, Path(fr.file.path), k=min(max(k, 0), max(0, flows.n_potentials - 1)))
