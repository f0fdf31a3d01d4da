"""Resumable training and snapshot series: a run interrupted and resumed gives the very weights of a run that
was never interrupted (same seed, settings and thread count, on the CPU), and its snapshots form a series."""

from __future__ import annotations

import pytest
import torch

from latentlab.cli import main
from latentlab.core.checkpoint import open_checkpoint, read_card
from latentlab.core.compare import checkpoint_series
from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobCancelled, JobContext
from latentlab.core.train import RunFiles, TrainConfig, train
from latentlab.core.train_state import ResumeFileError, resume_path, series_dir

TINY_NET = {"base": 4, "hidden": 16}
OBJECTIVES = {
    "beta_tcvae": {},
    "factor_vae": {"disc_hidden": 16, "disc_layers": 2},
    "qlae": {},
    "infowgan_gp": {"n_critic": 2},
}


def _config(arch: str, steps: int = 8, **kw) -> TrainConfig:
    return TrainConfig(arch=arch, dataset="xyobject", steps=steps, batch_size=8, latent_dim=3, device="cpu",
                       network=TINY_NET, objective=OBJECTIVES[arch], seed=5, log_every=1, threads=1, **kw)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


def _stop_after(n_checks: int):
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > n_checks

    return stop


@pytest.mark.parametrize("arch", OBJECTIVES)
def test_cancelled_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit(tmp_path, arch):
    whole = train(_config(arch))
    files = RunFiles(resume=tmp_path / "run.resume", resume_from_file=True, save_every=100)
    with pytest.raises(JobCancelled):
        train(_config(arch), JobContext(should_stop=_stop_after(5)), files=files)
    assert files.resume.exists(), "a cancelled run keeps its state"
    resumed = train(_config(arch), files=files)
    assert resumed.resumed_from == 5
    _same_weights(whole.model, resumed.model)
    assert [h["step"] for h in resumed.history] == list(range(1, 9))
    assert resumed.history == whole.history, "the loss history continues as if never interrupted"


def test_a_run_killed_mid_step_resumes_from_its_last_periodic_state(tmp_path):
    """A process killed without warning loses only the steps since the last periodic save."""
    whole = train(_config("factor_vae"))
    files = RunFiles(resume=tmp_path / "run.resume", resume_from_file=True, save_every=3)

    def crash(fraction: float, message: str = "") -> None:
        if message.startswith("step 7 "):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(_config("factor_vae"), JobContext(progress=crash), files=files)
    resumed = train(_config("factor_vae"), files=files)
    assert resumed.resumed_from == 6
    _same_weights(whole.model, resumed.model)


def test_resume_refuses_other_settings_and_files_that_are_not_resume_states(tmp_path):
    files = RunFiles(resume=tmp_path / "run.resume", resume_from_file=True)
    with pytest.raises(JobCancelled):
        train(_config("beta_tcvae"), JobContext(should_stop=_stop_after(3)), files=files)
    with pytest.raises(BadInput, match="lr"):
        train(_config("beta_tcvae", lr=1e-2), files=files)
    with pytest.raises(BadInput, match="step 3"):
        train(_config("beta_tcvae", steps=2), files=files)
    pickle = tmp_path / "pickle.resume"
    torch.save({"step": 3}, pickle)
    with pytest.raises(ResumeFileError, match="not a latentlab resume file"):
        train(_config("beta_tcvae"), files=RunFiles(resume=pickle, resume_from_file=True))
    truncated = tmp_path / "truncated.resume"
    truncated.write_bytes(files.resume.read_bytes()[:5000])
    with pytest.raises(ResumeFileError):
        train(_config("beta_tcvae"), files=RunFiles(resume=truncated, resume_from_file=True))


def test_snapshots_form_a_series_ordered_by_step_ending_at_the_final_weights(tmp_path):
    folder = tmp_path / "run.series"
    result = train(_config("beta_tcvae"), files=RunFiles(snapshots=folder, snapshot_every=3, recipe="latentlab train x"))
    paths = sorted(folder.glob("*.safetensors"))
    assert [p.name for p in paths] == ["step-0000003.safetensors", "step-0000006.safetensors", "step-0000008.safetensors"]
    series = checkpoint_series(list(reversed(paths)))
    assert [e.step for e in series] == [3, 6, 8]
    card = read_card(paths[0])
    assert card["training"]["step"] == 3 and card["training"]["steps"] == 8 and card["recipe"] == "latentlab train x"
    assert card["training"]["final_losses"]["loss"] == pytest.approx(result.history[2]["loss"], rel=1e-4)
    _same_weights(open_checkpoint(paths[-1], device="cpu").model, result.model)
    first = open_checkpoint(paths[0], device="cpu").model
    assert not torch.equal(first.state_dict()["decoder.fc.0.weight"], result.model.state_dict()["decoder.fc.0.weight"])


def test_cli_resume_extends_a_finished_run_to_the_weights_of_a_longer_one(tmp_path, capsys):
    """`--resume` with the same command continues; with more --steps it extends a finished run exactly."""
    common = ["train", "--arch", "beta_vae", "--dataset", "xyobject", "--batch-size", "8", "--latent-dim", "3",
              "--net", "base=4", "--net", "hidden=16", "--seed", "2", "--threads", "1", "--device", "cpu"]
    long = tmp_path / "long.safetensors"
    assert main([*common, "--steps", "6", "--out", str(long)]) == 0
    out = tmp_path / "run.safetensors"
    assert main([*common, "--steps", "3", "--resume", "--snapshot-every", "2", "--out", str(out)]) == 0
    assert resume_path(out).exists() and not resume_path(out).name.endswith(".safetensors")
    assert main([*common, "--steps", "6", "--resume", "--snapshot-every", "2", "--out", str(out)]) == 0
    assert "continuing" in capsys.readouterr().err
    _same_weights(open_checkpoint(long, device="cpu").model, open_checkpoint(out, device="cpu").model)
    steps = [e.step for e in checkpoint_series(sorted(series_dir(out).glob("*.safetensors")))]
    assert steps == [2, 3, 4, 6]
    assert read_card(out)["training"]["steps"] == 6


@pytest.mark.slow
def test_sigterm_stops_a_resumable_cli_run_at_a_step_boundary_and_keeps_its_state(tmp_path):
    """What `nohup latentlab train --resume ... &` relies on: `kill PID` keeps the run's state."""
    import os
    import signal
    import subprocess
    import sys

    from latentlab.core.train_state import read_resume

    out = tmp_path / "run.safetensors"
    cmd = [sys.executable, "-m", "latentlab", "train", "--arch", "vae", "--dataset", "xyobject", "--steps", "100000",
           "--batch-size", "8", "--latent-dim", "3", "--net", "base=4", "--net", "hidden=16", "--threads", "1",
           "--device", "cpu", "--resume", "--save-every", "100000", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env)
    seen = b""
    while b" step " not in seen:  # the progress bar: training has started
        chunk = proc.stderr.read1(4096)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait() == 130
    assert b"run the same command to continue" in rest
    meta, _ = read_resume(out.with_name(out.name + ".resume"))
    assert 0 < meta["step"] < 100000 and not out.exists()
