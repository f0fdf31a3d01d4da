"""``sweep-train``: a grid of training runs as Ray tasks (or in turn), then the sweep evaluation of them.

Each run trains with a resume state beside its checkpoint (``latentlab train --resume``): the checkpoint is
written atomically when the run ends, snapshots every ``snapshot_every`` steps go to ``<run>.series/``, and
the resume state every ``save_every`` steps. A rerun of the grid skips runs whose checkpoint is finished and
continues interrupted ones from their resume state; a run killed with its worker is resubmitted and continues
the same way. Cancelling (Ctrl+C, or the job's stop) drops a stop file in the grid's folder: every run stops
at its next step and keeps its state, and nothing half-written is left (checkpoints appear only complete).

The folder must be reachable by every worker: on a laptop it is local; on a cluster put it on a shared file
system.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentlab.core.errors import CheckpointError
from latentlab.core.jobs import JobCancelled, JobContext, ensure_context
from latentlab.core.sweep.engine import Failure, RunSummary, SequentialBackend, Task, run_tasks
from latentlab.core.sweep.grid import Grid, RunSpec

log = logging.getLogger(__name__)

FINISHED, RESUMED, STARTED, STOPPED = "finished", "resumed", "started", "stopped"


def run_state(spec: RunSpec) -> tuple[str, int]:
    """(what a run needs, its step so far): FINISHED with its checkpoint done, RESUMED from its resume state,
    STARTED from nothing."""
    from latentlab.core.checkpoint import read_card
    from latentlab.core.train_state import read_resume, resume_path

    if spec.out.is_file():
        try:
            step = int((read_card(spec.out).get("training") or {}).get("step", 0))
        except (CheckpointError, OSError, ValueError):
            step = 0
        if step >= spec.config.steps:
            return FINISHED, step
    state = resume_path(spec.out)
    if state.is_file():
        try:
            return RESUMED, int(read_resume(state)[0]["step"])
        except (CheckpointError, KeyError, ValueError):
            return STARTED, 0  # train() reports an unusable resume state with its reason
    return STARTED, 0


def run_train(spec: RunSpec, stop_file: str) -> dict[str, Any]:
    """Train (or continue) one run; plain data back. Stops at the next step once ``stop_file`` exists."""
    from latentlab.core.checkpoint import file_sha256
    from latentlab.core.train import train_to_file

    start = time.monotonic()
    state, step = run_state(spec)
    if state == FINISHED:
        return {"run": spec.name, "state": FINISHED, "step": step, "path": str(spec.out),
                "sha256": file_sha256(spec.out), "seconds": 0.0}
    spec.out.parent.mkdir(parents=True, exist_ok=True)
    stop = Path(stop_file)
    ctx = JobContext(should_stop=stop.exists)
    try:
        train_to_file(spec.config, spec.out, ctx, recipe=spec.recipe(), resume=True,
                      snapshot_every=spec.snapshot_every, save_every=spec.save_every)
    except JobCancelled:
        _, at = run_state(spec)
        return {"run": spec.name, "state": STOPPED, "step": at, "from_step": step, "path": None,
                "seconds": time.monotonic() - start}
    return {"run": spec.name, "state": RESUMED if step else STARTED, "from_step": step, "step": spec.config.steps,
            "path": str(spec.out), "sha256": file_sha256(spec.out), "seconds": time.monotonic() - start,
            "pid": os.getpid()}


@dataclass
class TrainReport:
    runs: list[dict[str, Any]] = field(default_factory=list)  # one per run, in grid order
    summary: RunSummary = field(default_factory=RunSummary)
    evaluation: Any = None  # the SweepReport of the finished runs, when evaluated
    cancelled: bool = False


class GridCancelled(JobCancelled):
    def __init__(self, report: TrainReport):
        super().__init__("training grid cancelled")
        self.report = report


def train_grid(grid: Grid, backend: Any | None = None, ctx: JobContext | None = None, cpus_per_task: float = 1.0,
               gpus_per_task: float = 0.0, retries: int = 2, evaluate: Any | None = None,
               stop_file: Path | None = None, grace_s: float = 120.0, on_tick=None) -> TrainReport:
    """Train every run of ``grid`` that is not finished, then evaluate the finished ones with ``evaluate``
    (``SweepOptions``; None: no evaluation). Cancelling raises ``GridCancelled`` with what finished."""
    from latentlab.core.sweep.evaluate import SweepCancelled, run_sweep

    ctx = ensure_context(ctx)
    backend = backend if backend is not None else SequentialBackend()
    grid.out.mkdir(parents=True, exist_ok=True)
    stop = stop_file or grid.out / f".latentlab-stop-{uuid.uuid4().hex[:12]}"
    report = TrainReport(runs=[{"run": r.name, "path": str(r.out), "varies": r.varies} for r in grid.runs])
    index = {r.name: i for i, r in enumerate(grid.runs)}
    tasks = []
    for spec in grid.runs:
        state, step = run_state(spec)
        report.runs[index[spec.name]].update(state=state, step=step)
        if state != FINISHED:
            left = max(1, spec.config.steps - step)
            tasks.append(Task(spec.name, run_train, (spec, str(stop)), spec.name, float(left), cpus_per_task,
                              gpus_per_task))

    def on_result(task: Task, value: dict[str, Any]) -> None:
        report.runs[index[value["run"]]].update(value)

    def on_error(failure: Failure) -> None:
        report.runs[index[failure.task_id]].update(state="failed", error=failure.message)

    train_ctx = ctx.sub(0.0, 0.7 if evaluate is not None else 1.0)
    try:
        report.summary = run_tasks(tasks, backend, on_result, on_error, train_ctx, retries, on_tick=on_tick,
                                   graceful=stop.touch, grace_s=grace_s)
        if evaluate is not None:
            done = [r["path"] for r in report.runs if r.get("state") in (FINISHED, RESUMED, STARTED) and r.get("path")
                    and Path(r["path"]).is_file() and r.get("step", 0) >= grid.runs[index[r["run"]]].config.steps]
            report.evaluation = run_sweep(done, evaluate, backend, ctx.sub(0.7, 1.0))
    except (JobCancelled, KeyboardInterrupt) as exc:
        report.cancelled = True
        if isinstance(exc, SweepCancelled):
            report.evaluation = exc.report
        raise GridCancelled(report) from exc
    finally:
        stop.unlink(missing_ok=True)
    ctx.progress(1.0, "grid done")
    return report
