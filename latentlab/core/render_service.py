"""One render service for every view of the app: one worker thread per device, models registered by token.

Views (the preview, grid rows, compare slots, map thumbnails) submit ``RenderRequest``s naming their view and
their model's token; each device's ``RenderWorker`` keeps the newest request per view. A model is only ever
moved on the render thread of the device it is on (``move``), between two decodes, and a CUDA out-of-memory
fallback (``Renderer.render`` moves the model to the CPU on that same thread) re-routes the model's later
requests to the CPU worker. No other thread changes a model's device, so no decode races a move.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import torch

from latentlab.core.device import resolve_device
from latentlab.core.model import LatentModel, device_of
from latentlab.core.render import RenderRequest, RenderResult
from latentlab.core.render_worker import RenderWorker, interactive_threads

log = logging.getLogger(__name__)

MoveDone = Callable[[LatentModel | None, str | None], None]  # (the moved model, or None and an error)


class RenderService:
    """Routes every view's requests to the render thread of its model's device (see the module docstring)."""

    def __init__(self, on_result: Callable[[RenderResult], None], traced: bool = True, threads: int | None = None):
        self._on_result = on_result
        self._traced = traced
        self._threads = interactive_threads() if threads is None else threads
        self._lock = threading.Lock()
        self._workers: dict[str, RenderWorker] = {}
        self._where: dict[int, str] = {}  # model token -> device of the worker that serves it
        self._models: dict[int, LatentModel] = {}

    # --- workers ------------------------------------------------------------------------------------------------
    def worker(self, device: str) -> RenderWorker:
        with self._lock:
            w = self._workers.get(device)
            if w is None:
                name = "latentlab-render" if not self._workers else f"latentlab-render-{device}"
                w = self._workers[device] = RenderWorker(self._deliver, name=name, traced=self._traced,
                                                         threads=self._threads)
            return w

    @property
    def workers(self) -> dict[str, RenderWorker]:
        with self._lock:
            return dict(self._workers)

    def _deliver(self, res: RenderResult) -> None:
        # On a render thread. A CUDA OOM fallback moved the model: its next requests go to the CPU worker.
        if res.device:
            with self._lock:
                was = self._where.get(res.model_token)
                model = self._models.get(res.model_token)
            if was is not None and model is not None and was != res.device:
                self._register(res.model_token, model, res.device, was)
        self._on_result(res)

    # --- models ---------------------------------------------------------------------------------------------------
    def add_model(self, model: LatentModel, token: int) -> None:
        self._register(token, model, str(device_of(model)), None)

    def _register(self, token: int, model: LatentModel, device: str, previous: str | None) -> None:
        with self._lock:
            old = self._where.get(token) if previous is None else previous
            self._where[token] = device
            self._models[token] = model
        if old is not None and old != device:
            self.worker(old).remove_model(token)
        self.worker(device).add_model(model, token)

    def remove_model(self, token: int) -> None:
        with self._lock:
            device = self._where.pop(token, None)
            self._models.pop(token, None)
        if device is not None:
            self.worker(device).remove_model(token)

    def model(self, token: int) -> LatentModel | None:
        with self._lock:
            return self._models.get(token)

    def generation(self, token: int) -> int:
        """Which renderer (model object) serves ``token`` now; results of another are of a replaced model."""
        device = self.device_of(token)
        return self.worker(device).generation(token) if device is not None else 0

    def device_of(self, token: int) -> str | None:
        with self._lock:
            return self._where.get(token)

    def move(self, token: int, device: str | torch.device, done: MoveDone) -> None:
        """Move the model to ``device`` on its render thread, then call ``done`` (on that thread)."""
        with self._lock:
            source = self._where.get(token)
            model = self._models.get(token)
        if source is None or model is None:
            done(None, "that model is not open")
            return

        def task() -> None:
            try:
                target = resolve_device(device)
                moved = model.to(target)
            except Exception as exc:  # a device that vanished, an OOM while copying: say so, keep the old one
                done(None, f"{type(exc).__name__}: {exc}")
                return
            self._register(token, moved, str(device_of(moved)), source)
            done(moved, None)

        self.worker(source).call(task)

    # --- requests -------------------------------------------------------------------------------------------------
    def submit(self, req: RenderRequest) -> None:
        device = self.device_of(req.model_token)
        if device is not None:
            self.worker(device).submit(req)

    def cancel(self, view_prefix: str = "", exact: bool = False) -> None:
        for w in self.workers.values():
            w.cancel(view_prefix, exact)

    def stop(self, timeout: float = 5.0) -> bool:
        return all([w.stop(timeout) for w in self.workers.values()])
