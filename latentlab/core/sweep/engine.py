"""Running a sweep's tasks: on Ray (a local Ray started in-process, or a cluster by address) or one after
another in this process (``SequentialBackend``, the reference and the way without Ray).

The driver loop (``run_tasks``) hands each finished task's value to ``on_result`` in the driver process (the
only place that writes the results store), reports a failing task to ``on_error`` and goes on, resubmits a
task whose worker died (killed, out of memory, a node lost) up to ``retries`` times, reports progress with
the tasks done and an ETA, and on cancellation (``ctx.should_stop`` or Ctrl+C) cancels every task still
queued or running before it returns: nothing a cancelled task did reaches the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from latentlab.core.errors import BadInput, LatentlabError
from latentlab.core.jobs import JobCancelled, JobContext, ensure_context

log = logging.getLogger(__name__)


class RayUnavailable(LatentlabError, RuntimeError):
    """Ray is not installed, or the cluster named by --address cannot be reached."""


@dataclass
class Task:
    """A unit of work: ``fn(*args)`` in a worker. ``fn`` must be importable (a module-level function)."""

    task_id: str
    fn: Callable[..., Any]
    args: tuple = ()
    label: str = ""
    weight: float = 1.0  # its share of the progress bar
    cpus: float = 1.0
    gpus: float = 0.0
    attempts: int = 0


@dataclass
class Failure:
    task_id: str
    label: str
    message: str
    error: BaseException | None = None
    worker_lost: bool = False


@dataclass
class RunSummary:
    done: int = 0
    failed: list[Failure] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # one line per worker lost and task resubmitted
    cancelled: int = 0
    seconds: float = 0.0


class TaskError(Exception):
    """A task raised: ``cause`` is its own exception (typed), ``worker_lost`` when its worker died instead."""

    def __init__(self, message: str, cause: BaseException | None = None, worker_lost: bool = False):
        super().__init__(message)
        self.cause = cause
        self.worker_lost = worker_lost


class SequentialBackend:
    """Each task runs in this process when it is waited for: no Ray, no parallelism."""

    name = "sequential"
    workers = 1
    concurrent = False  # nothing runs between two waits: a cancellation finds no task to wind down

    def __init__(self) -> None:
        self._queue: dict[int, Task] = {}
        self._next = 0

    def submit(self, task: Task) -> int:
        self._next += 1
        self._queue[self._next] = task
        return self._next

    def wait(self, handles: list[int], timeout: float) -> tuple[list[int], list[int]]:
        return handles[:1], handles[1:]  # the first is "ready": result() runs it

    def result(self, handle: int) -> Any:
        task = self._queue.pop(handle)
        try:
            return task.fn(*task.args)
        except Exception as exc:
            raise TaskError(_describe(exc), exc) from exc

    def cancel(self, handles: list[int]) -> None:
        for h in handles:
            self._queue.pop(h, None)

    def close(self) -> None:
        self._queue.clear()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, (LatentlabError, ValueError, OSError, TypeError)) else f"{type(exc).__name__}: {text}"


def parse_address(address: str | None) -> str | None:
    """None (start a local Ray), ``auto`` (the cluster this machine belongs to) or ``ray://host:port``."""
    if address is None or address == "":
        return None
    a = address.strip()
    if a == "auto" or a.startswith("ray://"):
        return a
    if a.count(":") == 1 and a.rsplit(":", 1)[1].isdigit():
        return a  # a head node's GCS address (host:6379), as `ray start --head` prints it
    raise BadInput(f"--address must be 'auto', 'ray://HOST:PORT' or 'HOST:PORT', got {address!r}")


