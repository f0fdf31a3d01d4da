"""Latent -> pixels, off the GUI thread.

``Renderer.render`` turns a ``RenderRequest`` into a ``RenderResult`` and never raises: a bad latent, a
broken model or an exhausted GPU come back as ``result.error`` so the view can show it and carry on. The
render thread that drives it is ``render_worker.RenderWorker``; ``render_service`` routes every view to it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from latentlab.core.device import PREVIEW_OOM_NOTICE, retry_on_cpu
from latentlab.core.fast_decode import TracedDecoder, to_numpy_images, uint8_images
from latentlab.core.model import Conditioned, LatentModel, device_of, tag_of_condition
from latentlab.core.progressive import Progressive, StopDecoding, run_levels, upsample_to

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
    # A live view of a slow model: show a cheap draft now and the full image once input rests (see progressive).
    progressive: bool = False


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
    level: int | None = None  # a draft: the resolution it was decoded at (shown upsampled); None: the full image
    condition: str = ""  # a conditioned model's condition it was decoded under (``model.tag_of_condition``)
    generation: int = 0  # the renderer (so: the model object) that decoded it; see Renderer.generation

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def draft(self) -> bool:
        return self.level is not None

    @property
    def rank(self) -> tuple[int, float]:
        """Order of results for one view: newer requests first, then finer levels of the same request."""
        return (self.seq, float("inf") if self.level is None else float(self.level))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> uint8 (B, H, W) for one channel, (B, H, W, 3) for three."""
    return to_numpy_images(uint8_images(images.detach()))


_GENERATIONS = itertools.count(1)


class Renderer:
    """Decodes latents with one model. Thread-safe as long as one thread calls ``render`` at a time.

    ``traced=True`` (the interactive render thread) decodes through a verified TorchScript trace once
    ``prepare_trace`` has run, which keeps the GIL free for the GUI thread; see ``fast_decode``.
    """

    def __init__(self, model: LatentModel, traced: bool = False):
        self.model = model
        # Which model object decoded a result: a token's model is replaced by another view of the same weights
        # (another class, truncation or space of a StyleGAN) while a decode is in flight; its result must not
        # be kept as a frame of the new one.
        self.generation = next(_GENERATIONS)
        self.tracer = TracedDecoder() if traced else None
        # Set when a decode could not use the trace: only then is a (re)trace worth checking for. A frame that
        # went through the trace has just checked the model's key.
        self.trace_due = traced
        self.last_device = ""  # where the last decode ran, for its result
        self._pinned: dict[tuple[int, ...], torch.Tensor] = {}
        self.last_condition = ""  # the condition tag the last decode ran under (conditioned models)
        self._checked: object = None
        self._conditioned = False

    def _condition(self) -> torch.Tensor | None:
        model = self.model
        if self._checked is not model:  # the protocol check is slow for every frame; the model rarely changes
            self._checked, self._conditioned = model, isinstance(model, Conditioned)
        return cast(Conditioned, model).condition if self._conditioned else None

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
        if dev.type == "cuda":
            zt = self._to_cuda(zt, dev)
        elif dev.type != "cpu":
            zt = zt.to(dev)
        # A conditioned model's condition is read once: the frame and its tag are of that one condition even
        # when the user sets another meanwhile.
        c = self._condition()
        self.last_condition = tag_of_condition(c) if c is not None else ""
        t0 = time.perf_counter()
        if self.tracer is not None and self.tracer.usable_for(self.model, zt.shape[0]):
            img = self.tracer(zt, None if c is None else c.to(dev))
        else:
            self.trace_due = self.tracer is not None
            with torch.inference_mode():
                if c is None:
                    img = to_uint8(self.model.decode(zt))
                else:
                    given = cast(Conditioned, self.model).decode_given
                    img = to_uint8(given(zt, c.to(dev).reshape(1, -1).expand(zt.shape[0], -1)))
        ms = (time.perf_counter() - t0) * 1e3
        return (img if batch else img[0]), ms

    def _to_cuda(self, zt: torch.Tensor, dev: torch.device) -> torch.Tensor:
        """Host to GPU through a pinned buffer kept per shape (no page-locking per frame, an async copy)."""
        buf = self._pinned.get(tuple(zt.shape))
        if buf is None:
            try:
                buf = self._pinned[tuple(zt.shape)] = torch.empty(zt.shape, dtype=zt.dtype).pin_memory()
            except RuntimeError:  # no pinned memory on this machine: a plain copy does
                return zt.to(dev)
        buf.copy_(zt)
        return buf.to(dev, non_blocking=True)

    def move_to_cpu(self) -> None:
        self.model = self.model.to("cpu")

    # --- progressive previews -----------------------------------------------------------------------------------
    @property
    def progressive(self) -> bool:
        return isinstance(self.model, Progressive) and bool(getattr(self.model, "draft_resolutions", ()))

    def decode_levels(self, z: np.ndarray, stop_at: int | None, should_stop: Callable[[], bool] | None,
                      emit: Callable[[int, np.ndarray], None] | None) -> tuple[np.ndarray, dict[int, float], float]:
        """Latents decoded level by level (eager), each level as uint8 at the full image size ((D,) -> one image)."""
        arr = np.asarray(z, np.float32)
        single = arr.ndim == 1
        zt = torch.from_numpy(np.ascontiguousarray(arr.reshape(1, -1) if single else arr))
        dev = device_of(self.model)
        self.last_device = str(dev)
        zt = self._to_cuda(zt, dev) if dev.type == "cuda" else zt.to(dev)
        size = tuple(self.model.info.image_shape[1:])

        def to_image(img: torch.Tensor) -> np.ndarray:
            out = to_uint8(upsample_to(img, size))  # type: ignore[arg-type]
            return out[0] if single else out

        hook = None if emit is None else (lambda res, img: emit(res, to_image(img)))
        out, reached, ms = run_levels(self.model, zt, stop_at, should_stop, hook)  # type: ignore[arg-type]
        return to_image(out), reached, ms

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

    def render(self, req: RenderRequest, level: int | None = None,
               should_stop: Callable[[], bool] | None = None) -> RenderResult:
        """The request's image(s); with ``level``, a draft decoded only up to that resolution (shown upsampled).

        ``should_stop`` (progressive models only) is asked between synthesis layers: when it turns true the
        decode is abandoned and ``StopDecoding`` raised, so slow background work yields to a waiting preview.
        """
        res = RenderResult(req.view, req.seq, req.model_token, None, created=req.created, z=req.z, tag=req.tag,
                           level=level)
        try:
            problem = self.check_latent(req.z)
            if problem:
                res.error = problem
                return res
            if level is not None or (should_stop is not None and self.progressive):
                res.image, _, res.decode_ms = self.decode_levels(req.z, level, should_stop, None)
                notice = None
            else:
                (res.image, res.decode_ms), notice = self.decode_or_fall_back(req.z)
            res.notice = notice
            res.device, res.condition, res.generation = self.last_device, self.last_condition, self.generation
            res.batch1 = level is None and (np.ndim(req.z) == 1 or len(req.z) == 1)
            bad = _bad_output(res.image)
            if bad:
                res.error, res.image = bad, None
        except StopDecoding:
            raise
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
