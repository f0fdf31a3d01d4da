"""The window's one render service, marshalled onto the GUI thread: every view renders through it.

Views (the preview, traversal-grid rows, compare slots) submit latents under their view name and model token;
the core ``RenderService`` keeps one render thread per device and the newest request per view. Results come
back here on the render thread and are handed to the GUI thread by a queued signal; a result is dropped when
a newer one for the same view was shown already, or when the view has moved on to another model since. The
GUI thread only ever calls ``submit`` (a dict assignment under a lock, or a lookup in the frames decoded
before) and receives finished uint8 images: it never decodes and never waits. A model is moved to another
device on its render thread only (``move``), so no decode ever races the move.

Every frame decoded in a batch of one that comes back (a single latent, or a grid row that the worker
decoded latent by latent, as it does on a CPU) is kept in a ``FrameCache`` keyed by model and device; a
request for a latent already decoded on the model's current device is answered from it, through the same
queued delivery as a render. A model moved to another device (by the device chooser, by a CPU fallback)
therefore never shows a frame from the old one.

The service itself (and torch with it) can start later than the bridge: the window is built and shown before
torch is imported (``MainWindow.finish_startup``); until ``start_service`` runs, requests are dropped (no
model can be open yet) and ``running`` is False.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from latentlab.core.frame_cache import FrameCache

if TYPE_CHECKING:
    from latentlab.core.model import LatentModel
    from latentlab.core.render import RenderResult
    from latentlab.core.render_service import RenderService
    from latentlab.core.render_worker import RenderWorker

PREFETCH_VIEW = "prefetch:"  # one view per latent: batch-1 decodes, the only ones the cache takes
PREFETCH_PRIORITY = 5  # after the preview (0), before traversal-grid rows (10)


class RenderBridge(QObject):
    rendered = Signal(object)  # RenderResult, on the GUI thread
    notice = Signal(str)  # something the user should know about a render, e.g. a fall back to the CPU
    moved = Signal(int, object, object)  # token, the moved model (or None), an error message (or None)
    _fromWorker = Signal(object)
    _moveDone = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None, start: bool = True):
        super().__init__(parent)
        self._seq = itertools.count(1)
        self._shown: dict[str, tuple[int, float]] = {}  # view -> rank of the result shown (request, level)
        # The model each view shows now (None: whatever model is current): other models' results are stale.
        self._view_token: dict[str, int | None] = {}
        self._token = 0  # the model of the views that name none (the explorer's current model)
        self.frames = FrameCache()
        self._fromWorker.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._moveDone.connect(self.moved, Qt.ConnectionType.QueuedConnection)
        self.service: RenderService | None = None
        if start:
            self.start_service()

    def start_service(self) -> None:
        """Start the render service (this imports torch); idempotent."""
        from latentlab.core.model import condition_tag
        from latentlab.core.render import RenderRequest, RenderResult
        from latentlab.core.render_service import RenderService

        if self.service is None:
            # Bound once here, not imported on every request: submit runs on each slider change.
            self._request, self._result, self._condition_tag = RenderRequest, RenderResult, condition_tag
            self.service = RenderService(self._post, traced=True)

    @property
    def running(self) -> bool:
        """Whether the render service has started (views can render)."""
        return self.service is not None

    def _service(self) -> RenderService:
        if self.service is None:
            raise RuntimeError("the render service has not started yet (RenderBridge.start_service)")
        return self.service

    # --- models ---------------------------------------------------------------------------------------------------
    def add_model(self, model: LatentModel, token: int) -> None:
        """Let views render ``model`` under ``token`` (idempotent)."""
        self._service().add_model(model, token)

    def remove_model(self, token: int) -> None:
        if self.service is not None:
            self.service.remove_model(token)
        self._view_token = {v: t for v, t in self._view_token.items() if t != token}

    def set_model(self, model: LatentModel | None, token: int) -> None:
        """The explorer's current model: views that name no token render it."""
        if model is not None:
            self.add_model(model, token)
        self._token = token
        self._shown.clear()
        self.forget_frames()

    def move(self, token: int, device: str) -> None:
        """Move a model to ``device`` on its render thread; ``moved`` says when it is done (GUI thread)."""
        self._service().move(token, device, lambda model, error: self._emit_moved(token, model, error))

    def _emit_moved(self, token: int, model, error) -> None:
        try:
            self._moveDone.emit(token, model, error)
        except RuntimeError:  # the window is gone
            pass

    def forget_frames(self) -> None:
        """Drop every frame kept (they are keyed by model and device already: this frees their memory)."""
        self.frames.clear()

    def holds_frame(self, z: np.ndarray, token: int | None = None) -> bool:
        """Whether ``z``'s frame of that model (default: the current one) on its current device is kept."""
        return self.frames.holds(np.asarray(z, np.float32), self._device_key(self._token if token is None else token))

    def _device_key(self, token: int) -> str:
        if self.service is None:
            return ""
        device = self.service.device_of(token)
        # A conditioned model's frames are also kept by its condition (the render thread tags each result), and
        # every frame by the model object that decoded it (a StyleGAN's new view replaces it under one token).
        gen = self.service.generation(token)
        return f"{device}#{token}~{gen}{self._condition_tag(self.service.model(token))}" if device else ""

    @property
    def token(self) -> int:
        return self._token

    @property
    def worker(self) -> RenderWorker:
        """The render thread of the current model's device (the one the preview uses)."""
        service = self._service()
        return service.worker(service.device_of(self._token) or "cpu")

    # --- requests -------------------------------------------------------------------------------------------------
    def submit(self, view: str, z: np.ndarray, priority: int = 0, tag: object = None, token: int | None = None,
               progressive: bool = False) -> int:
        """Render ``z`` for ``view`` with model ``token`` (default: the current model); returns its sequence number."""
        if self._view_token.get(view, -1) != token:
            self._view_token[view] = token
            self._shown.pop(view, None)
        token = self._token if token is None else token
        seq = next(self._seq)
        if self.service is None:
            return seq  # still starting: no model is open, nothing to render
        z = np.array(z, dtype=np.float32, copy=True)
        image = self.frames.get(z, self._device_key(token)) if z.ndim == 1 else None
        if image is not None:
            # Decoded before: nothing to render, and an older request still waiting for this view is moot.
            self.service.cancel(view, exact=True)
            now = time.perf_counter()
            self._fromWorker.emit(self._result(view, seq, token, image, created=now, finished=now, z=z,
                                              tag=tag, cached=True))
            return seq
        self.service.submit(self._request(view, z, seq=seq, model_token=token, priority=priority, tag=tag,
                                           progressive=progressive))
        return seq

    def prefetch(self, zs: np.ndarray) -> int:
        """Decode these latents of the current model one by one in the background (after the preview, before
        grid rows). Replaces an earlier prefetch not yet started. Returns how many were not decoded already."""
        if self.service is None:
            return 0
        self.service.cancel(PREFETCH_VIEW)
        key = self._device_key(self._token)
        todo = [z for z in np.asarray(zs, dtype=np.float32) if not self.frames.holds(z, key)]
        for i, z in enumerate(todo):
            self.service.submit(self._request(f"{PREFETCH_VIEW}{i}", z.copy(), seq=next(self._seq),
                                               model_token=self._token, priority=PREFETCH_PRIORITY))
        return len(todo)

    def cancel(self, view_prefix: str) -> None:
        if self.service is not None:
            self.service.cancel(view_prefix)

    # --- results --------------------------------------------------------------------------------------------------
    def _post(self, res: RenderResult) -> None:
        """On a render thread: hand a result to the GUI thread."""
        try:
            self._fromWorker.emit(res)
        except RuntimeError:
            # The bridge's Qt half is gone (its window was deleted without being closed): nobody is left to
            # show results, so the render threads stop instead of logging a failure for every frame.
            for w in self._service().workers.values():
                w.stop(timeout=0)

    @Slot(object)
    def _deliver(self, res: RenderResult) -> None:
        wanted = self._view_token.get(res.view)
        if res.model_token != (self._token if wanted is None else wanted):
            return
        if res.notice:
            self.notice.emit(res.notice)
        self._keep_frames(res)
        if res.rank <= self._shown.get(res.view, (0, 0.0)):
            return  # older than what the view shows (a draft arriving after its own full image, say)
        self._shown[res.view] = res.rank
        self.rendered.emit(res)

    def _keep_frames(self, res: RenderResult) -> None:
        if not (res.ok and res.batch1 and not res.draft and not res.cached and res.image is not None
                and res.z is not None and res.device):
            return
        key = f"{res.device}#{res.model_token}~{res.generation}{res.condition}"
        if res.z.ndim == 1:
            self.frames.put(res.z, res.image, key)
        elif len(res.z) == len(res.image):  # a grid row decoded latent by latent, as CPUs do
            for z, img in zip(res.z, res.image, strict=True):
                self.frames.put(z, img, key)

    def stop(self) -> bool:
        return self.service.stop() if self.service is not None else True
