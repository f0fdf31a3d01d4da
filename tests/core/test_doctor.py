"""``latentlab doctor``: the report of a real installation (this one), its JSON form, and what it flags."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
import torch

from latentlab import __version__
from latentlab.cli import main
from latentlab.core import sysdeps
from latentlab.core.doctor import check_store, diagnose, format_report, run_qt_probe, store_path
from latentlab.core.paths import data_dir
from latentlab.core.resources import MODELS_ENV, demo_model_paths
from latentlab.core.store import SCHEMA_VERSION, ResultStore
from tests.conftest import ROOT


@pytest.fixture
def offscreen(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.delenv(MODELS_ENV, raising=False)


def test_the_json_report_describes_this_installation(offscreen, capsys):
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    s = report["sections"]
    assert s["latentlab"]["version"] == __version__ and s["latentlab"]["kind"] == "source checkout"
    assert s["torch"]["version"] == torch.__version__
    assert s["torch"]["build"] == ("CPU" if torch.version.cuda is None else f"CUDA {torch.version.cuda}")
    assert s["accelerators"]["cuda_available"] == torch.cuda.is_available()
    assert [d["name"] for d in s["accelerators"]["devices"]] == [
        torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0)]
    # The Qt probe really started a QGuiApplication in a child process, on the platform asked for.
    assert s["qt"]["status"] == "ok" and s["qt"]["probe"]["platform"] == "offscreen"
    assert s["data_dir"]["path"] == str(data_dir()) and s["data_dir"]["status"] == "ok"
    assert [m["file"] for m in s["demo_models"]["models"]] == [p.name for p in demo_model_paths()]
    assert report["environment"]["QT_QPA_PLATFORM"] == "offscreen"
    assert code == (1 if report["problems"] else 0)


def test_the_text_report_has_one_line_per_check(offscreen, capsys):
    main(["doctor"])
    out = capsys.readouterr().out
    for label in ("latentlab", "Python", "torch", "GPU", "Qt", "system libs", "data dir", "cache dir",
                  "results store", "demo models"):
        assert re.search(rf"^[ !✗] {re.escape(label)}\s", out, re.M), label
    assert out.rstrip().endswith(("no problems found", "problem found", "problems found"))


def test_store_health_reads_a_real_store_without_changing_it(tmp_path):
    path = tmp_path / "results.sqlite3"
    assert check_store(path)["summary"].endswith("not created yet (the first metric run creates it)")
    store = ResultStore(path)
    store.put("metric", "ab" * 32, "dsprites", "mig", {"n": 100}, 0, {"value": 0.25})
    section = check_store(path)
    assert section["status"] == "ok"
    assert (section["schema"], section["results"], section["integrity"]) == (SCHEMA_VERSION, 1, "ok")
    assert section["size"] >= path.stat().st_size > 0
    assert store.get("metric", "ab" * 32, "dsprites", "mig", {"n": 100}, 0) is not None


def test_a_store_from_a_newer_latentlab_or_not_a_store_is_a_problem(tmp_path, offscreen, capsys):
    newer = tmp_path / "newer.sqlite3"
    ResultStore(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    section = check_store(newer)
    assert section["status"] == "problem" and "newer latentlab" in section["summary"]

    store_path().write_bytes(b"this is not a database" * 100)
    try:
        assert main(["doctor"]) == 1
        out = capsys.readouterr().out
        assert "✗ results store" in out and "not a usable results store" in out
    finally:
        store_path().unlink()


def test_store_path_is_where_the_store_lives():
    assert store_path() == ResultStore().path


def test_a_platform_plugin_that_cannot_start_is_reported_with_qts_reason():
    result = run_qt_probe("no-such-platform")
    assert "no-such-platform" in result["error"]


def test_a_failing_default_platform_is_a_problem_on_a_desktop_and_a_warning_headless(monkeypatch):
    from latentlab.core.doctor import check_qt

    def probe(platform):  # the offscreen probe is real; the default one stands for a display-less xcb
        return run_qt_probe("offscreen") if platform == "offscreen" else {"error": "could not connect to display"}

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    headless = check_qt(probe)
    assert headless["status"] == "warning" and "'offscreen' does" in headless["summary"]
    monkeypatch.setenv("DISPLAY", ":0")
    assert check_qt(probe)["status"] == "problem"


def test_demo_models_that_do_not_read_are_a_problem(tmp_path, monkeypatch):
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 16)
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    report = diagnose()
    assert report["sections"]["demo_models"]["status"] == "problem"
    assert any(p.startswith("demo_models: 1 of the demo models") for p in report["problems"])
    assert "✗ demo models" in format_report(report)


def test_the_library_table_is_the_one_the_set_up_script_installs():
    script = (ROOT / "packaging" / "ensure-sysdeps.sh").read_text()
    pairs = dict(re.findall(r'have (\S+)\s+\|\| missing="\$missing (\S+)"', script))
    assert pairs == {**sysdeps.OFFSCREEN, **sysdeps.DESKTOP}


def test_missing_libraries_are_named_by_their_package():
    cache = "\n".join(f"\t{soname} (libc6,x86-64) => /usr/lib/{soname}" for soname in sysdeps.OFFSCREEN
                      if soname != "libEGL.so.1")
    assert sysdeps.missing_packages(sysdeps.OFFSCREEN, cache) == ["libegl1"]
