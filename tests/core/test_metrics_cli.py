"""``latentlab metrics``: table and JSON output, the store on a second ask, --force, clear errors."""

from __future__ import annotations

import json

import pytest

from latentlab.cli import main
from latentlab.core.metrics import METRICS
from tests.helpers import tiny_checkpoint

QUICK = ["--n", "200", "--set", "dci.fast_stages=5", "--set", "betavae.num_train=200", "--set",
         "betavae.num_eval=100", "--set", "factorvae.num_train=200", "--set", "factorvae.num_eval=100"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.safetensors", latent_dim=4)


def test_every_figure_as_json_then_from_the_store(ckpt, capsys):
    assert main(["metrics", str(ckpt), "--dataset", "dsprites", "--json", *QUICK]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == set(METRICS)
    for name, res in out["results"].items():
        assert res["status"] == "ok", name
        assert set(METRICS[name].keys) <= set(res["values"])
        assert res["samples"] and res["seconds"] >= 0 and res["seed"] == 0
    assert len(out["results"]["mig"]["arrays"]["mi"]["data"]) == 4  # latents x factors
    assert main(["metrics", str(ckpt), "--dataset", "dsprites", "--json", *QUICK]) == 0
    again = json.loads(capsys.readouterr().out)
    for name in METRICS:
        assert again["results"][name]["values"] == out["results"][name]["values"]
        assert "from the results store" in again["results"][name]["notes"]


def test_table_force_and_options(ckpt, capsys):
    args = ["metrics", str(ckpt), "--metrics", "mig,dci,activity", "--seed", "3", "--quiet", *QUICK]
    assert main(args) == 0
    table = capsys.readouterr().out
    for figure in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "n_passive"):
        assert figure in table
    assert "computed" in table and "stored" not in table
    assert main(args) == 0
    assert "stored" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "stored" not in capsys.readouterr().out
    assert main([*args, "--representation", "sampled", "--drop-passive", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]["mig"]
    assert res["representation"] == "sampled" and res["drop_passive"] is True


@pytest.mark.parametrize("extra,message", [
    (["--metrics", "mig,nope"], "unknown metric"),
    (["--set", "mig.bins=3"], "has no parameter"),
    (["--dataset", "nowhere.npz"], "error"),
])
def test_bad_input_is_a_message_not_a_traceback(ckpt, capsys, extra, message):
    code = main(["metrics", str(ckpt), "--quiet", "--n", "50", *extra])
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_file(capsys, tmp_path):
    assert main(["metrics", str(tmp_path / "none.safetensors")]) == 1
    assert "Traceback" not in capsys.readouterr().err
