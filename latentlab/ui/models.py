"""Opening models off the GUI thread, analysing them once, moving them between devices, recent files."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.core.activity import classify_activity
from latentlab.core.checkpoints import Trust, UntrustedFile, open_checkpoint
from latentlab.core.data import BUILTIN
from latentlab.core.device import resolve_device
from latentlab.core.encode import encode_dataset
from latentlab.core.paths import atomic_write_bytes, data_dir
from latentlab.core.sidecars import find_sidecars, is_sidecar
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.state import ExplorerState, ModelEntry

log = logging.getLogger(__name__)

ANALYSIS_SAMPLES = 3000
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def demo_model_paths() -> list[Path]:
    """The shipped demo checkpoints (``LATENTLAB_MODELS`` may point elsewhere); their flows and direction files
    are opened with them, not as models."""
    folder = Path(os.environ.get("LATENTLAB_MODELS", REPO_MODELS))
    return sorted(p for p in folder.glob("*.safetensors") if not is_sidecar(p)) if folder.is_dir() else []


class RecentFiles:
    LIMIT = 12

    def __init__(self) -> None:
        self.path = data_dir() / "recent.json"

    def load(self) -> list[Path]:
        try:
            items = json.loads(self.path.read_text())
            return [Path(p) for p in items if isinstance(p, str)]
        except (OSError, ValueError):
            return []

    def add(self, path: Path) -> list[Path]:
        items = [p for p in self.load() if p != path.resolve()]
        items.insert(0, path.resolve())
        items = items[: self.LIMIT]
        try:
            atomic_write_bytes(self.path, json.dumps([str(p) for p in items]).encode())
        except OSError:
            log.warning("could not save the recent-files list")
        return items


def _open(ctx, path: Path, trust: bool | Trust, device: str, arch: str | None):
    ctx.progress(0.1, f"opening {path.name}")
    ck = open_checkpoint(path, arch=arch, trust=trust, device=device)
    sidecars = find_sidecars(ck.path, ck.sha256)
    ctx.progress(1.0, "opened")
    return ck, sidecars


def analyse(ctx, model, dataset_name: str, n: int, seed: int = 0):
    """Encode ``n`` dataset samples once per model: activity labels and the latent map both use them."""
    from latentlab.core.data import get_dataset

    ds = get_dataset(dataset_name)
    enc = encode_dataset(model, ds, n, seed=seed, ctx=ctx)
    act = classify_activity(enc.variance, enc.mean)
    return enc, act


def _move(ctx, model, device: str, lock):
    ctx.progress(0.2, f"moving to {device}")
    dev = resolve_device(device)
    with lock:  # no decode may run while the weights change device
        return model.to(dev)


class ModelManager(QObject):
    """Turns "open this file" into ModelEntries in the state, one load at a time, off the GUI thread."""

    loadingChanged = Signal(str)  # file name being loaded, or "" when idle
    trustRequested = Signal(object, object)  # path, the UntrustedFile error (its sha256 names the bytes refused)
    recentChanged = Signal(list)

    def __init__(self, state: ExplorerState, render_lock=None, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.render_lock = render_lock if render_lock is not None else threading.Lock()
        self.loader = JobRunner(self, "open")
        self.analyser = JobRunner(self, "analysis")
        self.mover = JobRunner(self, "device")
        self.recent = RecentFiles()
        self._queue: deque[tuple[Path, bool | Trust, str | None, bool]] = deque()
        self._current_load: tuple[Path, bool | Trust, str | None, bool] | None = None
        self._analysing: ModelEntry | None = None
        self.loader.finished.connect(self._on_loaded)
        self.loader.error.connect(self._on_load_failed)
        self.loader.cancelled.connect(self._next)
        self.analyser.finished.connect(self._on_analysed)
        self.analyser.failed.connect(self._on_analysis_failed)
        self.mover.finished.connect(self._on_moved)
        self.mover.failed.connect(lambda msg: state.message.emit("error", f"could not move the model: {msg}"))
        state.currentModelChanged.connect(self._maybe_analyse)

    # --- opening ----------------------------------------------------------------------------------------------
    def open(self, path: str | os.PathLike, trust: bool | Trust = False, arch: str | None = None,
             select: bool = True) -> None:
        self._queue.append((Path(path), trust, arch, select))
        if not self.loader.busy and self._current_load is None:
            self._next()

    def _next(self) -> None:
        self._current_load = None
        if not self._queue:
            self.loadingChanged.emit("")
            return
        self._current_load = self._queue.popleft()
        path, trust, arch, _ = self._current_load
        self.loadingChanged.emit(path.name)
        self.loader.start(_open, path, trust, self.state.device, arch, label=f"opening {path.name}")

    def _on_loaded(self, result) -> None:
        assert self._current_load is not None
        _, _, _, select = self._current_load
        ck, sidecars = result
        entry = ModelEntry(ck, sidecars=sidecars)
        ds = ck.model.info.dataset
        entry.dataset_name = ds if ds in BUILTIN else None
        self.state.add_model(entry, select=select or self.state.current is None)
        self.recentChanged.emit(self.recent.add(ck.path))
        for note in [*ck.notes, *sidecars.notes]:
            self.state.message.emit("info", f"{ck.path.name}: {note}")
        self._next()

    def _on_load_failed(self, exc: Exception) -> None:
        assert self._current_load is not None
        path, trust, _, _ = self._current_load
        self._current_load = None
        if isinstance(exc, UntrustedFile) and not trust:
            # Only the user can decide to run code from a file: ask, never assume.
            self.trustRequested.emit(path, exc)
        else:
            self.state.message.emit("error", f"Could not open {exc}")
        self._next()

    def open_trusted(self, path: Path, refusal: UntrustedFile) -> None:
        """Open ``path`` trusting exactly the bytes that ``refusal`` was about (changed bytes are refused)."""
        self.open(path, trust=Trust.for_refusal(refusal))

    # --- analysis ----------------------------------------------------------------------------------------------
    def _maybe_analyse(self, entry: ModelEntry | None) -> None:
        if entry is None or entry.encoded is not None or entry.analysis_error:
            return
        if not entry.encodes or entry.dataset_name is None:
            self.state.set_analysis(entry, None, None)
            return
        self._analysing = entry
        self.analyser.start(analyse, entry.model, entry.dataset_name, ANALYSIS_SAMPLES,
                            label=f"encoding {ANALYSIS_SAMPLES} {entry.dataset_name} samples")

    def _on_analysed(self, result) -> None:
        entry = self._analysing
        self._analysing = None
        if entry is None:
            return
        enc, act = result
        self.state.set_analysis(entry, enc, act)

    def _on_analysis_failed(self, msg: str) -> None:
        entry = self._analysing
        self._analysing = None
        if entry is not None:
            self.state.set_analysis(entry, None, None, error=msg)
            self.state.message.emit("warning", f"could not analyse {entry.name}: {msg}")

    # --- device ------------------------------------------------------------------------------------------------
    def set_device(self, device: str) -> None:
        self.state.device = device
        entry = self.state.current
        if entry is None:
            self.state.deviceChanged.emit(device)
            return
        self._moving = entry
        self.analyser.cancel()
        self.analyser.wait(5.0)
        self.mover.start(_move, entry.model, device, self.render_lock, label=f"moving {entry.name} to {device}")

    def _on_moved(self, model) -> None:
        entry = getattr(self, "_moving", None)
        if entry is None:
            return
        from latentlab.core.model import device_of

        self.state.deviceChanged.emit(str(device_of(model)))
        # The renderer decodes on device_of(model), so the next frame already uses the new device.
        self.state.latentChanged.emit("device")
        if entry.encoded is None and not entry.analysis_error:
            self._maybe_analyse(entry)

    def shutdown(self) -> bool:
        self._queue.clear()
        return all(r.shutdown() for r in (self.loader, self.analyser, self.mover))


def prior_latents(entry: ModelEntry, n: int, seed: int) -> np.ndarray:
    import torch

    return entry.model.sample_prior(n, torch.Generator().manual_seed(seed)).detach().cpu().numpy()
