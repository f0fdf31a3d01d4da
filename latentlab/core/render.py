"""Latent -> pixels, off the GUI thread.

``Renderer.render`` turns a ``RenderRequest`` into a ``RenderResult`` and never raises: a bad latent, a
broken model or an exhausted GPU come back as ``result.error`` so the view can show it and carry on.

``RenderWorker`` is one thread with a one-slot mailbox per view: submitting replaces whatever that view had
pending (latest wins), so a fast slider drag never queues stale work. Among views with pending work the
lowest ``priority`` goes first. A batch for a background view (priority above 0, e.g. a row of a traversal
grid) is decoded in small chunks, and a more urgent request that arrives meanwhile is served between two
chunks: the live preview waits for at most one chunk, not for a whole grid row. ``ChunkSizer`` keeps a
chunk's decode short (about one preview frame) while letting fast devices take whole rows at once.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from latentlab.core.device import PREVIEW_OOM_NOTICE, retry_on_cpu
from latentlab.core.fast_decode import TracedDecoder, to_numpy_images, uint8_images
from latentlab.core.model import LatentModel, device_of

log = logging.getLogger(__name__)


@dataclass
class RenderRequest:
    view: str
    z: np.ndarray  # (D,) or (B, D)
    seq: int = 0
    model_token: int = 0
    priority: int = 0
    created: float = field(default_factory=time.perf_counter)
    tag: Any = None  # passed through untouched (e.g. the grid row)


@dataclass
class RenderResult:
    view: str
    seq: int
    model_token: int
    image: np.ndarray | None  # uint8 (H, W) / (H, W, 3), or (B, H, W[, 3]) for a batch
    error: str | None = None
    decode_ms: float = 0.0
    created: float = 0.0
    finished: float = 0.0
    z: np.ndarray | None = None
    notice: str | None = None  # e.g. "GPU out of memory; rendering on the CPU"
    tag: Any = None
    cached: bool = False  # served from decoded frames kept earlier, not decoded for this request
    device: str = ""  # where it was decoded (after a CPU fallback: the CPU)
    # Every image was decoded in a batch of one (a batched convolution may round differently): only such
    # frames may stand in for a later single decode of the same latent (see frame_cache).
    batch1: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> uint8 (B, H, W) for one channel, (B, H, W, 3) for three."""
    return to_numpy_images(uint8_images(images.detach()))


class Renderer:
    """Decodes latents with one model. Thread-safe as long as one thread calls ``render`` at a time.

    ``traced=True`` (the interactive render thread) decodes through a verified TorchScript trace once
    ``prepare_trace`` has run, which keeps the GIL free for the GUI thread; see ``fast_decode``.
    """

    def __init__(self, model: LatentModel, traced: bool = False):
        self.model = model
        self.tracer = TracedDecoder() if traced else None
        # Set when a decode could not use the trace: only then is a (re)trace worth checking for. A frame that
        # went through the trace has just checked the model's key.
        self.trace_due = traced
        self.last_device = ""  # where the last decode ran, for its result

    def prepare_trace(self) -> None:
        """Trace the current model if that has not been tried yet (slow once: call it when idle)."""
        if not self.trace_due or self.tracer is None:
            return
        self.trace_due = False
        if self.tracer.needs_preparing(self.model):
            if not self.tracer.prepare(self.model):
                log.info("live preview decodes eagerly: %s", self.tracer.reason)

    def decode(self, z: np.ndarray) -> tuple[np.ndarray, float]:
        # Shape in numpy and skip no-op moves: every torch call outside the traced graph gives up the GIL and
        # then waits to get it back from a busy GUI thread.
        arr = np.asarray(z, dtype=np.float32)
        batch = arr.ndim == 2
        zt = torch.from_numpy(np.ascontiguousarray(arr if batch else arr[None]))
        dev = device_of(self.model)
        self.last_device = str(dev)
        if dev.type != "cpu":
            zt = zt.to(dev)
        t0 = time.perf_counter()
        if self.tracer is not None and self.tracer.usable_for(self.model, zt.shape[0]):
            img = self.tracer(zt)
        else:
            self.trace_due = self.tracer is not None
            with torch.inference_mode():
                img = to_uint8(self.model.decode(zt))
        ms = (time.perf_counter() - t0) * 1e3
        return (img if batch else img[0]), ms

    def move_to_cpu(self) -> None:
        self.model = self.model.to("cpu")

    def decode_or_fall_back(self, z: np.ndarray, notice: str = PREVIEW_OOM_NOTICE
                            ) -> tuple[tuple[np.ndarray, float], str | None]:
        """``decode``, moved to the CPU and decoded again if the GPU runs out of memory; (result, notice)."""
        return retry_on_cpu(lambda: self.decode(z), lambda: self.last_device or device_of(self.model),
                            self.move_to_cpu, notice)

    def check_latent(self, z: np.ndarray) -> str | None:
        d = self.model.info.latent_dim
        arr = np.asarray(z)
        if arr.ndim not in (1, 2) or arr.shape[-1] != d:
            return f"latent has shape {arr.shape}; this model takes {d} dimensions"
        if not np.issubdtype(arr.dtype, np.number):
            return f"latent has dtype {arr.dtype}, not numbers"
        if not np.isfinite(arr).all():
            return "latent contains NaN or infinite values"
        return None

    def render(self, req: RenderRequest) -> RenderResult:
        res = RenderResult(req.view, req.seq, req.model_token, None, created=req.created, z=req.z, tag=req.tag)
        try:
            problem = self.check_latent(req.z)
            if problem:
                res.error = problem
                return res
            (res.image, res.decode_ms), notice = self.decode_or_fall_back(req.z)
            res.notice = notice
            res.device = self.last_device
            res.batch1 = np.ndim(req.z) == 1 or len(req.z) == 1
            bad = _bad_output(res.image)
            if bad:
                res.error, res.image = bad, None
        except Exception as exc:  # errors are data here: the view shows them and keeps running
            log.debug("render failed", exc_info=True)
            res.error = f"{type(exc).__name__}: {exc}"
            res.image = None
        finally:
            res.finished = time.perf_counter()
        return res


