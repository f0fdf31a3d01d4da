"""Decode-to-uint8 traced into one TorchScript call, so the render thread barely needs Python's GIL.

Why: an eager ``model.decode`` releases and re-acquires the GIL around every layer. While the GUI thread is
busy in Python (a slider drag: slider events, painting, signal handlers), each re-acquisition waits for the
interpreter's switch interval, and a decode in a render thread next to a
Python-busy thread takes many times its bare time. A traced call holds the GIL only to enter and to leave.
``benchmarks/preview_latency.py --compare-eager`` measures the preview both ways in one run.

The traced function is used only where it is exactly the eager decode: after tracing, both run on a few
prior samples and every uint8 pixel must agree, at batch 1 and (for batched requests) at batch 3. A model
whose decode is random, depends on Python state or does not trace falls back to the eager decode, and
``reason`` says why. The TorchScript graph executor's optimisations are switched off for the calls (the
setting is per thread) so the interpreter runs the same ATen kernels as eager PyTorch: fused CUDA kernels
could round differently, and the preview must show exactly ``model.decode(z)``. ``torch.jit.trace`` is
deprecated in recent PyTorch, but it is the one way to run a module without the GIL that needs no
compiler at run time; when it goes or fails, the eager path is what runs.

A ``Conditioned`` model (a decoder of (z, c)) is traced with the condition c as a second input, so setting
another condition needs no new trace; the verification also decodes under a second condition, which proves
c is not frozen into the graph.

Traced graphs hold the model's parameters as constants, so the trace is keyed on the model object and its
device and dtype, and redone when either changes (for example after an out-of-memory fallback to the CPU).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.core.model import Conditioned, LatentModel, device_of

log = logging.getLogger(__name__)

DISABLE_ENV = "LATENTLAB_EAGER_DECODE"  # "1": never trace (for comparisons and for debugging a model)


def uint8_images(images: Tensor) -> Tensor:
    """(B, C, H, W) floats in [0, 1] -> uint8 (B, H, W, C) on the same device; traceable."""
    x = images.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1)


def to_numpy_images(x: Tensor) -> np.ndarray:
    """uint8 (B, H, W, C) -> numpy (B, H, W) for one channel, (B, H, W, 3) for three."""
    arr = (x if x.device.type == "cpu" else x.cpu()).numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


class _DecodeToUint8(nn.Module):
    def __init__(self, model: LatentModel):
        super().__init__()
        self.model = model

    def forward(self, z: Tensor) -> Tensor:
        return uint8_images(self.model.decode(z))


class _DecodeGivenToUint8(nn.Module):
    """A conditioned decoder with its condition (n,) as an input of the graph."""

    def __init__(self, model: Conditioned):
        super().__init__()
        self.model = model

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        return uint8_images(self.model.decode_given(z, c.reshape(1, -1).expand(z.shape[0], -1)))


def _other_condition(c: Tensor, exclusive: bool) -> Tensor:
    """A condition different from ``c``, to prove the trace reads its condition input."""
    return torch.roll(c, 1) if exclusive and c.numel() > 1 else 1.0 - c


def _model_key(model: LatentModel) -> tuple:
    try:
        p = next(iter(model.parameters()))  # type: ignore[attr-defined]  # an nn.Module's; others: except below
        return id(model), p.device, p.dtype
    except (AttributeError, StopIteration, TypeError):
        return id(model), device_of(model), None


class TracedDecoder:
    """``decode(z) -> uint8 numpy`` through a verified trace when possible, eagerly otherwise."""

    VERIFY_SEEDS = (0, 1)

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._traced: torch.jit.ScriptModule | None = None
        self.batched = False  # the trace also reproduces batches, not only batch 1
        self.conditioned = False  # the trace takes the model's condition as its second input
        self.reason = ""  # why there is no trace (empty while there is one)
        self.disabled = os.environ.get(DISABLE_ENV, "") == "1"
        if self.disabled:
            self.reason = f"{DISABLE_ENV}=1"

    @property
    def active(self) -> bool:
        return self._traced is not None

    def usable_for(self, model: LatentModel, batch: int) -> bool:
        return (self._traced is not None and self._key == _model_key(model)
                and (batch == 1 or self.batched))

    def needs_preparing(self, model: LatentModel) -> bool:
        return not self.disabled and self._key != _model_key(model)

    def prepare(self, model: LatentModel) -> bool:
        """Trace and verify for ``model`` as it is now (its device and dtype). Returns whether it is used."""
        self._key = _model_key(model)
        self._traced, self.batched, self.reason = None, False, ""
        if self.disabled:
            self.reason = f"{DISABLE_ENV}=1"
            return False
        if not isinstance(model, nn.Module):
            self.reason = "the model is not a torch module"
            return False
        if not getattr(model, "traceable", True):
            self.reason = "the model says its decode must run eagerly (traceable = False)"
            return False
        dev = device_of(model)
        gen = torch.Generator().manual_seed(12345)
        self.conditioned = isinstance(model, Conditioned)
        try:
            wrapper = (_DecodeGivenToUint8(cast(Conditioned, model)) if self.conditioned else _DecodeToUint8(model)).eval()
            z1 = model.sample_prior(1, generator=gen).to(dev)
            inputs = (z1, model.condition.to(dev)) if self.conditioned else z1
            with warnings.catch_warnings(record=True) as caught, torch.no_grad():
                warnings.simplefilter("always")
                traced = torch.jit.trace(wrapper, inputs, check_trace=False)
            # A tracer warning means Python control flow read a tensor's value: the trace froze one branch,
            # and a few verification samples could all take that branch too.
            tracer_warnings = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
            if tracer_warnings:
                self.reason = f"the decoder branches on tensor values ({tracer_warnings[0].message})"
                return False
            if not self._agrees(model, traced, 1):
                self.reason = "the traced decode differs from the eager decode"
                return False
            try:
                self.batched = self._agrees(model, traced, 3)
            except Exception:  # a trace that froze the batch size (StyleGAN's grouped convs) still serves batch 1
                self.batched = False
        except Exception as exc:  # anything a tracer can trip on: the eager path stays correct
            self.reason = f"could not trace the decoder ({type(exc).__name__}: {exc})"
            log.debug("tracing the decoder failed", exc_info=True)
            return False
        self._traced = traced
        return True

    def _agrees(self, model: LatentModel, traced, batch: int) -> bool:
        dev = device_of(model)
        conditions: list[Tensor | None] = [None]
        if self.conditioned:
            now = cast(Conditioned, model).condition.to(dev)
            conditions = [now, _other_condition(now, bool(getattr(model, "condition_exclusive", False)))]
        for seed in self.VERIFY_SEEDS:
            z = model.sample_prior(batch, generator=torch.Generator().manual_seed(seed)).to(dev)
            for c in conditions:
                with torch.inference_mode():
                    if c is None:
                        want = uint8_images(model.decode(z))
                    else:
                        given = cast(Conditioned, model).decode_given
                        want = uint8_images(given(z, c.reshape(1, -1).expand(batch, -1)))
                    got = self._call(traced, z, c)
                if got.shape != want.shape or not torch.equal(got, want):
                    return False
        return True

    @staticmethod
    def _call(traced, z: Tensor, c: Tensor | None = None) -> Tensor:
        with torch.jit.optimized_execution(False):
            return traced(z) if c is None else traced(z, c)

    def __call__(self, z: Tensor, c: Tensor | None = None) -> np.ndarray:
        """uint8 images of a (B, D) latent batch on the model's device (call ``usable_for`` first); a
        conditioned model's trace also takes the condition (n,) to decode under."""
        assert self._traced is not None
        with torch.inference_mode():
            return to_numpy_images(self._call(self._traced, z, c if self.conditioned else None))
