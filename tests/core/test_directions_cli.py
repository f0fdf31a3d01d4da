"""`latentlab directions`: writes a direction file, prints the evaluation, reports bad input cleanly."""

from __future__ import annotations

import json

import numpy as np

from latentlab.cli import main
from latentlab.core.directions import load_directions
from tests.helpers import tiny_checkpoint


def test_cli_sefa_json_and_file(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out = tmp_path / "d.safetensors"
    rc = main(["directions", str(ck), "--method", "sefa", "--k", "3", "--orthogonal", "--eval-n", "8",
               "--device", "cpu", "--out", str(out), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    dirs = load_directions(out)
    assert dirs.names == ["sefa 0", "sefa 1", "sefa 2"] and dirs.source_sha256 == report["sha256"]
    assert dirs.meta["method"] == "sefa" and dirs.meta["options"]["orthogonal"] is True
    ev = report["evaluation"]
    assert ev["factors"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert np.asarray(ev["matrix"]).shape == (3, 5) and np.allclose(report["cosine"], np.eye(3), atol=1e-5)


def test_cli_interfacegan_table_and_csv_labels(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out = tmp_path / "ig.safetensors"
    rc = main(["directions", str(ck), "--method", "interfacegan", "--factor", "posX,posY", "--protect", "scale",
               "--n", "80", "--eval-n", "8", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"wrote {out} (2 directions, method interfacegan)" in text
    header = next(line for line in text.splitlines() if "orientation" in line)
    assert header.split()[-2:] == ["dominant", "purity"]
    assert "cosine similarity" in text
    assert load_directions(out)["posX"].params["protected"] == ["scale"]

    csv = tmp_path / "labels.csv"
    csv.write_text("index,label\n" + "".join(f"{i},{'a' if i % 2 else 'b'}\n" for i in range(0, 4000, 97)))
    rc = main(["directions", str(ck), "--method", "interfacegan", "--labels", str(csv), "--no-eval",
               "--out", str(tmp_path / "csv.safetensors")])
    assert rc == 0 and load_directions(tmp_path / "csv.safetensors").names == ["labels"]


def test_cli_gradctrl_writes_a_field(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out = tmp_path / "g.safetensors"
    rc = main(["directions", str(ck), "--method", "gradctrl", "--factor", "posX", "--protect", "posY", "--n", "60",
               "--steps", "10", "--no-eval", "--out", str(out)])
    assert rc == 0
    d = load_directions(out)["posX"]
    assert d.kind == "field" and d.params["masked"] == ["posY"]


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out = str(tmp_path / "x.safetensors")
    bad = tmp_path / "bad.csv"
    bad.write_text("index,label\n1,a\nzwei,b\n")
    cases = [
        (["--method", "interfacegan", "--labels", str(bad)], 1, "line 3: sample index 'zwei' is not an integer"),
        (["--method", "interfacegan", "--factor", "colour"], 1, "has no factor 'colour'"),
        (["--method", "gradctrl", "--orthogonal"], 1, "drop --orthogonal"),
        (["--method", "sefa", "--k", "9"], 1, "k must be between 1 and the latent size 4"),
        (["--method", "jacobian", "--at", "1,x"], 2, "--at expects comma-separated numbers"),
        (["--method", "sefa", "--dataset", "nowhere"], 1, "unknown dataset"),
    ]
    for extra, code, message in cases:
        rc = main(["directions", str(ck), *extra, "--out", out])
        err = capsys.readouterr().err
        assert rc == code, (extra, err)
        assert message in err and "Traceback" not in err, err
    assert main(["directions", str(ck), "--method", "sefa", "--out", str(ck)]) == 2
    assert "overwrite the checkpoint" in capsys.readouterr().err
    assert main(["directions", str(ck), "--method", "sefa", "--out", str(tmp_path / "d.npz")]) == 2


def test_cli_gradctrl_directions_sharing_one_classifier_save_and_reload(tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=4)
    out = tmp_path / "g.safetensors"
    rc = main(["directions", str(ck), "--method", "gradctrl", "--factor", "posX,posY,scale", "--n", "60",
               "--steps", "10", "--no-eval", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    loaded = load_directions(out)
    assert {d.name for d in loaded} >= {"posX", "posY", "scale"} and all(d.kind == "field" for d in loaded)