def _bad_output(img: np.ndarray | None) -> str | None:
    if img is None:
        return "the model returned nothing"
    if img.ndim < 2:
        return f"the model returned an array of shape {img.shape}, not an image"
    return None


def interactive_threads() -> int:
    """Intra-op threads for a latency-critical render thread: every core but one, which the GUI thread keeps.

    On two cores a batch-1 decode with both threads ran slower next to a busy GUI thread than with one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - 1))


class ChunkSizer:
    """How many latents of a background batch to decode at once so that one chunk takes about ``budget_ms``.

    Starts at ``start`` and follows the measured time per latent of the chunks decoded so far. On a CPU a
    batch costs about what its images cost one by one, so chunks stay at a few latents; on a GPU, where a
    batch costs about what one image costs, they grow to whole rows.
    """

    def __init__(self, budget_ms: float = 2.5, start: int = 2, most: int = 256):
        self.budget_ms = budget_ms
        self.size = start
        self.most = most
        self._ms_per_latent: float | None = None

    def record(self, n: int, ms: float) -> None:
        per = ms / max(1, n)
        # A slow outlier (the other thread, a page fault) should not halve the chunk for good: smooth it.
        self._ms_per_latent = per if self._ms_per_latent is None else 0.7 * self._ms_per_latent + 0.3 * per
        fit = math.floor(self.budget_ms / max(self._ms_per_latent, 1e-6))
        self.size = int(min(self.most, max(1, fit)))


class RenderWorker:
    """One render thread for any number of models; latest-wins mailbox per view; results go to ``on_result``.

    Models are registered by token (``add_model``); a request names its model's token and is dropped if that
    model is gone. ``call`` runs a function on the render thread between two decodes (how a model is moved to
    another device without racing a decode). The result callback must be cheap and thread-safe (the UI bridge
    just emits a queued Qt signal).
    """

    _ids = itertools.count()

    def __init__(self, on_result: Callable[[RenderResult], None], name: str | None = None, traced: bool = False,
                 threads: int | None = None):
        self._on_result = on_result
        self._traced = traced  # decode through a verified trace, prepared after the first frame
        self.threads = threads  # intra-op threads of this render thread only (None: torch's default)
        self._cond = threading.Condition()
        self._pending: dict[str, RenderRequest] = {}
        self._renderers: dict[int, Renderer] = {}
        self._calls: list[Callable[[], None]] = []
        self._stopping = False
        self.decodes = 0  # how many requests were actually rendered (tests check coalescing with it)
        self.chunks = ChunkSizer()
        self.preempted = 0  # urgent requests served between the chunks of a background batch
        self._held_notice: str | None = None  # from a batch given up mid-way, for the next result out
        # Held while rendering; others hold it to change a model under the worker (prefer ``call``).
        self.busy = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name or f"latentlab-render-{next(self._ids)}",
                                        daemon=True)
        self._threads_set = threading.Event()
        inherited = torch.get_num_threads()
        self._thread.start()
        if threads is not None:
            # torch.set_num_threads in the render thread also changed the default that threads started later
            # inherit (job threads, for instance): put that back. OpenMP keeps the count per thread, so the
            # render thread keeps its own.
            self._threads_set.wait(5.0)
            torch.set_num_threads(inherited)

    # --- called from any thread ------------------------------------------------------------------------------
    def add_model(self, model: LatentModel, token: int) -> None:
        """Render requests for ``token`` with ``model`` from now on (replacing an earlier model of that token)."""
        with self._cond:
            old = self._renderers.get(token)
            if old is None or old.model is not model:
                self._renderers[token] = Renderer(model, traced=self._traced)
            self._cond.notify()

    def remove_model(self, token: int) -> None:
        """Forget ``token``: its pending work is dropped and results still in flight are not delivered."""
        with self._cond:
            self._renderers.pop(token, None)
            self._pending = {v: r for v, r in self._pending.items() if r.model_token != token}

    def set_model(self, model: LatentModel | None, token: int) -> None:
        """Serve only this model (the one-model worker of a single view); pending work for others is dropped."""
        with self._cond:
            keep = self._renderers.get(token)
            self._renderers = {}
            if model is not None:
                self._renderers[token] = keep if keep is not None and keep.model is model else \
                    Renderer(model, traced=self._traced)
            self._pending = {v: r for v, r in self._pending.items() if r.model_token in self._renderers}

    def renderer_of(self, token: int) -> Renderer | None:
        with self._cond:
            return self._renderers.get(token)

    def submit(self, req: RenderRequest) -> None:
        with self._cond:
            if self._stopping:
                return
            self._pending[req.view] = req
            self._cond.notify()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the render thread before the next decode (it must not raise; it may be slow)."""
        with self._cond:
            if self._stopping:
                return
            self._calls.append(fn)
            self._cond.notify()

    def cancel(self, view_prefix: str = "", exact: bool = False) -> None:
        """Drop pending requests of views starting with ``view_prefix`` (only that view with ``exact``)."""
        with self._cond:
            self._pending = {v: r for v, r in self._pending.items()
                             if not (v == view_prefix if exact else v.startswith(view_prefix))}

    def pending_views(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def stop(self, timeout: float = 5.0) -> bool:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._calls.clear()
            self._cond.notify_all()
        if threading.current_thread() is self._thread:
            return True  # asked from a result callback: the loop ends when the callback returns
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def on_render_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # --- the worker thread -----------------------------------------------------------------------------------
    def _take(self) -> tuple[RenderRequest, Renderer] | Callable[[], None] | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._calls:
                    return self._calls.pop(0)
                self._pending = {v: r for v, r in self._pending.items() if r.model_token in self._renderers}
                if self._pending:
                    req = self._pop_most_urgent()
                    assert req is not None  # _pending was just cut to requests for known models
                    return req, self._renderers[req.model_token]
                self._cond.wait()

    def _pop_most_urgent(self, below: int | None = None) -> RenderRequest | None:
        """The pending request with the lowest priority (oldest first), only below ``below`` if given; holds _cond."""
        views = [v for v, r in self._pending.items() if (below is None or r.priority < below)
                 and r.model_token in self._renderers]
        if not views:
            return None
        return self._pending.pop(min(views, key=lambda v: (self._pending[v].priority, self._pending[v].created)))

    def _run(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(max(1, self.threads))
            self.threads = torch.get_num_threads()
        self._threads_set.set()
        while True:
            taken = self._take()
            if taken is None:
                return
            if callable(taken):
                with self.busy:
                    try:
                        taken()
                    except Exception:  # a failing task must not kill the render thread
                        log.exception("render-thread task failed")
                continue
            self._process(*taken)

    def _process(self, req: RenderRequest, renderer: Renderer) -> None:
        if req.priority > 0 and np.ndim(req.z) == 2 and len(req.z) > 1:
            res = self._render_in_chunks(req, renderer)
            if res is None:  # superseded, or the model changed, while it waited for more urgent work
                return
        else:
            with self.busy:
                res = renderer.render(req)
        self.decodes += 1
        if self._held_notice and not res.notice:
            res.notice, self._held_notice = self._held_notice, None
        try:
            self._on_result(res)
        except Exception:  # a failing consumer must not kill the render thread
            log.exception("render result handler failed")
        # After the first frame is out, not before it: tracing takes a moment once per model and device.
        if renderer.trace_due:
            with self.busy:
                renderer.prepare_trace()

    def _take_more_urgent(self, priority: int) -> tuple[RenderRequest, Renderer] | None:
        with self._cond:
            if self._stopping:
                return None
            req = self._pop_most_urgent(below=priority)
            return None if req is None else (req, self._renderers[req.model_token])

    def _still_wanted(self, req: RenderRequest) -> bool:
        with self._cond:
            return not self._stopping and req.model_token in self._renderers and req.view not in self._pending

    def _render_in_chunks(self, req: RenderRequest, renderer: Renderer) -> RenderResult | None:
        z = np.asarray(req.z)
        images: list[np.ndarray] = []
        decode_ms = 0.0
        notice = None
        batch1 = True
        device = ""
        start = 0
        while start < len(z):
            while (urgent := self._take_more_urgent(req.priority)) is not None:
                self.preempted += 1
                self._process(*urgent)
            if not self._still_wanted(req):
                self._held_notice = self._held_notice or notice  # the fallback still happened: say so later
                return None
            n = self.chunks.size
            with self.busy:
                part = renderer.render(replace(req, z=z[start:start + n]))
            if not part.ok:
                part.z, part.tag = req.z, req.tag
                return part
            assert part.image is not None  # ok: it holds the images
            self.chunks.record(len(part.image), part.decode_ms)
            images.append(part.image)
            decode_ms += part.decode_ms
            notice = notice or part.notice
            batch1 = batch1 and part.batch1 and (not device or part.device == device)
            device = part.device
            start += n
        return RenderResult(req.view, req.seq, req.model_token, np.concatenate(images), decode_ms=decode_ms,
                            created=req.created, finished=time.perf_counter(), z=req.z, notice=notice, tag=req.tag,
                            device=device, batch1=batch1)
