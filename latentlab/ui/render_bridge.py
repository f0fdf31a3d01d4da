"""Marshals render results from the core's worker thread onto the GUI thread, dropping stale ones.

A result is stale when a newer result for the same view has already been shown, or when it was rendered
for a model that is no longer current. The GUI thread only ever calls ``submit`` (a dict assignment under a
lock) and receives finished uint8 images: it never decodes and never waits.
"""

from __future__ import annotations

import itertools

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from latentlab.core.model import LatentModel
from latentlab.core.render import RenderRequest, RenderResult, RenderWorker, interactive_threads


class RenderBridge(QObject):
    rendered = Signal(object)  # RenderResult, on the GUI thread
    _fromWorker = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._seq = itertools.count(1)
        self._shown: dict[str, int] = {}
        self._token = 0
        self._fromWorker.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.worker = RenderWorker(self._post, name="latentlab-render", traced=True,
                                   threads=interactive_threads())

    def set_model(self, model: LatentModel | None, token: int) -> None:
        self._token = token
        self._shown.clear()
        self.worker.set_model(model, token)

    @property
    def token(self) -> int:
        return self._token

    def submit(self, view: str, z: np.ndarray, priority: int = 0, tag: object = None) -> int:
        seq = next(self._seq)
        self.worker.submit(RenderRequest(view, np.array(z, dtype=np.float32, copy=True), seq=seq,
                                         model_token=self._token, priority=priority, tag=tag))
        return seq

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
        if res.seq <= self._shown.get(res.view, 0):
            return
        self._shown[res.view] = res.seq
        self.rendered.emit(res)

    def stop(self) -> bool:
        return self.worker.stop()
