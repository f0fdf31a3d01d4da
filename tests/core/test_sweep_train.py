"""Training grids: the TOML file, runs written whole with their snapshots and resume state, an InfoGAN evaluated
through its Q head, UDR over seeds, a rerun that skips finished runs and resumes interrupted ones (to the same
weights as a run never interrupted), and a training worker killed on Ray."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from latentlab.cli import main
from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobCancelled, JobContext
from latentlab.core.store import ResultStore
from latentlab.core.sweep.engine import SequentialBackend
from latentlab.core.sweep.evaluate import SweepOptions
from latentlab.core.sweep.grid import load_grid
from latentlab.core.sweep.tasks import EvalSettings
from latentlab.core.sweep.train_grid import FINISHED, RESUMED, run_state, train_grid
from latentlab.core.train import train_to_file

pytestmark = pytest.mark.slow

GRID = """
out = "runs"
dataset = "dsprites"
steps = {steps}
batch_size = 4
latent_dim = 3
threads = 1
save_every = 4
snapshot_every = 6
network = {{ base = 4, hidden = 16 }}

[evaluate]
metrics = "mig"
n = 100
udr = true
udr_n = 60

[[grid]]
arch = "beta_vae"
beta = [1.0, 4.0]
seed = [0, 1]

[[grid]]
arch = "infowgan_gp"
n_critic = 1
seed = [0, 1]
"""


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()  # the grids train with threads = 1, which torch keeps for the process
    yield
    torch.set_num_threads(n)


def _grid(tmp_path: Path, steps: int = 12) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(steps=steps))
    return path


def _eval_options() -> SweepOptions:
    return SweepOptions(metrics=["mig"], settings=EvalSettings(n=100, device="cpu", udr_n=60), udr=True)


def test_the_grid_file_expands_blocks_into_named_runs(tmp_path):
    grid = load_grid(_grid(tmp_path))
    assert len(grid.runs) == 6 and grid.out == tmp_path / "runs"
    names = [r.name for r in grid.runs]
    assert names[0].startswith("beta_vae-beta1.0-seed0-") and names[-1].startswith("infowgan_gp-seed1-")
    first = grid.runs[0]
    assert first.config.objective == {"beta": 1.0} and first.config.network == {"base": 4, "hidden": 16}
    assert first.config.steps == 12 and first.snapshot_every == 6 and first.save_every == 4
    assert first.recipe().startswith("latentlab train --arch beta_vae") and "--resume" in first.recipe()
    # More steps continue the same runs: the names (and so the files) do not change.
    assert [r.name for r in load_grid(_grid(tmp_path, steps=20)).runs] == names
    bad = tmp_path / "bad.toml"
    bad.write_text('[[grid]]\narch = "beta_vae"\nbogus = [1, 2]\n')
    with pytest.raises(BadInput, match="bogus"):
        load_grid(bad)
    bad.write_text('steps = 5\n')
    with pytest.raises(BadInput, match=r"\[\[grid\]\]"):
        load_grid(bad)
    bad.write_text('[[grid]\n')
    with pytest.raises(BadInput, match="TOML"):
        load_grid(bad)


def test_grid_trains_evaluates_with_udr_and_a_rerun_only_reads(tmp_path):
    grid = load_grid(_grid(tmp_path))
    report = train_grid(grid, SequentialBackend(), evaluate=_eval_options())
    for spec in grid.runs:
        assert spec.out.is_file() and run_state(spec) == (FINISHED, 12)
        snaps = sorted(p.name for p in (spec.out.parent / (spec.name + ".series")).iterdir())
        assert snaps == ["step-0000006.safetensors", "step-0000012.safetensors"]
    assert not list(grid.out.glob(".latentlab-stop-*"))
    rows = {Path(r.file).name: r for r in report.evaluation.rows}
    assert len(rows) == 6
    gans = [r for n, r in rows.items() if n.startswith("infowgan")]
    assert all("InfoGAN Q head" in r.note and r.values["mig.mig"] is not None for r in gans)
    for r in rows.values():  # each setting has two seeds: UDR compares them
        assert 0.0 <= r.values["udr.udr_spearman"] <= 1.0 and 0.0 <= r.values["udr.udr_lasso"] <= 1.0
    assert rows[Path(grid.runs[0].out).name].udr_group == rows[Path(grid.runs[1].out).name].udr_group
    assert rows[Path(grid.runs[0].out).name].udr_group != rows[Path(grid.runs[2].out).name].udr_group
    stored = ResultStore().find(kind="metric", name="udr")
    assert len(stored) == 6
    again = train_grid(load_grid(_grid(tmp_path)), SequentialBackend(), evaluate=_eval_options())
    assert again.summary.done == 0 and all(r["state"] == FINISHED for r in again.runs)
    assert again.evaluation.tasks == 0
    assert [r.values for r in again.evaluation.rows] == [r.values for r in report.evaluation.rows]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_an_interrupted_run_resumes_to_the_weights_of_one_never_interrupted(tmp_path):
    grid = load_grid(_grid(tmp_path))
    spec = grid.runs[0]
    calls = iter(range(10**6))
    with pytest.raises(JobCancelled):  # stopped after 5 steps, as Ctrl+C does: the resume state is kept
        train_to_file(spec.config, spec.out, JobContext(should_stop=lambda: next(calls) >= 5), resume=True,
                      save_every=spec.save_every, snapshot_every=spec.snapshot_every)
    assert run_state(spec) == (RESUMED, 5) and not spec.out.exists()
    grid.runs = [spec]
    report = train_grid(grid, SequentialBackend())
    assert report.runs[0]["state"] == RESUMED and report.runs[0]["from_step"] == 5
    ref = tmp_path / "ref" / spec.out.name
    train_to_file(spec.config, ref, resume=False)
    got, want = _weights(spec.out), _weights(ref)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


def test_cli_sweep_train_list_and_json(tmp_path, capsys):
    path = _grid(tmp_path, steps=4)
    assert main(["sweep-train", str(path), "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 6 and all("started" in line and "0/4" in line for line in listed)
    assert main(["train", "--grid", str(path), "--sequential", "--no-evaluate", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluation"] is None and all(Path(r["path"]).is_file() for r in out["runs"])
    assert main(["train", "--arch", "beta_vae"]) == 2  # without --grid, --out is needed


def test_a_training_worker_killed_on_ray_resumes_from_its_state(tmp_path):
    ray = pytest.importorskip("ray")
    from latentlab.core.sweep.engine import RayBackend
    from tests.core.test_sweep_ray import _busy_workers

    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(steps=300).split("[evaluate]")[0]
                    + '[[grid]]\narch = "beta_vae"\nseed = 0\n')
    grid = load_grid(path)
    killed: list[int] = []

    def kill_once(in_flight) -> None:
        # Kill only once the run has written a resume state, so the resubmitted task has one to continue from.
        if not killed and (grid.runs[0].out.parent / (grid.runs[0].out.name + ".resume")).exists():
            for pid in _busy_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    started = not ray.is_initialized()
    backend = RayBackend(num_cpus=1)
    try:
        report = train_grid(grid, backend, on_tick=kill_once)
    finally:
        backend.close()
        if started and ray.is_initialized():
            ray.shutdown()
    assert killed and len(report.summary.retried) == 1 and not report.summary.failed
    run = report.runs[0]
    assert run["state"] == RESUMED and 0 < run["from_step"] < 300 and run_state(grid.runs[0]) == (FINISHED, 300)
    ref = tmp_path / "ref" / grid.runs[0].out.name
    train_to_file(grid.runs[0].config, ref)
    got, want = _weights(grid.runs[0].out), _weights(ref)
    assert all(torch.equal(got[k], want[k]) for k in want)
