"""``latentlab bench`` and ``latentlab sweep``: figures per checkpoint, JSON, CSV, and a bad file reported in place."""

from __future__ import annotations

import csv
import json

import pytest

from latentlab.cli import main
from latentlab.core.bench import time_decode
from tests.helpers import tiny_checkpoint, tiny_model

QUICK = ["--n", "200", "--quiet", "--sequential"]  # tests/core/test_sweep_ray.py runs sweeps on Ray


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    return [tiny_checkpoint(root / f"s{i}.safetensors", latent_dim=4, seed=i) for i in range(2)]


def test_time_decode_reports_ordered_percentiles():
    t = time_decode(tiny_model(latent_dim=3), repeats=12, batch=8, warmup=1)
    assert t.device == "cpu" and t.repeats == 12 and t.batch == 8
    assert 0 < t.min_ms <= t.p50_ms <= t.p95_ms
    assert t.batch_ms > 0 and t.images_per_s > 0
    with pytest.raises(ValueError):
        time_decode(tiny_model(latent_dim=3), repeats=0)


def test_bench_json_and_table(ckpts, capsys):
    assert main(["bench", *map(str, ckpts), "--repeats", "5", "--batch", "4", "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in out["results"]] == [str(p) for p in ckpts]
    assert all(r["p50_ms"] > 0 and r["latent_dim"] == 4 and r["device"] == "cpu" for r in out["results"])
    assert main(["bench", str(ckpts[0]), "--repeats", "3", "--batch", "2"]) == 0
    table = capsys.readouterr().out
    assert "p95 ms" in table and "tiny-beta_vae" in table
    assert main(["bench", str(ckpts[0]), "--repeats", "0"]) == 2


def test_sweep_table_json_csv_and_a_broken_file(ckpts, tmp_path, capsys):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 40)
    out_csv = tmp_path / "sweep.csv"
    files = [str(ckpts[0]), str(broken), str(ckpts[1])]
    assert main(["sweep", *files, "--dataset", "dsprites", "--metrics", "mig,sap", "--json", "--csv", str(out_csv),
                 *QUICK]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == ["mig.mig", "sap.sap"]
    good, bad, good2 = out["rows"]
    assert "error" in bad and "broken.safetensors" in bad["error"]
    for row in (good, good2):
        assert 0.0 <= row["mig.mig"] <= 1.0 and 0.0 <= row["sap.sap"] <= 1.0
    assert good["sha256"] != good2["sha256"]
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["file"] for r in rows] == files and rows[1]["error"]
    assert float(rows[0]["mig.mig"]) == pytest.approx(good["mig.mig"])
    # Second ask comes from the store and prints the same figures as a table.
    assert main(["sweep", str(ckpts[0]), "--dataset", "dsprites", "--metrics", "mig,sap", *QUICK]) == 0
    table = capsys.readouterr().out
    assert f"{good['mig.mig']:.3f}" in table


def test_sweep_fails_when_nothing_opens(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.safetensors"), "--quiet", "--sequential"]) == 1
    assert "missing.safetensors" in capsys.readouterr().out


def test_sweep_over_a_models_glob_skips_the_flows_and_direction_files_beside_checkpoints(ckpts, tmp_path, capsys):
    flows = tmp_path / "s0.flows.safetensors"
    flows.write_bytes(ckpts[0].read_bytes())  # whatever it holds, its name says it is not a checkpoint
    assert main(["sweep", str(ckpts[0]), str(flows), "--dataset", "dsprites", "--metrics", "mig", "--json",
                 *QUICK]) == 0
    captured = capsys.readouterr()
    assert [r["file"] for r in json.loads(captured.out)["rows"]] == [str(ckpts[0])]
    assert "s0.flows.safetensors" in captured.err


def test_sweep_over_the_demo_models_reports_the_gan_and_goes_on(capsys):
    from pathlib import Path

    demo = sorted(str(p) for p in (Path(__file__).parents[2] / "models").glob("*.safetensors"))
    assert main(["sweep", *demo, "--metrics", "mig", "--json", *QUICK, "--n", "100"]) == 0
    rows = {Path(r["file"]).name: r for r in json.loads(capsys.readouterr().out)["rows"]}
    gan = rows.pop("infowgan-dsprites.safetensors")
    assert "no encoder" in gan["skipped"] and "--invert" in gan["skipped"] and "mig.mig" not in gan
    assert rows and all(0.0 <= r["mig.mig"] <= 1.0 for r in rows.values())


def test_sweep_with_an_unknown_dataset_reports_it_in_each_row(ckpts, capsys):
    assert main(["sweep", str(ckpts[0]), "--dataset", "no-such-set", "--json", *QUICK]) == 1
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert "no-such-set" in row["error"] and "mig.mig" not in row
