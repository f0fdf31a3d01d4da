"""Opening models off the GUI thread, analysing them once, moving them between devices, recent files."""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from latentlab.app import AppModel, ModelEntry
from latentlab.core.choices import BUILTIN_DATASETS
from latentlab.core.errors import LatentlabError
from latentlab.core.input_files import read_bytes
from latentlab.core.paths import atomic_write_bytes, data_dir
from latentlab.core.safe_json import loads_bounded
from latentlab.core.sidecars import find_sidecars
from latentlab.ui.job_runner import JobRunner

if TYPE_CHECKING:
    from latentlab.core.checkpoints import Trust, UntrustedFile

log = logging.getLogger(__name__)

ANALYSIS_SAMPLES = 3000


class RecentFiles:
    LIMIT = 12

    def __init__(self) -> None:
        self.path = data_dir() / "recent.json"

    def load(self) -> list[Path]:
        """The list as saved; an unreadable or hostile file (huge, deep, the wrong shape) is an empty list."""
        if not self.path.exists():
            return []
        try:
            raw = read_bytes(self.path, "the recent-files list", max_bytes=1024 * 1024)
            items = loads_bounded(raw, "the recent-files list", max_depth=4, path=self.path)
        except LatentlabError as exc:
            log.warning("ignoring the recent-files list: %s", exc)
            return []
        if not isinstance(items, list):
            return []
        return [Path(p) for p in items[: self.LIMIT] if isinstance(p, str) and p and "\x00" not in p]

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
    from latentlab.core.checkpoints import open_checkpoint

    ctx.progress(0.1, f"opening {path.name}")
    ck = open_checkpoint(path, arch=arch, trust=trust, device=device)
    sidecars = find_sidecars(ck.path, ck.sha256)
    ctx.progress(0.8, "reading the files beside it")
    shipped = read_sidecars(sidecars, ck)
    ctx.progress(1.0, "opened")
    return ck, sidecars, shipped


def read_sidecars(sidecars, ck) -> dict:
    """The flows and directions found beside a checkpoint, read (off the GUI thread); unusable ones noted."""
    from latentlab.core.directions import load_directions
    from latentlab.core.errors import LatentlabError
    from latentlab.core.flows import load_flows

    out: dict = {}
    try:
        if sidecars.flows is not None:
            out["flows"] = (load_flows(sidecars.flows, checkpoint_sha256=ck.sha256,
                                       latent_dim=ck.model.info.latent_dim), sidecars.flows)
        if sidecars.directions is not None:
            out["directions"] = (load_directions(sidecars.directions), sidecars.directions)
    except (LatentlabError, OSError) as exc:
        sidecars.notes.append(f"a file beside it could not be used ({exc})")
    return out


def analyse(ctx, model, dataset_name: str, n: int, seed: int = 0):
    """Encode ``n`` dataset samples once per model: activity labels and the latent map both use them."""
    from latentlab.core.activity import classify_activity
    from latentlab.core.data import get_dataset
    from latentlab.core.encode import encode_dataset

    ds = get_dataset(dataset_name)
    enc = encode_dataset(model, ds, n, seed=seed, ctx=ctx)
    act = classify_activity(enc.variance, enc.mean)
    return enc, act


class ModelManager(QObject):
    """Turns "open this file" into ModelEntries in the state, one load at a time, off the GUI thread."""

    loadingChanged = Signal(str)  # file name being loaded, or "" when idle
    trustRequested = Signal(object, object)  # path, the UntrustedFile error (its sha256 names the bytes refused)
    recentChanged = Signal(list)

    def __init__(self, state: AppModel, bridge, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.bridge = bridge  # the window's render service: it also moves models between devices
        self.loader = JobRunner(self, "open")
        self.analyser = JobRunner(self, "analysis")
        self.recent = RecentFiles()
        self._queue: deque[tuple[Path, bool | Trust, str | None, bool]] = deque()
        self._current_load: tuple[Path, bool | Trust, str | None, bool] | None = None
        self._analysing: ModelEntry | None = None
        self.loader.finished.connect(self._on_loaded)
        self.loader.error.connect(self._on_load_failed)
        self.loader.cancelled.connect(self._next)
        self.analyser.finished.connect(self._on_analysed)
        self.analyser.failed.connect(self._on_analysis_failed)
        bridge.moved.connect(self._on_moved)
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
        ck, sidecars, shipped = result
        entry = ModelEntry(ck, sidecars=sidecars)
        ds = ck.model.info.dataset
        entry.dataset_name = ds if ds in BUILTIN_DATASETS else None
        entry = self.state.add_model(entry, select=False)
        # What ships beside the checkpoint, unless a session being restored already set this model up.
        extras = self.state.extras(entry)
        if "flows" in shipped and extras.flows is None:
            self.state.set_flows(entry, *shipped["flows"])
        if "directions" in shipped and extras.directions is None:
            self.state.set_directions(entry, *shipped["directions"])
        if select or self.state.current is None:
            self.state.select_model(entry)
        self.recentChanged.emit(self.recent.add(ck.path))
        for note in [*ck.notes, *sidecars.notes]:
            self.state.message.emit("info", f"{ck.path.name}: {note}")
        self._next()

    def _on_load_failed(self, exc: Exception) -> None:
        from latentlab.core.checkpoints import UntrustedFile

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
        from latentlab.core.checkpoints import Trust

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
        from latentlab.core.device import resolve_device

        self.state.device = device
        entry = self.state.current
        if entry is None:
            self.state.deviceChanged.emit(device)
            return
        self._moving = entry
        self.analyser.cancel()
        self.analyser.wait(5.0)
        try:
            resolve_device(device)
        except LatentlabError as exc:
            self.state.message.emit("error", f"could not move the model: {exc}")
            return
        # On the model's render thread, between two decodes: no decode races the move.
        self.bridge.move(entry.token, device)

    def _on_moved(self, token: int, model, error) -> None:
        entry = getattr(self, "_moving", None)
        if entry is None or entry.token != token:
            return
        if error is not None:
            self.state.message.emit("error", f"could not move the model: {error}")
            return
        from latentlab.core.model import device_of

        self.state.deviceChanged.emit(str(device_of(model)))
        # The render service now routes this model to its new device's thread; show the next frame there.
        self.state.latentChanged.emit("device")
        if entry.encoded is None and not entry.analysis_error:
            self._maybe_analyse(entry)

    def shutdown(self) -> bool:
        self._queue.clear()
        return all(r.shutdown() for r in (self.loader, self.analyser))


def prior_latents(entry: ModelEntry, n: int, seed: int) -> np.ndarray:
    import torch

    return entry.model.sample_prior(n, torch.Generator().manual_seed(seed)).detach().cpu().numpy()
