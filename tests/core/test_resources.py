"""Package resources and the demo-model folder are found through the package, from any working directory."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from latentlab.core.directions import Direction, DirectionSet
from latentlab.core.directions.io import save_directions
from latentlab.core.errors import FileError
from latentlab.core.flows import FlowConfig, save_flows, train
from latentlab.core.resources import (
    MODELS_ENV,
    demo_model_paths,
    demo_models_dir,
    read_resource_text,
    resource_path,
    shipped_models_dir,
)
from tests.conftest import ROOT
from tests.core.flows_support import LinearDecoderModel
from tests.helpers import tiny_checkpoint

PACKAGE = ROOT / "latentlab"


def test_resources_resolve_inside_the_package_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for parts in [("icons", "latentlab.svg"), ("style.qss",), ("latentlab.desktop",), ("latentlab-mime.xml",)]:
        path = resource_path(*parts)
        assert path.is_file() and path.is_relative_to(PACKAGE / "resources"), path
    assert "QDockWidget" in read_resource_text("style.qss")
    assert shipped_models_dir() == PACKAGE / "models"


def test_a_missing_resource_is_a_file_error_naming_it():
    with pytest.raises(FileError, match="no-such-icon.svg"):
        resource_path("icons", "no-such-icon.svg")


def test_the_shipped_demo_models_are_listed(monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    listed = demo_model_paths()
    on_disk = sorted((PACKAGE / "models").glob("*.safetensors"))
    # The flagship's flows and directions lie next to it; they are sidecars, not models of their own.
    sidecars = [p for p in on_disk if p.name.endswith((".flows.safetensors", ".directions.safetensors"))]
    assert sidecars, "the flagship ships its flows and directions"
    assert listed == [p for p in on_disk if p not in sidecars] and len(listed) >= 1


def test_the_models_link_at_the_top_of_the_checkout_leads_to_the_package_folder():
    link = ROOT / "models"
    if not link.is_symlink():
        pytest.skip("the checkout has no models link (a file system without symbolic links)")
    assert link.resolve() == (PACKAGE / "models").resolve()


def test_the_override_lists_checkpoints_and_leaves_their_sidecars_out(tmp_path, monkeypatch):
    folder = tmp_path / "new-demos"
    folder.mkdir()
    b = tiny_checkpoint(folder / "b-vae.safetensors")
    a = tiny_checkpoint(folder / "a-vae.safetensors")
    (folder / "a-vae.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "a-vae.json").write_text("{}")
    # Sidecars are told by what is in them, whatever their names.
    save_directions(DirectionSet(4, [Direction("x", "test", vector=np.eye(4, dtype=np.float32)[0])]),
                    folder / "a-vae-directions.safetensors")
    flows = train(LinearDecoderModel(3), FlowConfig(n_potentials=2, steps=1, batch_size=4, horizon=2, hidden=8,
                                                    classifier_width=4, device="cpu", seed=0))
    save_flows(flows, folder / "a-vae.flows.safetensors")
    (folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setenv(MODELS_ENV, str(folder))
    assert demo_models_dir() == folder
    # A broken file stays listed: opening it is what says what is wrong with it.
    assert demo_model_paths() == [a, b, folder / "broken.safetensors"]


def test_an_override_that_is_not_a_folder_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "missing"))
    assert demo_model_paths() == []


def test_the_mime_definitions_match_what_the_desktop_entry_declares():
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(resource_path("latentlab-mime.xml")).getroot()
    types = {t.get("type"): [g.get("pattern") for g in t.findall("m:glob", ns)] for t in root.findall("m:mime-type", ns)}
    assert types == {"application/x-latentlab-session": ["*.llab"], "application/x-safetensors": ["*.safetensors"]}
    entry = read_resource_text("latentlab.desktop")
    declared = next(line for line in entry.splitlines() if line.startswith("MimeType=")).split("=", 1)[1]
    assert set(filter(None, declared.split(";"))) == set(types)
