"""The explorer's state: open models, the current latent, its history, locks and bookmarks.

Panels never talk to each other; they read and change this object and react to its signals. Every change
of the latent names its ``source`` so a panel can ignore the echo of its own edit.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.core.activity import Activity
from latentlab.core.checkpoint import Checkpoint
from latentlab.core.data import FactorDataset
from latentlab.core.encode import Encoded
from latentlab.core.model import Encodes, LatentModel, Quantized, prior_std
from latentlab.core.sidecars import Sidecars

_tokens = itertools.count(1)


@dataclass
class ModelEntry:
    """One opened checkpoint, as the app knows it."""

    checkpoint: Checkpoint
    token: int = field(default_factory=lambda: next(_tokens))
    activity: Activity | None = None
    encoded: Encoded | None = None  # dataset samples encoded once per model (latent map, activity, strip)
    dataset_name: str | None = None
    analysis_error: str | None = None
    sidecars: Sidecars = field(default_factory=Sidecars)  # its flows, directions and series found beside it
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def dataset(self) -> FactorDataset | None:
        if not self.dataset_name:
            return None
        from latentlab.core.data import get_dataset

        try:
            return get_dataset(self.dataset_name)
        except (ValueError, OSError):
            return None

    @property
    def model(self) -> LatentModel:
        return self.checkpoint.model

    @property
    def name(self) -> str:
        return self.model.info.name

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    @property
    def latent_dim(self) -> int:
        return self.model.info.latent_dim

    def _cached(self, key: str, compute):
        # Keyed on the model object: a device move replaces it. isinstance on a Protocol and codebook
        # copies are slow enough to show up when a slider drag asks on every event.
        model = self.model
        hit = self._cache.get(key)
        if hit is None or hit[0] is not model:
            hit = self._cache[key] = (model, compute(model))
        return hit[1]

    @property
    def encodes(self) -> bool:
        return self._cached("encodes", lambda m: isinstance(m, Encodes))

    @property
    def quantized(self) -> bool:
        return self._cached("quantized", lambda m: isinstance(m, Quantized))

    def codebooks(self) -> list[np.ndarray] | None:
        if not self.quantized:
            return None
        return self._cached("codebooks", lambda m: [cb.detach().cpu().numpy().astype(np.float32)
                                                    for cb in m.codebooks])

    def scale(self) -> np.ndarray:
        """Per-dimension prior standard deviation (slider units)."""
        return prior_std(self.model).numpy().astype(np.float32)


@dataclass
class Bookmark:
    name: str
    z: np.ndarray
    model_sha: str
    created: float = field(default_factory=time.time)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "z": self.z.tolist(), "model_sha": self.model_sha, "created": self.created,
                "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bookmark:
        return cls(str(d["name"]), np.asarray(d["z"], dtype=np.float32), str(d.get("model_sha", "")),
                   float(d.get("created", time.time())), str(d.get("note", "")))


class LatentHistory:
    """Undo/redo of committed latents (a drag commits once, on release)."""

    def __init__(self, limit: int = 200):
        self.limit = limit
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []

    def push(self, previous: np.ndarray) -> None:
        if self._undo and np.array_equal(self._undo[-1], previous):
            return
        self._undo.append(previous.copy())
        del self._undo[: -self.limit]
        self._redo.clear()

    def undo(self, current: np.ndarray) -> np.ndarray | None:
        if not self._undo:
            return None
        self._redo.append(current.copy())
        return self._undo.pop()

    def redo(self, current: np.ndarray) -> np.ndarray | None:
        if not self._redo:
            return None
        self._undo.append(current.copy())
        return self._redo.pop()

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)


class ExplorerState(QObject):
    """Shared state of one explorer window."""

    modelsChanged = Signal()
    currentModelChanged = Signal(object)  # ModelEntry | None
    latentChanged = Signal(str)  # source of the change
    latentCommitted = Signal()
    analysisChanged = Signal(object)  # ModelEntry: its encoded samples / activity are ready (or failed)
    bookmarksChanged = Signal()
    historyChanged = Signal()
    rangeChanged = Signal(float)
    locksChanged = Signal()
    deviceChanged = Signal(str)
    message = Signal(str, str)  # level ("info" | "warning" | "error"), text

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.models: list[ModelEntry] = []
        self.current: ModelEntry | None = None
        self.z = np.zeros(0, dtype=np.float32)
        self._committed = self.z.copy()
        self.history = LatentHistory()
        self.locked: set[int] = set()
        self.bookmarks: list[Bookmark] = []
        self.range_std = 3.0
        self.device = "cpu"
        self.latents_by_model: dict[int, np.ndarray] = {}

    # --- models ---------------------------------------------------------------------------------------------
    def add_model(self, entry: ModelEntry, select: bool = True) -> None:
        for old in self.models:
            if old.checkpoint.sha256 == entry.checkpoint.sha256 and old.path == entry.path:
                if select:
                    self.select_model(old)
                return
        self.models.append(entry)
        self.modelsChanged.emit()
        if select:
            self.select_model(entry)

    def remove_model(self, entry: ModelEntry) -> None:
        if entry not in self.models:
            return
        self.models.remove(entry)
        self.latents_by_model.pop(entry.token, None)
        self.modelsChanged.emit()
        if self.current is entry:
            self.select_model(self.models[0] if self.models else None)

    def select_model(self, entry: ModelEntry | None) -> None:
        if entry is self.current:
            return
        if self.current is not None:
            self.latents_by_model[self.current.token] = self.z.copy()
        self.current = entry
        self.history.clear()
        self.locked.clear()
        if entry is None:
            self.z = np.zeros(0, dtype=np.float32)
        else:
            self.z = self.latents_by_model.get(entry.token, self._start_latent(entry)).copy()
            self.z = self.snap(self.z)
        self._committed = self.z.copy()
        self.currentModelChanged.emit(entry)
        self.historyChanged.emit()
        self.locksChanged.emit()
        self.latentChanged.emit("model")

    def set_analysis(self, entry: ModelEntry, encoded: Encoded | None, activity: Activity | None,
                     error: str | None = None) -> None:
        entry.encoded, entry.activity, entry.analysis_error = encoded, activity, error
        self.analysisChanged.emit(entry)
        # A freshly opened model starts at the code of a real dataset image once one is known: the prior mean
        # of a VAE often decodes to an empty canvas, which reads as "broken" on first sight. Only an untouched
        # start moves; anything the user did stays.
        if (entry is self.current and encoded is not None and encoded.n and not self.locked
                and not self.history._undo and not self.z.any()):
            self.z = self.snap(self._start_latent(entry))
            self._committed = self.z.copy()
            self.latentChanged.emit("start")

    @staticmethod
    def _start_latent(entry: ModelEntry) -> np.ndarray:
        if entry.encoded is not None and entry.encoded.n:
            return np.asarray(entry.encoded.mean[0], dtype=np.float32)
        return np.zeros(entry.latent_dim, dtype=np.float32)

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

    def undo(self) -> None:
        prev = self.history.undo(self.z)
        if prev is not None:
            self.z = prev
            self._committed = prev.copy()
            self.latentChanged.emit("undo")
            self.historyChanged.emit()

    def redo(self) -> None:
        nxt = self.history.redo(self.z)
        if nxt is not None:
            self.z = nxt
            self._committed = nxt.copy()
            self.latentChanged.emit("redo")
            self.historyChanged.emit()

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

    # --- locks, range, bookmarks -----------------------------------------------------------------------------------
    def set_locked(self, j: int, locked: bool) -> None:
        (self.locked.add if locked else self.locked.discard)(j)
        self.locksChanged.emit()

    def set_range(self, std: float) -> None:
        self.range_std = float(max(0.5, min(10.0, std)))
        self.rangeChanged.emit(self.range_std)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Slider range per dimension: +-range_std prior std, or the codebook extent for quantized models."""
        if self.current is None:
            return np.zeros(0), np.zeros(0)
        books = self.current.codebooks()
        if books:
            lo = np.array([cb.min() for cb in books], dtype=np.float32)
            hi = np.array([cb.max() for cb in books], dtype=np.float32)
            pad = (hi - lo) * 0.02
            return lo - pad, hi + pad
        s = self.current.scale()
        return -self.range_std * s, self.range_std * s

    def add_bookmark(self, name: str, note: str = "") -> Bookmark | None:
        if self.current is None:
            return None
        name = name.strip() or f"bookmark {len(self.bookmarks) + 1}"
        bm = Bookmark(name, self.z.copy(), self.current.checkpoint.sha256, note=note)
        self.bookmarks.append(bm)
        self.bookmarksChanged.emit()
        return bm

    def remove_bookmark(self, bm: Bookmark) -> None:
        if bm in self.bookmarks:
            self.bookmarks.remove(bm)
            self.bookmarksChanged.emit()

    def restore_bookmark(self, bm: Bookmark) -> None:
        if self.current is None:
            return
        if bm.model_sha != self.current.checkpoint.sha256:
            match = next((m for m in self.models if m.checkpoint.sha256 == bm.model_sha), None)
            if match is None:
                self.message.emit("warning", f"bookmark {bm.name!r} belongs to a model that is not open")
                return
            self.select_model(match)
        self.set_latent(bm.z, "bookmark")

    def bookmarks_for_current(self) -> list[Bookmark]:
        if self.current is None:
            return []
        return [b for b in self.bookmarks if b.model_sha == self.current.checkpoint.sha256]
