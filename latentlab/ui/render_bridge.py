"""Marshals render results from the core's worker thread onto the GUI thread, dropping stale ones.

A result is stale when a newer result for the same view has already been shown, or when it was rendered
for a model that is no longer current. The GUI thread only ever calls ``submit`` (a dict assignment under a
lock, or a lookup in the frames decoded before) and receives finished uint8 images: it never decodes and
never waits.

Every frame decoded in a batch of one that comes back (a single latent, or a grid row that the worker
decoded latent by latent, as it does on a CPU) is kept in a ``FrameCache`` for the current model, keyed by the device
it was decoded on; a request for a latent already decoded on the model's current device is answered from it,
through the same queued delivery as a render. A model moved to another device (by the device chooser, by a
CPU fallback, or under a compare slot that shares it) therefore never shows a frame from the old one.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from latentlab.core.frame_cache import FrameCache
from latentlab.core.model import LatentModel, device_of
from latentlab.core.render import RenderRequest, RenderResult, RenderWorker, interactive_threads

PREFETCH_VIEW = "prefetch:"  # one view per latent: batch-1 decodes, the only ones the cache takes
PREFETCH_PRIORITY = 5  # after the preview (0), before traversal-grid rows (10)


class RenderBridge(QObject):
    rendered = Signal(object)  # RenderResult, on the GUI thread
    notice = Signal(str)  # something the user should know about a render, e.g. a fall back to the CPU
    _fromWorker = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._seq = itertools.count(1)
        self._shown: dict[str, int] = {}
        self._token = 0
        self._model: LatentModel | None = None
        self.frames = FrameCache()
        self._fromWorker.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.worker = RenderWorker(self._post, name="latentlab-render", traced=True,
                                   threads=interactive_threads())

    def set_model(self, model: LatentModel | None, token: int) -> None:
        self._token = token
        self._model = model
        self._shown.clear()
        self.forget_frames()
        self.worker.set_model(model, token)

    def forget_frames(self) -> None:
        """Drop every frame kept (they are keyed by device already: this frees their memory)."""
        self.frames.clear()

    def _device(self) -> str:
        return str(device_of(self._model)) if self._model is not None else ""

    @property
    def token(self) -> int:
        return self._token

    def submit(self, view: str, z: np.ndarray, priority: int = 0, tag: object = None) -> int:
        seq = next(self._seq)
        z = np.array(z, dtype=np.float32, copy=True)
        image = self.frames.get(z, self._device()) if z.ndim == 1 else None
        if image is not None:
            # Decoded before: nothing to render, and an older request still waiting for this view is moot.
            self.worker.cancel(view, exact=True)
            now = time.perf_counter()
            self._fromWorker.emit(RenderResult(view, seq, self._token, image, created=now, finished=now, z=z,
                                               tag=tag, cached=True))
            return seq
        self.worker.submit(RenderRequest(view, z, seq=seq, model_token=self._token, priority=priority, tag=tag))
        return seq

    def prefetch(self, zs: np.ndarray) -> int:
        """Decode these latents one by one in the background (after the preview, before grid rows).

        Replaces an earlier prefetch not yet started. Returns how many were not decoded already.
        """
        self.worker.cancel(PREFETCH_VIEW)
        device = self._device()
        todo = [z for z in np.asarray(zs, dtype=np.float32) if not self.frames.holds(z, device)]
        for i, z in enumerate(todo):
            self.worker.submit(RenderRequest(f"{PREFETCH_VIEW}{i}", z.copy(), seq=next(self._seq),
                                             model_token=self._token, priority=PREFETCH_PRIORITY))
        return len(todo)

    def cancel(self, view_prefix: str) -> None:
        self.worker.cancel(view_prefix)

    def _post(self, res: RenderResult) -> None:
        """On the render thread: hand a result to the GUI thread."""
        try:
            self._fromWorker.emit(res)
        except RuntimeError:
            # The bridge's Qt half is gone (its window was deleted without being closed): nobody is left to
            # show results, so the worker stops instead of logging a failure for every frame.
            self.worker.stop(timeout=0)

    @Slot(object)
    def _deliver(self, res: RenderResult) -> None:
        if res.model_token != self._token:
            return
        if res.notice:
            self.notice.emit(res.notice)
        if res.ok and res.batch1 and not res.cached and res.image is not None and res.z is not None and res.device:
            if res.z.ndim == 1:
                self.frames.put(res.z, res.image, res.device)
            elif len(res.z) == len(res.image):  # a grid row decoded latent by latent, as CPUs do
                for z, img in zip(res.z, res.image, strict=True):
                    self.frames.put(z, img, res.device)
        if res.seq <= self._shown.get(res.view, 0):
            return
        self._shown[res.view] = res.seq
        self.rendered.emit(res)

    def stop(self) -> bool:
        return self.worker.stop()
