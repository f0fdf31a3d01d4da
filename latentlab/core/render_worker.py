"""The render thread: one worker for any number of models, the newest request per view, drafts first.

``RenderWorker`` is one thread with a one-slot mailbox per view: submitting replaces whatever that view had
pending (latest wins), so a fast slider drag never queues stale work. Among views with pending work the
lowest ``priority`` goes first. A batch for a background view (priority above 0, e.g. a row of a traversal
grid) is decoded in small chunks, and a more urgent request that arrives meanwhile is served between two
chunks: the live preview waits for at most one chunk, not for a whole grid row. ``ChunkSizer`` keeps a
chunk's decode short (about one preview frame) while letting fast devices take whole rows at once.

A ``progressive`` request of a model too slow for a frame (see ``core.progressive``) is answered with a draft
at once; when no newer request has come for that view for ``REST_MS``, the full image is decoded level by
level (each finer level shown as it comes) and given up between two layers the moment a newer request
arrives, so a drag is never stuck behind a full decode and its final value always ends on the full image.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import cast

import numpy as np
import torch

from latentlab.core.model import LatentModel
from latentlab.core.progressive import REST_MS, DraftPlan, Progressive, StopDecoding
from latentlab.core.render import Renderer, RenderRequest, RenderResult

log = logging.getLogger(__name__)


def interactive_threads() -> int:
    """Intra-op threads for a latency-critical render thread: every core but one, which the GUI thread keeps.

    On two cores a batch-1 decode with both threads ran slower next to a busy GUI thread than with one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - 1))


# What the render thread takes next: a request with its renderer, a refine that is due (run outside ``busy``),
# a task from ``call``, or None when stopping.
Taken = tuple[RenderRequest, Renderer] | tuple[Callable[[], None], None] | Callable[[], None] | None


