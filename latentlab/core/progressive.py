"""Progressive decoding: a cheap draft while a slider moves, the full image once it rests.

A model that can show itself at lower resolutions on the way to its full image has the ``Progressive``
capability: ``decode_levels(z, on_level, should_stop)`` decodes and hands over each intermediate image as it
becomes available (StyleGAN2 and SWAGAN: the running skip-connection RGB after each block, at 8, 16, ...
px), stopping early — between two blocks — when ``should_stop()`` turns true, or after ``stop_at`` px.

``DraftPlan`` learns, per model and device, what each level costs (from the cumulative times of the levels a
full decode passed through) and picks the draft: the finest level that is still cheap enough (within a
fraction of the full decode and within an absolute budget), or none when the full decode itself fits in a
frame. Everything here is plain torch; the render worker drives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

FRAME_BUDGET_MS = 40.0  # a full decode this fast needs no draft
DRAFT_FRACTION = 1 / 10  # a draft costs at most this share of the full decode (the target is 1/8: a margin)
DRAFT_BUDGET_MS = 120.0  # and at most this long (the target at 256 px is 150 ms)
REST_MS = 150.0  # input that has not changed this long has come to rest: refine to the full image


class StopDecoding(Exception):
    """Raised inside ``decode_levels`` when ``should_stop`` turned true: the image is no longer wanted."""


LevelCallback = Callable[[int, Tensor], None]  # (resolution, images in [0, 1] at that resolution)


@runtime_checkable
class Progressive(Protocol):
    draft_resolutions: tuple[int, ...]

    def decode_levels(self, z: Tensor, on_level: LevelCallback | None = None,
                      should_stop: Callable[[], bool] | None = None, stop_at: int | None = None) -> Tensor: ...


def upsample_to(images: Tensor, size: tuple[int, int]) -> Tensor:
    """A draft shown where the full image goes: bilinear up to ``size`` (H, W); unchanged if already there."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)


@dataclass
class LevelTimes:
    """Smoothed milliseconds to reach each resolution (and the full image) for one model on one device."""

    to_level: dict[int, float] = field(default_factory=dict)
    full_ms: float | None = None

    def record(self, cumulative: dict[int, float], full_ms: float | None) -> None:
        for res, ms in cumulative.items():
            old = self.to_level.get(res)
            self.to_level[res] = ms if old is None else 0.6 * old + 0.4 * ms
        if full_ms is not None:
            self.full_ms = full_ms if self.full_ms is None else 0.6 * self.full_ms + 0.4 * full_ms


class DraftPlan:
    """Which draft level to show for a model while input moves (None: show the full image right away)."""

    def __init__(self, frame_budget_ms: float = FRAME_BUDGET_MS, fraction: float = DRAFT_FRACTION,
                 budget_ms: float = DRAFT_BUDGET_MS):
        self.frame_budget_ms = frame_budget_ms
        self.fraction = fraction
        self.budget_ms = budget_ms
        self.times: dict[tuple[int, str], LevelTimes] = {}

    def timings(self, key: tuple[int, str]) -> LevelTimes:
        return self.times.setdefault(key, LevelTimes())

    def known(self, key: tuple[int, str]) -> bool:
        return self.timings(key).full_ms is not None

    def level(self, key: tuple[int, str], levels: tuple[int, ...]) -> int | None:
        """The finest level within budget, the coarsest if none is, or None when no draft is needed."""
        t = self.timings(key)
        if t.full_ms is None or t.full_ms <= self.frame_budget_ms or not levels:
            return None
        cap = min(self.budget_ms, self.fraction * t.full_ms)
        fits = [r for r in levels if t.to_level.get(r, float("inf")) <= cap]
        return max(fits) if fits else min(levels)


def run_levels(model: Progressive, z: Tensor, stop_at: int | None, should_stop: Callable[[], bool] | None,
               emit: LevelCallback | None) -> tuple[Tensor, dict[int, float], float]:
    """Decode through ``model.decode_levels``: (last image, ms to each level, total ms); StopDecoding passes up."""
    t0 = time.perf_counter()
    reached: dict[int, float] = {}

    def on_level(res: int, img: Tensor) -> None:
        reached[res] = (time.perf_counter() - t0) * 1e3
        if emit is not None:
            emit(res, img)

    with torch.inference_mode():
        out = model.decode_levels(z, on_level, should_stop, stop_at)
    return out, reached, (time.perf_counter() - t0) * 1e3
