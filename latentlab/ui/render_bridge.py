"""Marshals render results from the core's worker thread onto the GUI thread, dropping stale ones.

A result is stale when a newer result for the same view has already been shown, or when it was rendered
for a model that is no longer current. The GUI thread only ever calls ``submit`` (a dict assignment under a
lock, or a lookup in the frames decoded before) and receives finished uint8 images: it never decodes and
never waits.

Every single-latent frame that comes back is kept in a ``FrameCache`` for the current model and device; a
request for a latent already decoded is answered from it, through the same queued delivery as a render.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from latentlab.core.frame_cache import FrameCache
from latentlab.core.model import LatentModel
from latentlab.core.render import RenderRequest, RenderResult, RenderWorker, interactive_threads

PREFETCH_VIEW = "prefetch"
PREFETCH_PRIORITY = 5  # after the preview (0), before traversal-grid rows (10)


class RenderBridge(QObject):
    rendered = Signal(object)  # RenderResult, on the GUI thread
    _fromWorker = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._shown: dict[str, int] = {}
        self._token = 0
        self.frames = FrameCache()
        self._keep_from_seq = 0  # frames of requests older than this were decoded before the last forget
        self._fromWorker.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.worker = RenderWorker(self._post, name="latentlab-render", traced=True,
                                   threads=interactive_threads())

    def set_model(self, model: LatentModel | None, token: int) -> None:
        self._token = token
        self._shown.clear()
        self.forget_frames()
        self.worker.set_model(model, token)

    def forget_frames(self) -> None:
        """The model's device changed (or its weights): frames decoded so far may differ in the last bit."""
        self.frames.clear()
        self._keep_from_seq = self._last_seq + 1

    @property
    def token(self) -> int:
        return self._token

    def _next_seq(self) -> int:
        self._last_seq = next(self._seq)
        return self._last_seq

    def submit(self, view: str, z: np.ndarray, priority: int = 0, tag: object = None) -> int:
        seq = self._next_seq()
        z = np.array(z, dtype=np.float32, copy=True)
        image = self.frames.get(z) if z.ndim == 1 else None
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
        """Decode these latents in the background (after the preview, before grid rows) for later requests.

        Replaces an earlier prefetch not yet started. Returns how many were not decoded already.
        """
        todo = [z for z in np.asarray(zs, dtype=np.float32) if z not in self.frames]
        if todo:
            self.worker.submit(RenderRequest(PREFETCH_VIEW, np.stack(todo), seq=self._next_seq(),
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
        if res.notice:  # e.g. the model fell back to the CPU: frames decoded until now came from elsewhere
            self.forget_frames()
        if res.ok and not res.cached and res.seq >= self._keep_from_seq and res.image is not None \
                and res.z is not None:
            if res.z.ndim == 1:
                self.frames.put(res.z, res.image)
            elif res.z.ndim == 2 and len(res.z) == len(res.image):
                self.frames.put_batch(res.z, res.image)
        if res.seq <= self._shown.get(res.view, 0):
            return
        self._shown[res.view] = res.seq
        self.rendered.emit(res)

    def stop(self) -> bool:
        return self.worker.stop()
