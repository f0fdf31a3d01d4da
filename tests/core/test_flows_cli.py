"""`latentlab flows train | traverse | evaluate | info` end to end on a tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.cli import main
from latentlab.core.flows import read_flows_card
from tests.helpers import tiny_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flows-cli")
    ck = tiny_checkpoint(tmp / "tiny.safetensors", latent_dim=3)
    out = tmp / "tiny.flows.safetensors"
    rc = main(["flows", "train", str(ck), "--k", "3", "--steps", "3", "--batch-size", "4", "--horizon", "3",
               "--weights", "jvp=2,pde=5", "--hidden", "8", "--seed", "2", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    return ck, out, tmp


def test_train_writes_a_card_naming_the_checkpoint(trained, capsys):
    from latentlab.core.checkpoint import file_sha256

    ck, out, _ = trained
    card = read_flows_card(out)
    assert card["checkpoint"]["sha256"] == file_sha256(ck) and card["checkpoint"]["file"] == "tiny.safetensors"
    cfg = card["config"]
    assert cfg["n_potentials"] == 3 and cfg["steps"] == 3 and cfg["seed"] == 2 and cfg["pde"] == "wave"
    assert cfg["weights"] == {"pde": 5.0, "ic": 1.0, "jvp": 2.0, "cls": 1.0} and cfg["lr"] == 1e-4
    assert card["step"] == 3 and card["history"][-1]["step"] == 3
    assert main(["flows", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tiny.safetensors" in text and "3 of 3 steps" in text


def test_train_resumes_to_more_steps(trained, capsys):
    ck, out, tmp = trained
    more = tmp / "more.safetensors"
    assert main(["flows", "train", str(ck), "--steps", "5", "--resume", str(out), "--device", "cpu",
                 "--out", str(more), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["step"] == 5 and info["n_potentials"] == 3
    assert read_flows_card(more)["config"]["hidden"] == 8  # the resumed run keeps its hyper-parameters


def test_traverse_writes_a_png_strip(trained, capsys):
    ck, out, tmp = trained
    png = tmp / "strip.png"
    assert main(["flows", "traverse", str(ck), str(out), "--k", "2", "--steps", "6", "--linear", "--json",
                 "--out", str(png), "--save-path", str(tmp / "path.npy"), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (7 * 66 + 2, 2 * 66 + 2)
    assert report["rows"][0]["k"] == 2 and len(report["rows"][0]["step_sizes"]) == 6
    assert np.load(tmp / "path.npy").shape == (2, 7, 3)
    png2 = tmp / "all.png"
    assert main(["flows", "traverse", str(ck), str(out), "--k", "all", "--both", "--steps", "2", "--start", "zero",
                 "--out", str(png2)]) == 0
    with Image.open(png2) as im:
        assert im.size == (5 * 66 + 2, 3 * 66 + 2)


def test_wrong_checkpoint_and_bad_input_fail_cleanly(trained, capsys, tmp_path):
    ck, out, _ = trained
    other = tiny_checkpoint(tmp_path / "other.safetensors", latent_dim=3, seed=9)
    png = tmp_path / "x.png"
    assert main(["flows", "traverse", str(other), str(out), "--out", str(png)]) == 1
    err = capsys.readouterr().err
    assert "trained for checkpoint" in err and "--force" in err and not png.exists()
    with pytest.warns(UserWarning):
        assert main(["flows", "traverse", str(other), str(out), "--force", "--out", str(png)]) == 0
    assert png.exists()
    assert main(["flows", "traverse", str(ck), str(out), "--k", "7", "--out", str(png)]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["flows", "traverse", str(ck), str(ck), "--out", str(png)]) == 1
    assert "looks like a model checkpoint" in capsys.readouterr().err
    assert main(["flows", "train", str(ck), "--weights", "kl=1", "--out", str(tmp_path / "f.safetensors")]) == 1
    assert "unknown loss weight" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_prints_rows_for_flows_and_baselines(trained, capsys):
    ck, out, _ = trained
    assert main(["flows", "evaluate", str(ck), str(out), "--dataset", "dsprites", "--n-fit", "120", "--n-starts", "6",
                 "--steps", "3", "--classifier-steps", "2", "--device", "cpu", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    groups = [r["group"] for r in res["rows"]]
    assert groups.count("flow") == 3 and groups.count("pca") == 3 and groups.count("sefa") == 3
    assert [r["label"] for r in res["rows"] if r["group"] == "supervised"] == [
        "sup shape", "sup scale", "sup orientation", "sup posX", "sup posY"]
    for r in res["rows"]:
        assert set(r["change"]) == {"shape", "scale", "orientation", "posX", "posY"}
        assert all(0.0 <= v <= 1.0 for v in r["change"].values()) and 0.0 <= r["image_change"] <= 1.0
    assert set(res["distinctness"]) == {"flow", "pca", "sefa", "supervised"}
    assert res["distinctness"]["flow"]["chance"] == pytest.approx(1 / 3)
    assert res["readout_categorical"]["shape"] is True
    assert main(["flows", "evaluate", str(ck), str(out), "--n-fit", "120", "--n-starts", "6", "--steps", "3",
                 "--no-distinct", "--baselines", "pca"]) == 0
    text = capsys.readouterr().out
    assert "flow 0" in text and "pca 2" in text and "sefa" not in text and "readout" in text


def test_ctrl_c_saves_the_finished_steps_for_a_resume(trained, monkeypatch, capsys):
    import importlib
    import os
    import signal

    flows_train = importlib.import_module("latentlab.core.flows.train")  # the module, not the re-exported function

    ck, _, tmp = trained
    original = flows_train.loss_terms
    calls = {"n": 0}

    def interrupt_on_third_step(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 3
        return original(*a, **kw)

    monkeypatch.setattr(flows_train, "loss_terms", interrupt_on_third_step)
    out = tmp / "interrupted.safetensors"
    rc = main(["flows", "train", str(ck), "--k", "2", "--steps", "50", "--batch-size", "4", "--horizon", "2",
               "--device", "cpu", "--out", str(out)])
    assert rc == 130 and "interrupted at step 3" in capsys.readouterr().out
    assert read_flows_card(out)["step"] == 3  # step 3 finished; training stopped before step 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler was put back
