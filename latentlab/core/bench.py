"""Bare decode timing of a model: the reference every latency figure in latentlab is measured against.

The preview's latency budget is stated as a multiple of this number, so it must be measured the same way
everywhere: after warm-up, on the model's own device, with CUDA work synchronised before the clock stops.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from latentlab.core.model import LatentModel, device_of


@dataclass
class DecodeTiming:
    """Decode latency at batch 1 (ms, percentiles over ``repeats``) and throughput at ``batch``."""

    device: str
    repeats: int
    batch: int
    p50_ms: float
    p95_ms: float
    min_ms: float
    batch_ms: float
    images_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_decode(model: LatentModel, repeats: int = 50, batch: int = 64, warmup: int = 5, seed: int = 0) -> DecodeTiming:
    """Time ``model.decode`` on prior samples: batch-1 percentiles and batch-``batch`` throughput."""
    if repeats < 1 or batch < 1 or warmup < 0:
        raise ValueError(f"repeats and batch must be >= 1 and warmup >= 0; got {repeats}, {batch}, {warmup}")
    device = device_of(model)
    gen = torch.Generator().manual_seed(seed)
    z1 = model.sample_prior(1, generator=gen).to(device)
    zb = model.sample_prior(batch, generator=gen).to(device)
    for _ in range(warmup):
        model.decode(z1)
    model.decode(zb)
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.decode(z1)
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
    batch_runs = max(1, min(5, repeats // 10))
    t0 = time.perf_counter()
    for _ in range(batch_runs):
        model.decode(zb)
    _sync(device)
    batch_ms = (time.perf_counter() - t0) * 1000.0 / batch_runs
    arr = np.asarray(times)
    return DecodeTiming(device=str(device), repeats=repeats, batch=batch, p50_ms=float(np.percentile(arr, 50)),
                        p95_ms=float(np.percentile(arr, 95)), min_ms=float(arr.min()), batch_ms=batch_ms,
                        images_per_s=batch * 1000.0 / batch_ms if batch_ms > 0 else float("inf"))