def _drafts(renderer: Renderer) -> tuple[int, ...]:
    """The draft sizes of a progressive model (only asked of renderers whose ``progressive`` is true)."""
    return tuple(cast(Progressive, renderer.model).draft_resolutions)


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
        self._refine: dict[str, tuple[RenderRequest, float]] = {}  # view -> (request shown as a draft, when due)
        self.plan = DraftPlan()  # what each model's levels cost here: which draft to show
        self.rest_s = REST_MS / 1e3
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

    def generation(self, token: int) -> int:
        """The generation of the renderer serving ``token`` now (0: none)."""
        r = self.renderer_of(token)
        return r.generation if r is not None else 0

    def submit(self, req: RenderRequest) -> None:
        with self._cond:
            if self._stopping:
                return
            self._pending[req.view] = req
            self._refine.pop(req.view, None)  # a newer latent: the old one's full image is not wanted any more
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
    def _take(self) -> Taken:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._calls:
                    return self._calls.pop(0)
                self._pending = {v: r for v, r in self._pending.items() if r.model_token in self._renderers}
                best = min((r.priority for r in self._pending.values()), default=None)
                due = self._refine_due(best)
                if isinstance(due, tuple):
                    return due
                if self._pending:
                    req = self._pop_most_urgent()
                    assert req is not None  # _pending was just cut to requests for known models
                    return req, self._renderers[req.model_token]
                self._cond.wait(due)

    def _refine_due(self, best: int | None) -> tuple[Callable[[], None], None] | float | None:
        """A rested refine more urgent than any pending request (as a task), else the wait for the next; holds _cond.

        A preview that came to rest is refined before background work (grid rows) of lower urgency.
        """
        self._refine = {v: e for v, e in self._refine.items() if e[0].model_token in self._renderers}
        if not self._refine:
            return None
        now = time.perf_counter()
        ready = [(e[0].priority, e[1], v) for v, e in self._refine.items() if e[1] <= now
                 and (best is None or e[0].priority < best)]
        if not ready:
            return max(0.0, min(e[1] for e in self._refine.values()) - now)
        _, _, view = min(ready)
        req, _ = self._refine.pop(view)
        renderer = self._renderers[req.model_token]
        return (lambda: self._refine_now(req, renderer)), None

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
            if isinstance(taken, tuple):
                if taken[1] is None:  # a due refine: not under busy for its whole length
                    taken[0]()
                else:
                    self._process(taken[0], taken[1])
                continue
            if callable(taken):
                with self.busy:
                    try:
                        taken()
                    except Exception:  # a failing task must not kill the render thread
                        log.exception("render-thread task failed")
                continue

    def _process(self, req: RenderRequest, renderer: Renderer) -> None:
        if req.progressive and renderer.progressive and np.ndim(req.z) == 1:
            self._progressive(req, renderer)
            return
        if req.progressive and renderer.progressive and self._draft_level(req, renderer) is not None:
            self._progressive_batch(req, renderer)
            return
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

    def _deliver(self, res: RenderResult) -> None:
        try:
            self._on_result(res)
        except Exception:  # a failing consumer must not kill the render thread
            log.exception("render result handler failed")

    # --- progressive previews -----------------------------------------------------------------------------------
    def _plan_key(self, req: RenderRequest, renderer: Renderer) -> tuple[int, str]:
        return req.model_token, renderer.last_device or str(getattr(renderer.model, "device", "cpu"))

    def _progressive(self, req: RenderRequest, renderer: Renderer) -> None:
        """A draft now and the full image once the view rests; unmeasured models go straight to the full image."""
        key = self._plan_key(req, renderer)
        if not self.plan.known(key):
            self._refine_now(req, renderer)  # measures every level on the way
            return
        level = self.plan.level(key, _drafts(renderer))
        if level is None:
            with self.busy:
                self._deliver(renderer.render(req))
            self.decodes += 1
            return
        res = self._levels(req, renderer, stop_at=level, stop=None, emit_above=None)
        if res is None:
            return
        res.level = level
        self._deliver(res)
        with self._cond:
            if req.view not in self._pending and not self._stopping:
                self._refine[req.view] = (req, time.perf_counter() + self.rest_s)

    def _draft_level(self, req: RenderRequest, renderer: Renderer) -> int | None:
        key = self._plan_key(req, renderer)
        return self.plan.level(key, _drafts(renderer)) if self.plan.known(key) else None

    def _progressive_batch(self, req: RenderRequest, renderer: Renderer) -> None:
        """A background batch (a grid row) of a slow model: drafts now, the full images once it rests.

        The drafts come in chunks like any background batch: a row of a 256-px StyleGAN's drafts took a second,
        and the preview's next draft waited for all of it."""
        level = self._draft_level(req, renderer)
        res = self._render_in_chunks(req, renderer, level=level)
        if res is None:
            return
        self.decodes += 1
        self._deliver(res)
        with self._cond:
            if res.ok and req.view not in self._pending and not self._stopping:
                self._refine[req.view] = (req, time.perf_counter() + self.rest_s)

    def _refine_now(self, req: RenderRequest, renderer: Renderer) -> None:
        """The full image of a request, each level finer than the draft shown as it comes; dropped if superseded."""
        if np.ndim(req.z) == 2:  # a batch: full images in chunks, a more urgent request served between two
            res = self._render_in_chunks(replace(req, progressive=False, priority=max(req.priority, 1)), renderer)
            if res is not None:
                self.decodes += 1
                self._deliver(res)
            return
        def superseded() -> bool:
            with self._cond:
                return self._stopping or req.view in self._pending or req.model_token not in self._renderers

        shown = max((r for r in _drafts(renderer) if self._refine_floor(req, renderer, r)), default=0)
        res = self._levels(req, renderer, stop_at=None, stop=superseded, emit_above=shown)
        if res is not None:
            self._deliver(res)

    def _refine_floor(self, req: RenderRequest, renderer: Renderer, res: int) -> bool:
        level = self.plan.level(self._plan_key(req, renderer), _drafts(renderer))
        return level is not None and res <= level

    def _levels(self, req: RenderRequest, renderer: Renderer, stop_at: int | None, stop: Callable[[], bool] | None,
                emit_above: int | None) -> RenderResult | None:
        """Decode level by level; with ``emit_above``, every level finer than it goes out as a draft result."""
        problem = renderer.check_latent(req.z)
        if problem:
            self._deliver(RenderResult(req.view, req.seq, req.model_token, None, error=problem, created=req.created,
                                       z=req.z, tag=req.tag))
            return None

        def emit(level: int, image: np.ndarray) -> None:
            if emit_above is not None and level > emit_above and level < max(_drafts(renderer)):
                self._deliver(RenderResult(req.view, req.seq, req.model_token, image, created=req.created,
                                           finished=time.perf_counter(), z=req.z, tag=req.tag, level=level,
                                           device=renderer.last_device, generation=renderer.generation))

        t0 = time.perf_counter()
        try:
            with self.busy:
                image, reached, ms = renderer.decode_levels(req.z, stop_at, stop, emit)
        except StopDecoding:
            return None
        except Exception as exc:  # errors are data: the view shows them and the thread carries on
            log.debug("progressive render failed", exc_info=True)
            return RenderResult(req.view, req.seq, req.model_token, None, error=f"{type(exc).__name__}: {exc}",
                                created=req.created, z=req.z, tag=req.tag)
        self.decodes += 1
        key = self._plan_key(req, renderer)
        self.plan.timings(key).record(reached, ms if stop_at is None else None)
        return RenderResult(req.view, req.seq, req.model_token, image, decode_ms=(time.perf_counter() - t0) * 1e3,
                            created=req.created, finished=time.perf_counter(), z=req.z, tag=req.tag,
                            device=renderer.last_device, batch1=stop_at is None, generation=renderer.generation)

    def _serve_more_urgent(self, priority: int) -> None:
        """Between two chunks of background work: every pending request and rested refine more urgent than it."""
        while True:
            urgent = self._take_more_urgent(priority)
            if urgent is not None:
                self.preempted += 1
                self._process(*urgent)
                continue
            with self._cond:
                due = None if self._stopping else self._refine_due(priority)
            if not isinstance(due, tuple):
                return
            self.preempted += 1
            due[0]()

    def _urgent_waiting(self, priority: int) -> bool:
        """Whether a request or a rested refine more urgent than ``priority`` waits (asked mid-decode)."""
        with self._cond:
            if self._stopping:
                return True
            # Only work that _serve_more_urgent will take (a known model): anything else would stop every chunk.
            known = self._renderers
            if any(r.priority < priority and r.model_token in known for r in self._pending.values()):
                return True
            now = time.perf_counter()
            return any(e[0].priority < priority and e[1] <= now and e[0].model_token in known
                       for e in self._refine.values())

    def _take_more_urgent(self, priority: int) -> tuple[RenderRequest, Renderer] | None:
        with self._cond:
            if self._stopping:
                return None
            req = self._pop_most_urgent(below=priority)
            return None if req is None else (req, self._renderers[req.model_token])

    def _still_wanted(self, req: RenderRequest) -> bool:
        with self._cond:
            return not self._stopping and req.model_token in self._renderers and req.view not in self._pending

    def _render_in_chunks(self, req: RenderRequest, renderer: Renderer, level: int | None = None
                          ) -> RenderResult | None:
        """A background batch a few latents at a time, more urgent work served between chunks; for a progressive
        model a chunk is also given up mid-decode when urgent work arrives, and decoded again after it (one
        image of a 1024-px generator is seconds). None if the batch was superseded meanwhile."""
        z = np.asarray(req.z)
        images: list[np.ndarray] = []
        decode_ms = 0.0
        notice = None
        batch1 = True
        device = ""
        condition: str | None = None
        start = 0
        def yield_now() -> bool:
            return self._urgent_waiting(req.priority) or not self._still_wanted(req)

        while start < len(z):
            self._serve_more_urgent(req.priority)
            if not self._still_wanted(req):
                self._held_notice = self._held_notice or notice  # the fallback still happened: say so later
                return None
            n = self.chunks.size
            try:
                with self.busy:
                    part = renderer.render(replace(req, z=z[start:start + n]), level=level,
                                           should_stop=yield_now if renderer.progressive else None)
            except StopDecoding:
                continue  # the urgent work first (top of the loop), then this chunk again
            if not part.ok:
                part.z, part.tag = req.z, req.tag
                return part
            assert part.image is not None  # ok: it holds the images
            self.chunks.record(len(part.image), part.decode_ms)
            images.append(part.image)
            decode_ms += part.decode_ms
            notice = notice or part.notice
            # A row decoded partly under another condition (the user set one meanwhile) is shown, not kept.
            batch1 = (batch1 and part.batch1 and (not device or part.device == device)
                      and condition in (None, part.condition))
            device, condition = part.device, part.condition
            start += n
        return RenderResult(req.view, req.seq, req.model_token, np.concatenate(images), decode_ms=decode_ms,
                            created=req.created, finished=time.perf_counter(), z=req.z, notice=notice, tag=req.tag,
                            device=device, batch1=batch1, condition=condition or "", generation=renderer.generation)
