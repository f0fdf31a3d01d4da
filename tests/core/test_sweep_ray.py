"""Sweeps on a real local Ray (2 CPUs, started once for the module): the same figures as the sequential path,
the driver alone writing the store, a worker killed mid-task and the sweep still complete, a rerun that
resumes from the store with nothing lost, and cancellation that leaves only whole results."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from latentlab.cli import main  # noqa: E402
from latentlab.core.jobs import JobContext  # noqa: E402
from latentlab.core.store import ResultStore  # noqa: E402
from latentlab.core.sweep.engine import RayBackend, SequentialBackend  # noqa: E402
from latentlab.core.sweep.evaluate import SweepCancelled, SweepOptions, run_sweep  # noqa: E402
from latentlab.core.sweep.tasks import EvalSettings  # noqa: E402
from tests.helpers import tiny_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow
METRICS = ["mig", "sap", "modularity"]


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep-ray")
    good = [str(tiny_checkpoint(root / f"s{i}.safetensors", latent_dim=4, seed=i)) for i in range(4)]
    broken = root / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    gan = str(tiny_checkpoint(root / "gan.safetensors", arch="infowgan", latent_dim=4))
    return good, str(broken), gan


def _options(**kw) -> SweepOptions:
    return SweepOptions(metrics=list(METRICS), settings=EvalSettings(dataset="dsprites", n=300, device="cpu"), **kw)


def _values(report) -> dict[str, dict]:
    return {r.file: dict(r.values) for r in report.rows if r.error is None and r.skipped is None}


def _descendant(pid: int) -> bool:
    me, seen = os.getpid(), 0
    while pid > 1 and seen < 64:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == me:
            return True
        seen += 1
    return False


def _busy_workers() -> list[int]:
    """Our Ray's worker processes that are running a latentlab task right now (Ray titles them by task)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::latentlab:") and _descendant(int(entry)):
                out.append(int(entry))
    return out


def test_ray_gives_the_sequential_figures_reports_bad_files_and_skips_a_bare_gan(local_ray, files, tmp_path):
    good, broken, gan = files
    everything = [good[0], broken, gan, good[1]]
    seq = run_sweep(everything, _options(), SequentialBackend(), store=ResultStore(tmp_path / "a.sqlite3"))
    backend = RayBackend()
    on_ray = run_sweep(everything, _options(), backend, store=ResultStore(tmp_path / "b.sqlite3"))
    backend.close()  # a Ray it did not start stays up
    assert ray.is_initialized()
    assert on_ray.backend == "ray" and on_ray.tasks == 2 * 2  # two checkpoints x (info, sap)
    assert _values(on_ray) == _values(seq) and len(_values(on_ray)) == 2
    rows = {r.file: r for r in on_ray.rows}
    assert "broken.safetensors" in rows[broken].error
    assert "no encoder" in rows[gan].skipped and "--invert" in rows[gan].skipped
    for f in (good[0], good[1]):
        assert set(rows[f].computed) == set(METRICS)
        assert all(0.0 <= rows[f].values[c] <= 1.0 for c in ("mig.mig", "sap.sap", "modularity.modularity"))


def test_a_worker_killed_mid_task_is_resubmitted_and_a_rerun_loses_nothing(local_ray, files, tmp_path):
    good, _, _ = files
    db = ResultStore(tmp_path / "kill.sqlite3")
    killed: list[int] = []

    def kill_one(in_flight) -> None:
        if not killed:
            for pid in _busy_workers():
                os.kill(pid, signal.SIGKILL)  # a real worker process, in the middle of one of our tasks
                killed.append(pid)
                break

    report = run_sweep(good, _options(), RayBackend(), store=db, on_tick=kill_one)
    assert killed, "no worker was seen running a task"
    assert len(report.summary.retried) == 1 and "worker died" in report.summary.retried[0]
    assert not report.summary.failed
    first = _values(report)
    assert len(first) == 4 and all(len(v) == 5 for v in first.values())  # mig + sap + modularity x 3
    # Everything is in the store: a rerun has no task to run and reads the very same figures.
    again = run_sweep(good, _options(), RayBackend(), store=ResultStore(tmp_path / "kill.sqlite3"))
    assert again.tasks == 0 and _values(again) == first
    assert all(set(r.stored) == set(METRICS) for r in again.rows)


def test_cancelling_keeps_finished_results_only_and_a_rerun_does_the_rest(local_ray, files, tmp_path):
    good, _, _ = files
    db_path = tmp_path / "cancel.sqlite3"
    stored_when_cancelled: list[int] = []

    def stop_after_first() -> bool:
        n = len(ResultStore(db_path).find(kind="metric"))
        if n:
            stored_when_cancelled.append(n)
        return n > 0

    with pytest.raises(SweepCancelled) as info:
        run_sweep(good, _options(), RayBackend(), JobContext(should_stop=stop_after_first),
                  store=ResultStore(db_path))
    partial = info.value.report
    assert partial.cancelled
    kept = ResultStore(db_path).find(kind="metric")
    done = sum(len(r.computed) for r in partial.rows)
    assert 0 < len(kept) == done < 4 * len(METRICS)  # every stored figure is one the driver received whole
    resumed = run_sweep(good, _options(), RayBackend(), store=ResultStore(db_path))
    assert sum(len(r.stored) for r in resumed.rows) == done
    assert resumed.tasks < 4 * 2 and len(_values(resumed)) == 4
    assert all(len(v) == 5 for v in _values(resumed).values())


def test_cli_sweep_on_ray_json_and_a_bad_address(local_ray, files, capsys):
    good, broken, gan = files
    argv = ["sweep", good[2], broken, gan, "--dataset", "dsprites", "--metrics", "mig", "--n", "200", "--json",
            "--cpus-per-task", "1", "--device", "cpu"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "ray" and out["tasks"] == 1
    ok, bad, skipped = out["rows"]
    assert 0.0 <= ok["mig.mig"] <= 1.0 and "error" in bad and "skipped" in skipped
    assert main(["sweep", good[2], "--address", "not an address", "--quiet"]) == 1
    assert "--address" in capsys.readouterr().err
    assert main(["sweep", good[2], "--sequential", "--address", "auto", "--quiet"]) == 2
