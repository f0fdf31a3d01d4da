"""The application model: open models, the current one and its latent, history, locks, bookmarks, per-model
directions and flows, the compare set, view and export settings. Plain Python with psygnal events, no Qt.

Views subscribe to the events and write back through the methods; no view reads another view. Every change
of the latent names its ``source`` so a view can ignore the echo of its own edit. Scripts, tests and sessions
drive this object directly (``latentlab.app.sessions`` saves and restores all of it).
"""

from __future__ import annotations

import numpy as np

from latentlab.app.bookmarks import Bookmark
from latentlab.app.entries import ModelEntry, ModelExtras
from latentlab.app.events import Event
from latentlab.app.history import LatentHistory
from latentlab.app.settings import ExportSettings, ViewSettings
from latentlab.app.style_editing import StyleEditing

MAX_COMPARE = 4


class AppModel(StyleEditing):
    """The state of one explorer window (see the module docstring)."""

    modelsChanged = Event()
    currentModelChanged = Event(object)  # ModelEntry | None
    latentChanged = Event(str)  # source of the change
    latentCommitted = Event()
    analysisChanged = Event(object)  # ModelEntry: its encoded samples / activity are ready (or failed)
    bookmarksChanged = Event()
    historyChanged = Event()
    rangeChanged = Event(float)
    locksChanged = Event()
    deviceChanged = Event(str)
    directionsChanged = Event(object)  # ModelEntry whose directions were set or cleared
    flowsChanged = Event(object)  # ModelEntry whose flows were set or cleared
    compareChanged = Event()
    conditionChanged = Event(object)  # ModelEntry whose condition (a conditioned decoder's c) was set
    styleChanged = Event(object)  # ModelEntry whose style settings (space, class, truncation, noise) changed
    lookChanged = Event(object)  # ModelEntry whose preview shows another synthesis layer (or the image again)
    message = Event(str, str)  # level ("info" | "warning" | "error"), text

    def __init__(self) -> None:
        self.models: list[ModelEntry] = []
        self.current: ModelEntry | None = None
        self.z = np.zeros(0, dtype=np.float32)
        self._committed = self.z.copy()
        self.history = LatentHistory()
        self.bookmarks: list[Bookmark] = []
        self.device = "cpu"
        self.view = ViewSettings()
        self.export = ExportSettings()
        self.compare: list[ModelEntry] = []  # the checkpoints ticked in the Compare view, in order
        self._extras: dict[int, ModelExtras] = {}
        self.view.events.range_std.connect(self.rangeChanged.emit)

    # --- models ---------------------------------------------------------------------------------------------
    def extras(self, entry: ModelEntry) -> ModelExtras:
        """What the user set up for ``entry`` (created empty on first use)."""
        return self._extras.setdefault(entry.token, ModelExtras())

    def entry_by_sha(self, sha256: str) -> ModelEntry | None:
        return next((m for m in self.models if m.checkpoint.sha256 == sha256), None)

    def add_model(self, entry: ModelEntry, select: bool = True) -> ModelEntry:
        """Add an opened checkpoint; the same file opened twice is the entry already there."""
        for old in self.models:
            if old.checkpoint.sha256 == entry.checkpoint.sha256 and old.path == entry.path:
                if select:
                    self.select_model(old)
                return old
        self.models.append(entry)
        self.extras(entry)
        self.modelsChanged.emit()
        if select:
            self.select_model(entry)
        return entry

    def remove_model(self, entry: ModelEntry) -> None:
        if entry not in self.models:
            return
        self.models.remove(entry)
        self._extras.pop(entry.token, None)
        if entry in self.compare:
            self.compare.remove(entry)
            self.compareChanged.emit()
        self.modelsChanged.emit()
        if self.current is entry:
            self.select_model(self.models[0] if self.models else None)

    def select_model(self, entry: ModelEntry | None) -> None:
        if entry is self.current:
            return
        if self.current is not None and self.current.token in self._extras:
            self.extras(self.current).latent = self.z.copy()
        self.current = entry
        self.history.clear()
        if entry is None:
            self.z = np.zeros(0, dtype=np.float32)
        else:
            saved = self.extras(entry).latent
            self.z = self.snap(saved.copy() if saved is not None else self._start_latent(entry))
        self._committed = self.z.copy()
        self.currentModelChanged.emit(entry)
        self.historyChanged.emit()
        self.locksChanged.emit()
        self.latentChanged.emit("model")

    def set_analysis(self, entry: ModelEntry, encoded, activity, error: str | None = None) -> None:
        entry.encoded, entry.activity, entry.analysis_error = encoded, activity, error
        self.analysisChanged.emit(entry)
        # A freshly opened model starts at the code of a real dataset image once one is known: the prior mean
        # of a VAE often decodes to an empty canvas, which reads as "broken" on first sight. Only an untouched
        # start moves; anything the user did stays.
        if (entry is self.current and encoded is not None and encoded.n and not self.locked
                and self.history.untouched and not self.z.any()):
            self.z = self.snap(self._start_latent(entry))
            self._committed = self.z.copy()
            self.latentChanged.emit("start")

    @staticmethod
    def _start_latent(entry: ModelEntry) -> np.ndarray:
        if entry.encoded is not None and entry.encoded.n:
            return np.asarray(entry.encoded.mean[0], dtype=np.float32)
        return np.zeros(entry.latent_dim, dtype=np.float32)

    def latent_of(self, entry: ModelEntry) -> np.ndarray | None:
        """The latent ``entry`` shows (the live one for the current model)."""
        return self.z if entry is self.current else self.extras(entry).latent

    # --- the latent -------------------------------------------------------------------------------------------
    def snap(self, z: np.ndarray) -> np.ndarray:
        """Quantized models only take codebook values. ``z`` is one latent (D,) or any stack (..., D)."""
        if self.current is None or not self.current.quantized:
            return z.astype(np.float32, copy=False)
        books = self.current.codebooks()
        out = z.astype(np.float32).copy()
        for j, cb in enumerate(books or []):
            col = out[..., j]
            out[..., j] = cb[np.argmin(np.abs(cb[None, :] - col.reshape(-1, 1)), axis=1)].reshape(col.shape)
        return out

    def set_dim(self, j: int, value: float, source: str, commit: bool = False) -> None:
        if self.current is None or not 0 <= j < len(self.z):
            return
        z = self.z.copy()
        z[j] = value
        self.set_latent(z, source, commit=commit, respect_locks=False)

    def set_latent(self, z: np.ndarray, source: str, commit: bool = True, respect_locks: bool = True) -> None:
        """Replace the latent. Locked dimensions keep their value unless the change comes from their slider."""
        if self.current is None:
            return
        z = np.asarray(z, dtype=np.float32).reshape(-1)
        if z.shape[0] != self.current.latent_dim:
            self.message.emit("error", f"latent of size {z.shape[0]} does not fit {self.current.name} "
                                       f"({self.current.latent_dim} dimensions)")
            return
        if not np.isfinite(z).all():
            self.message.emit("error", "ignored a latent with NaN or infinite values")
            return
        if respect_locks and self.locked:
            z = z.copy()
            for j in self.locked:
                z[j] = self.z[j]
        z = self.snap(z)
        if np.array_equal(z, self.z):
            # Nothing to redraw. Dragging a quantized slider lands on the same codebook value for many events.
            if commit:
                self.commit()
            return
        self.z = z
        self.latentChanged.emit(source)
        if commit:
            self.commit()

    def commit(self) -> None:
        """Mark the current latent as one step of history (call at the end of a drag)."""
        if np.array_equal(self._committed, self.z):
            return
        self.history.push(self._committed)
        self._committed = self.z.copy()
        self.historyChanged.emit()
        self.latentCommitted.emit()

    def _jump(self, z: np.ndarray | None, source: str) -> None:
        if z is not None:
            self.z = z
            self._committed = z.copy()
            self.latentChanged.emit(source)
            self.historyChanged.emit()

    def undo(self) -> None:
        self._jump(self.history.undo(self.z), "undo")

    def redo(self) -> None:
        self._jump(self.history.redo(self.z), "redo")

    def reset_all(self) -> None:
        if self.current is not None:
            self.set_latent(np.zeros(self.current.latent_dim, np.float32), "reset")

    def random_sample(self, seed: int) -> None:
        if self.current is None:
            return
        import torch

        gen = torch.Generator().manual_seed(int(seed))
        z = self.current.model.sample_prior(1, gen)[0].detach().cpu().numpy()
        self.set_latent(z, "random")

    # --- the condition of a conditioned decoder (z, c) -----------------------------------------------------------
    def set_condition(self, entry: ModelEntry, values) -> bool:
        """Decode ``entry`` under condition ``values`` (one per class or attribute); every view redraws."""
        import torch

        if not entry.conditioned:
            self.message.emit("error", f"{entry.name} takes no condition")
            return False
        c = np.asarray(values, dtype=np.float32).reshape(-1)
        try:
            entry.model.set_condition(torch.from_numpy(c.copy()))  # type: ignore[attr-defined]
        except ValueError as exc:
            self.message.emit("error", str(exc))
            return False
        self.conditionChanged.emit(entry)
        if entry is self.current:
            self.latentChanged.emit("condition")  # same latent, other image: every view of it redraws
        return True

    def toggle_condition(self, entry: ModelEntry, index: int, on: bool) -> bool:
        """Switch one class or attribute on or off (a one-hot condition moves to ``index`` when switched on)."""
        c = entry.condition()
        if c is None or not 0 <= index < len(c):
            return False
        if getattr(entry.model, "condition_exclusive", False):
            if not on:
                return False  # one class is always chosen
            c[:] = 0.0
        c[index] = 1.0 if on else 0.0
        return self.set_condition(entry, c)

    # --- locks and range ----------------------------------------------------------------------------------------
    @property
    def locked(self) -> set[int]:
        """The current model's locked dimensions (each model keeps its own)."""
        return self.extras(self.current).locked if self.current is not None else set()

    def set_locked(self, j: int, locked: bool) -> None:
        if self.current is None:
            return
        (self.locked.add if locked else self.locked.discard)(j)
        self.locksChanged.emit()

    @property
    def range_std(self) -> float:
        return self.view.range_std

    def set_range(self, std: float) -> None:
        self.view.range_std = self.view.checked("range_std", std)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Slider range per dimension: +-range_std prior std, or the codebook extent for quantized models."""
        if self.current is None:
            return np.zeros(0), np.zeros(0)
        books = self.current.codebooks()
        if books:
            lo = np.array([cb.min() for cb in books], dtype=np.float32)
            hi = np.array([cb.max() for cb in books], dtype=np.float32)
            pad = np.maximum((hi - lo) * 0.02, 1e-3)  # a one-value codebook still gets a usable range
            return lo - pad, hi + pad
        s = self.current.scale()
        return -self.range_std * s, self.range_std * s

    # --- bookmarks ------------------------------------------------------------------------------------------------
    def add_bookmark(self, name: str, note: str = "") -> Bookmark | None:
        if self.current is None:
            return None
        name = name.strip() or f"bookmark {len(self.bookmarks) + 1}"
        bm = Bookmark(name, self.z.copy(), self.current.checkpoint.sha256, note=note,
                      space=getattr(self.current.model, "latent_space", None))
        self.bookmarks.append(bm)
        self.bookmarksChanged.emit()
        return bm

    def remove_bookmark(self, bm: Bookmark) -> None:
        if any(b is bm for b in self.bookmarks):
            self.bookmarks = [b for b in self.bookmarks if b is not bm]
            self.bookmarksChanged.emit()

    def restore_bookmark(self, bm: Bookmark) -> None:
        if self.current is None:
            return
        if bm.model_sha != self.current.checkpoint.sha256:
            match = self.entry_by_sha(bm.model_sha)
            if match is None:
                self.message.emit("warning", f"bookmark {bm.name!r} belongs to a model that is not open")
                return
            self.select_model(match)
        self.set_latent(self._bookmark_latent(self.current, bm), "bookmark")

    def _bookmark_latent(self, entry: ModelEntry, bm: Bookmark) -> np.ndarray:
        """A bookmark of another latent space (a w from a projector while z is shown) in the view's space; the
        view switches to the bookmark's space when there is no way there (w to z)."""
        z = self.latent_in_space(entry, bm.z, bm.space)
        if z is None and bm.space is not None and self.set_style(entry, space=bm.space):
            return bm.z
        return bm.z if z is None else z

    def bookmarks_for_current(self) -> list[Bookmark]:
        if self.current is None:
            return []
        return [b for b in self.bookmarks if b.model_sha == self.current.checkpoint.sha256]

    def add_bookmarks(self, codes, source: str) -> int:
        """Latent codes made elsewhere (``core.latent_codes.LatentCode``s) as bookmarks of the current model."""
        if self.current is None:
            return 0
        sha = self.current.checkpoint.sha256
        for code in codes:
            self.bookmarks.append(Bookmark(code.name, code.vector.copy(), sha, note=f"imported from {source}",
                                           space=code.space))
        self.bookmarksChanged.emit()
        return len(codes)

    # --- directions and flows per model ------------------------------------------------------------------------------
    def set_directions(self, entry: ModelEntry, directions, file=None) -> None:
        ex = self.extras(entry)
        ex.directions, ex.directions_file = directions, file
        self.directionsChanged.emit(entry)

    def set_flows(self, entry: ModelEntry, flows, file=None, k: int | None = None) -> None:
        ex = self.extras(entry)
        ex.flows, ex.flows_file = flows, file
        if k is not None:
            ex.flow_k = int(k)
        elif flows is None or ex.flow_k >= getattr(flows, "n_potentials", ex.flow_k + 1):
            ex.flow_k = 0
        self.flowsChanged.emit(entry)

    # --- compare --------------------------------------------------------------------------------------------------
    def set_compared(self, entry: ModelEntry, on: bool) -> None:
        """Tick or untick ``entry`` in the Compare view (at most MAX_COMPARE, in the order ticked)."""
        present = any(e is entry for e in self.compare)
        if on and not present and entry in self.models and len(self.compare) < MAX_COMPARE:
            self.compare.append(entry)
        elif not on and present:
            self.compare = [e for e in self.compare if e is not entry]
        else:
            return
        self.compareChanged.emit()
