"""The work of one sweep task, as plain functions of plain data: what a Ray worker (or the sequential path)
runs. Nothing here touches the results store or the user's files: workers return data, the driver keeps it.

A task gets the checkpoint's bytes, not its path, so it runs on any node of a cluster; it checks them against
the SHA-256 the driver planned with, and code-carrying formats are opened only when the user trusted exactly
those bytes.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import CheckpointError
from latentlab.core.sweep.encoders import Route, with_encoder

# Metrics that share one task (and so one encoding of the dataset); the costly ones get a task each, so a
# sweep of a few checkpoints still spreads over every worker.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "dci": ("dci",),
    "sap": ("sap",),
    "infomec": ("infomec",),
    "scores": ("betavae", "factorvae"),
    "info": ("mig", "modularity", "unsupervised", "geometry", "kl", "activity"),
}


def group_of(metric: str) -> str:
    for name, members in METRIC_GROUPS.items():
        if metric in members:
            return name
    return metric


@dataclass
class EvalSettings:
    """What every evaluation task of a sweep shares (also what the stored figures are keyed on)."""

    dataset: str | None = None  # None: each card's
    n: int = 10000
    n_test: int | None = None
    seed: int = 0
    representation: str = "mean"
    drop_passive: bool = False
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    batch_size: int = 256
    udr_n: int = 1000  # observations every model of a UDR group encodes

    def resolved_n_test(self) -> int:
        return max(2, self.n // 2) if self.n_test is None else self.n_test


@dataclass
class EvalTask:
    """One (checkpoint, metric group) of a sweep, or a checkpoint's encoding for UDR (``udr=True``)."""

    task_id: str
    file_name: str
    sha256: str
    dataset: str
    metrics: tuple[str, ...]
    settings: EvalSettings
    route: Route
    trusted: bool = False
    arch: str | None = None
    udr: bool = False


def _open(task: EvalTask, blob: bytes, folder: Path):
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.checkpoints import Trust

    path = folder / Path(task.file_name).name
    path.write_bytes(blob)
    trust = Trust.of(task.sha256) if task.trusted else False
    ck = open_checkpoint(path, arch=task.arch, trust=trust, device=task.settings.device)
    if ck.sha256 != task.sha256:
        raise CheckpointError(task.file_name, "its bytes changed between planning and evaluation")
    return ck


def udr_observations(dataset, n: int, seed: int) -> np.ndarray:
    """The factor rows every model of a UDR group encodes (the same for all: they are compared on them)."""
    return dataset.sample_factors(n, np.random.default_rng(10_007 + seed))


def run_eval(task: EvalTask, blob: bytes) -> dict[str, Any]:
    """Evaluate one task; plain data back: per metric its ``MetricResult.to_dict()``, or the UDR encoding."""
    from latentlab.core.data import get_dataset
    from latentlab.core.encode import encode_factors
    from latentlab.core.metrics.runner import evaluate

    start = time.monotonic()
    s = task.settings
    with tempfile.TemporaryDirectory(prefix="latentlab-sweep-") as tmp:
        ck = _open(task, blob, Path(tmp))
        ck = dataclasses.replace(ck, model=with_encoder(ck.model, task.route))
        ds = get_dataset(task.dataset)
        out: dict[str, Any] = {"task_id": task.task_id, "pid": os.getpid(), "host": socket.gethostname()}
        if task.udr:
            enc = encode_factors(ck.model, ds, udr_observations(ds, s.udr_n, s.seed), s.batch_size)
            out["udr"] = {"mean": enc.mean.astype(np.float32),
                          "logvar": None if enc.logvar is None else enc.logvar.astype(np.float32)}
        else:
            results = evaluate(ck, ds, list(task.metrics), n=s.n, n_test=s.n_test, representation=s.representation,
                               drop_passive=s.drop_passive, seed=s.seed, params=s.params, store=None,
                               batch_size=s.batch_size)
            out["results"] = {name: res.to_dict() for name, res in results.items()}
    out["seconds"] = time.monotonic() - start
    return out