class RayBackend:
    """Tasks as Ray remote functions. Reuses a Ray this process already started (tests, notebooks); otherwise
    starts a local one (``num_cpus`` workers at most) or connects to ``address``, and shuts it down at close.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
                 ship_code: bool = False):
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("Ray is not installed (pip install 'ray[client]'); or run with --sequential",
                                 None) from exc
        self.ray = ray
        self.address = parse_address(address)
        self._owned = False
        if not ray.is_initialized():
            runtime_env = _code_env() if ship_code else None
            try:
                if self.address is None:
                    # Ray keeps its default (token authentication on) but need not announce it on every command.
                    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
                    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
                             logging_level=logging.ERROR, configure_logging=False, runtime_env=runtime_env)
                else:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR,
                             configure_logging=False, runtime_env=runtime_env)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailable(f"cannot start or reach Ray ({self.address or 'local'}): {exc}",
                                     "check --address, or run with --sequential") from None
            self._owned = True
        self._remote: dict[Callable, Any] = {}

    @property
    def workers(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def share(self, obj: Any) -> Any:
        """Put ``obj`` in the object store once; tasks given the reference all read that one copy."""
        return self.ray.put(obj)

    def submit(self, task: Task) -> Any:
        remote = self._remote.get(task.fn)
        if remote is None:
            # Ray's own retries stay off: a lost worker is resubmitted by run_tasks, which says so.
            remote = self.ray.remote(max_retries=0)(task.fn)
            self._remote[task.fn] = remote
        return remote.options(num_cpus=task.cpus, num_gpus=task.gpus, name=f"latentlab:{task.label or task.task_id}"
                              ).remote(*task.args)

    def wait(self, handles: list[Any], timeout: float) -> tuple[list[Any], list[Any]]:
        return self.ray.wait(handles, num_returns=1, timeout=timeout)

    def result(self, handle: Any) -> Any:
        exc_mod = self.ray.exceptions
        lost = tuple(getattr(exc_mod, n) for n in ("WorkerCrashedError", "NodeDiedError", "ObjectLostError",
                                                    "OutOfMemoryError", "LocalRayletDiedError", "OwnerDiedError")
                     if hasattr(exc_mod, n))
        try:
            return self.ray.get(handle)
        except lost as exc:
            raise TaskError(f"its worker died ({type(exc).__name__})", exc, worker_lost=True) from None
        except exc_mod.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
            raise TaskError(_describe(cause), cause) from None

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            try:
                self.ray.cancel(h, force=True)
            except Exception as exc:  # already finished, or its worker gone: nothing left to stop
                log.debug("cancel: %s", exc)

    def close(self) -> None:
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
        self._owned = False


def _wind_down(pending: dict[Any, Task], backend: Any, on_result: Callable[[Task, Any], None], summary: RunSummary,
               graceful: Callable[[], None], grace_s: float) -> None:
    graceful()
    deadline = time.monotonic() + grace_s
    try:
        while pending and time.monotonic() < deadline:
            ready, _ = backend.wait(list(pending), min(0.25, max(0.0, deadline - time.monotonic())))
            for handle in ready:
                task = pending.pop(handle)
                try:
                    on_result(task, backend.result(handle))
                    summary.done += 1
                except TaskError as err:
                    summary.failed.append(Failure(task.task_id, task.label, str(err), err.cause, err.worker_lost))
    except KeyboardInterrupt:
        pass  # asked twice: stop waiting, cancel the rest


def _code_env() -> dict[str, Any]:
    """Ship this latentlab package with the job, so a cluster runs the same code as the driver."""
    from pathlib import Path

    import latentlab

    return {"py_modules": [str(Path(latentlab.__file__).parent)]}


def eta_text(elapsed: float, fraction: float) -> str:
    """"ETA 40 s" from the time so far and the share done ("" before there is anything to go on)."""
    if fraction <= 0.0 or fraction >= 1.0:
        return ""
    left = elapsed / fraction - elapsed
    return f"ETA {left / 60:.1f} min" if left >= 90 else f"ETA {left:.0f} s"


def run_tasks(tasks: list[Task], backend: Any, on_result: Callable[[Task, Any], None],
              on_error: Callable[[Failure], None] | None = None, ctx: JobContext | None = None,
              retries: int = 2, poll: float = 0.25,
              on_tick: Callable[[dict[Any, Task]], None] | None = None, graceful: Callable[[], None] | None = None,
              grace_s: float = 60.0) -> RunSummary:
    """Run every task on ``backend``; see the module docstring. ``on_tick`` (tests) sees the tasks in flight.

    ``graceful``: on cancellation, called first (it tells running tasks to stop at their next safe point, e.g.
    training runs that then keep their resume state); what they return within ``grace_s`` still reaches
    ``on_result``, and only what is left after that is cancelled outright. A second Ctrl+C cuts it short.
    """
    ctx = ensure_context(ctx)
    summary = RunSummary()
    total = sum(t.weight for t in tasks) or 1.0
    done_weight = 0.0
    start = time.monotonic()
    pending: dict[Any, Task] = {}
    for t in tasks:
        pending[backend.submit(t)] = t
    ctx.progress(0.0, f"0/{len(tasks)} tasks")
    try:
        while pending:
            ctx.check()
            ready, _ = backend.wait(list(pending), poll)
            for handle in ready:
                task = pending.pop(handle)
                try:
                    value = backend.result(handle)
                except TaskError as err:
                    if err.worker_lost and task.attempts < retries:
                        task.attempts += 1
                        summary.retried.append(f"{task.label or task.task_id}: {err}; resubmitted "
                                               f"(attempt {task.attempts + 1} of {retries + 1})")
                        log.warning("%s", summary.retried[-1])
                        pending[backend.submit(task)] = task
                        continue
                    failure = Failure(task.task_id, task.label, str(err), err.cause, err.worker_lost)
                    summary.failed.append(failure)
                    if on_error:
                        on_error(failure)
                else:
                    on_result(task, value)
                    summary.done += 1
                done_weight += task.weight
                fraction = done_weight / total
                failed = f", {len(summary.failed)} failed" if summary.failed else ""
                ctx.progress(fraction, f"{summary.done + len(summary.failed)}/{len(tasks)} tasks{failed}")
            if on_tick:
                on_tick(pending)
    except (JobCancelled, KeyboardInterrupt):
        if graceful is not None and pending and getattr(backend, "concurrent", True):
            _wind_down(pending, backend, on_result, summary, graceful, grace_s)
        summary.cancelled = len(pending)
        backend.cancel(list(pending))
        raise
    finally:
        summary.seconds = time.monotonic() - start
    return summary
