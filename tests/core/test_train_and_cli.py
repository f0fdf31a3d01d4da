"""`latentlab train` writes a checkpoint with a full card that `latentlab info` reads back."""

from __future__ import annotations

import json

import pytest

from latentlab.cli import main
from latentlab.core.checkpoint import open_checkpoint, read_card
from latentlab.core.jobs import JobCancelled, JobContext
from latentlab.core.train import TrainConfig, train


@pytest.mark.slow
def test_cli_train_200_steps_then_info_reads_the_card(tmp_path, capsys):
    out = tmp_path / "bvae.safetensors"
    rc = main(["train", "--arch", "beta_vae", "--dataset", "dsprites", "--beta", "4", "--steps", "200",
               "--batch-size", "16", "--latent-dim", "6", "--net", "base=8", "--net", "hidden=64",
               "--seed", "3", "--device", "cpu", "--out", str(out)])
    assert rc == 0 and out.exists()
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    card = info["card"]
    t = card["training"]
    assert t["arch"] == "beta_vae" and t["objective_hparams"]["beta"] == 4.0
    assert t["steps"] == 200 and t["seed"] == 3 and t["dataset"] == "dsprites"
    assert t["factor_names"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert set(t["final_losses"]) >= {"loss", "recon", "kl"}
    assert "latentlab train --arch beta_vae" in card["recipe"]
    assert card["info"]["latent_dim"] == 6 and card["info"]["dataset"] == "dsprites"
    assert len(info["sha256"]) == 64
    ck = open_checkpoint(out)
    assert ck.info.factor_names == tuple(t["factor_names"])


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig(arch="vae", dataset="xyobject", steps=5, batch_size=8, latent_dim=3, device="cpu",
                      network={"base": 4, "hidden": 16}, seed=11)
    a, b = train(cfg), train(cfg)
    for (k, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert va.equal(vb), k


def test_training_can_be_cancelled():
    cfg = TrainConfig(arch="vae", dataset="xyobject", steps=1000, batch_size=8, latent_dim=3, device="cpu",
                      network={"base": 4, "hidden": 16})
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(JobCancelled):
        train(cfg, JobContext(should_stop=stop))


def test_cli_info_human_readable_and_errors(tmp_path, capsys):
    from tests.helpers import tiny_checkpoint

    path = tiny_checkpoint(tmp_path / "m.safetensors")
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "architecture: conv_vae" in text and "sha256:" in text
    assert read_card(path)["architecture"] == "conv_vae"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"")
    assert main(["info", str(bad)]) == 1
    assert "empty" in capsys.readouterr().err


def test_cli_refuses_untrusted_pickle_and_says_how(tmp_path, capsys):
    import torch

    from tests.helpers import tiny_model

    path = tmp_path / "full.pt"
    torch.save(tiny_model(latent_dim=2), path)
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert "full.pt" in err and "--trust" in err
    assert main(["info", str(path), "--trust", "--json"]) == 0


def test_every_subcommand_has_help(capsys):
    from latentlab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage" in capsys.readouterr().out
