"""Flows, directions and a checkpoint series shipped beside a checkpoint open with it: the Flows and
Directions tabs show them at once, and the compare panel steps through the series."""

from __future__ import annotations

import shutil

import pytest

from latentlab.cli import main
from latentlab.core.sidecars import find_sidecars
from latentlab.core.train import TrainConfig, train_to_file
from tests.ui.conftest import open_and_wait


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny trained model with its snapshots, flows and (supervised + unsupervised) directions beside it."""
    folder = tmp_path_factory.mktemp("shipped")
    ckpt = folder / "run.safetensors"
    config = TrainConfig(arch="beta_vae", dataset="xyobject", steps=4, batch_size=8, latent_dim=4, device="cpu",
                         network={"base": 4, "hidden": 16}, seed=1)
    train_to_file(config, ckpt, snapshot_every=2)
    assert main(["flows", "train", str(ckpt), "--k", "2", "--steps", "3", "--batch-size", "4", "--hidden", "16",
                 "--device", "cpu", "--out", str(folder / "run.flows.safetensors")]) == 0
    directions = folder / "run.directions.safetensors"
    assert main(["directions", str(ckpt), "--method", "interfacegan", "--factor", "x", "--n", "200", "--no-eval",
                 "--device", "cpu", "--out", str(directions)]) == 0
    assert main(["directions", str(ckpt), "--method", "pca", "--k", "2", "--n", "200", "--no-eval",
                 "--device", "cpu", "--append", "--out", str(directions)]) == 0
    return ckpt


def test_find_sidecars_names_what_belongs_to_the_checkpoint(shipped, tmp_path):
    from latentlab.core.checkpoint import file_sha256

    found = find_sidecars(shipped, file_sha256(shipped))
    assert found.flows.name == "run.flows.safetensors" and found.directions.name == "run.directions.safetensors"
    assert [p.name for p in found.series] == ["step-0000002.safetensors", "step-0000004.safetensors"]
    # A shipped series may leave out its last snapshot (the checkpoint itself): the checkpoint ends it.
    trimmed = tmp_path / "trimmed"
    shutil.copytree(shipped.parent, trimmed)
    (trimmed / "run.series" / "step-0000004.safetensors").unlink()
    ends = find_sidecars(trimmed / "run.safetensors").series
    assert [p.name for p in ends] == ["step-0000002.safetensors", "run.safetensors"]
    other = tmp_path / "other.safetensors"
    shutil.copy(shipped, other)
    shutil.copy(found.flows, tmp_path / "other.flows.safetensors")
    stray = find_sidecars(other, "0" * 64)
    assert stray.flows is None and any("another checkpoint" in n for n in stray.notes)


def test_opening_a_checkpoint_opens_its_flows_directions_and_series(qtbot, window, shipped):
    open_and_wait(qtbot, window, shipped)
    flows, directions = window.flows, window.directions
    assert flows.flows is not None and flows.flows.n_potentials == 2
    assert flows.flows_file.name == "run.flows.safetensors"
    assert directions.set is not None and directions.file.name == "run.directions.safetensors"
    methods = [d.method for d in directions.set]
    assert methods == ["interfacegan", "ganspace", "ganspace"], methods  # supervised, then unsupervised
    compare = window.compare
    assert compare.own_series_button.isEnabled()
    compare.open_own_series()
    assert [e.step for e in compare.series] == [2, 4]


def test_demo_folder_lists_checkpoints_not_their_sidecars(shipped, monkeypatch):
    from latentlab.core.resources import demo_model_paths

    monkeypatch.setenv("LATENTLAB_MODELS", str(shipped.parent))
    assert [p.name for p in demo_model_paths()] == ["run.safetensors"]
