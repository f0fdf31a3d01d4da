"""Hostile variants of the PyTorch-VAE (BetaTCVAE, WAE-MMD, ConditionalVAE) and disentangling-vae layouts:
wrong shapes, missing tensors, hostile specs.json files and folders. Each is one clear CheckpointError line,
from the API and from the CLI, and the files are left as they were."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
import torch

from latentlab.cli import main as cli_main
from latentlab.core.checkpoints import CheckpointError, open_checkpoint
from tests.security.conftest import fingerprint, one_line
from tests.vae_fixtures import antixk_model, disvae_folder, lightning_ckpt


@contextlib.contextmanager
def fifo_at(path: Path):
    """A named pipe nobody writes to at ``path``; should anything block opening it, a guard opens the other
    end after 20 s so the test fails instead of hanging (as the ``fifo`` fixture does)."""
    os.mkfifo(path)

    def unblock() -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    guard = threading.Timer(20.0, unblock)
    guard.daemon = True
    guard.start()
    try:
        yield path
    finally:
        guard.cancel()


def refused(path: Path, *fragments: str, capsys=None) -> str:
    """Opening ``path`` is one CheckpointError line holding every fragment; the CLI prints the same line."""
    before = {p: fingerprint(p) for p in _files(path)}
    with pytest.raises(CheckpointError) as err:
        open_checkpoint(path)
    text = str(err.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    if capsys is not None:
        capsys.readouterr()
        assert cli_main(["info", str(path)]) == 1
        line = one_line(capsys.readouterr().err)
        for fragment in fragments:
            assert fragment in line, line
    assert {p: fingerprint(p) for p in _files(path)} == before
    return text


def _files(path: Path) -> list[Path]:
    folder = path if path.is_dir() else path.parent
    return [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]


def _edit_state(path: Path, edit) -> Path:
    """Rewrite a Lightning file's state_dict with ``edit(state)`` (the test builds the hostile variant)."""
    ck = torch.load(path, weights_only=False)
    edit(ck["state_dict"])
    torch.save(ck, path)
    return path


# --- PyTorch-VAE layouts ----------------------------------------------------------------------------------------

CASES = {
    # model, edit of its state_dict, what the one line says
    "betatc-wrong-decoder-input": ("BetaTCVAE", lambda s: s.__setitem__("model.decoder_input.weight",
                                                                        torch.zeros(1000, 4)),
                                   "wrong shape for decoder_input.weight"),
    "betatc-missing-final": ("BetaTCVAE", lambda s: s.pop("model.final_layer.2.weight"),
                             "missing tensor final_layer.2.weight"),
    "betatc-int-weights": ("BetaTCVAE", lambda s: s.__setitem__("model.fc.weight",
                                                                s["model.fc.weight"].to(torch.int64)),
                           "holds int64 numbers"),
    "wae-missing-decoder-block": ("WAE_MMD", lambda s: [s.pop(k) for k in list(s) if k.startswith("model.decoder.0.")],
                                  "missing 7 tensor(s), e.g. decoder.0.0.bias"),
    "wae-nan": ("WAE_MMD", lambda s: s["model.fc_z.weight"].fill_(float("nan")), "contains NaN"),
    "cvae-missing-embed-data": ("ConditionalVAE", lambda s: s.pop("model.embed_data.weight"),
                                "missing tensor embed_data.weight"),
    "cvae-wrong-label-map": ("ConditionalVAE", lambda s: s.__setitem__("model.embed_class.weight",
                                                                       torch.zeros(100, 40)),
                             "wrong shape for embed_class.weight"),
    "cvae-wrong-label-count": ("ConditionalVAE", lambda s: s.__setitem__("model.decoder_input.weight",
                                                                         torch.zeros(2048, 50)),
                               "wrong shape for decoder_input.weight"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_antixk_layouts_are_one_line(tmp_path, capsys, case):
    name, edit, fragment = CASES[case]
    path = _edit_state(lightning_ckpt(tmp_path / "last.ckpt", antixk_model(name)), edit)
    refused(path, "last.ckpt", fragment, capsys=capsys)


# --- disentangling-vae ------------------------------------------------------------------------------------------

def _specs(folder: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    (folder / "specs.json").write_bytes(data)


SPECS = {
    "huge": (" " * (300 * 1024) + "{}", "is too large"),
    "deep": ("[" * 100 + "]" * 100, "nests 100 levels deep"),
    "not-json": ("{latent_dim: 10", "is not valid JSON"),
    "not-utf8": (b"\xff\xfe{}", "is not UTF-8 text"),
    "a-list": ("[1, 2, 3]", "is not a JSON object"),
    "latent-text": ('{"latent_dim": "ten"}', "specs.json.latent_dim: expected an integer, got a string"),
    "latent-huge": ('{"latent_dim": 100000000}', "specs.json.latent_dim: value 100000000 is out of range"),
    "latent-nan": ('{"latent_dim": NaN}', "not usable JSON"),
    "size-short": ('{"img_size": [64, 64]}', "specs.json.img_size: length 2 is out of range"),
    "size-text": ('{"img_size": [1, "64", 64]}', "specs.json.img_size[1]: expected an integer, got a string"),
    "type-number": ('{"model_type": 5}', "specs.json.model_type: expected a string, got an integer"),
    "type-other": ('{"model_type": "Chen"}', "model_type is 'Chen'"),
    "dataset-object": ('{"dataset": {"name": "dsprites"}}', "specs.json.dataset: expected a string, got an object"),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_hostile_specs_json_is_one_line(tmp_path, capsys, case):
    folder = tmp_path / "btcvae_dsprites"
    disvae_folder(folder, latent_dim=3)
    text, fragment = SPECS[case]
    _specs(folder, text)
    refused(folder, "specs.json", fragment, capsys=capsys)
    refused(folder / "model.pt", "specs.json", fragment)


def test_specs_json_that_is_a_pipe_or_a_device_does_not_block(tmp_path, capsys):
    folder = tmp_path / "run"
    disvae_folder(folder, latent_dim=3, specs=False)
    with fifo_at(folder / "specs.json"):
        refused(folder, "specs.json", "is a named pipe (FIFO)", capsys=capsys)
    (folder / "specs.json").unlink()
    (folder / "specs.json").symlink_to("/dev/zero")
    refused(folder, "specs.json", "is a character device", capsys=capsys)
    (folder / "specs.json").unlink()
    (folder / "specs.json").symlink_to(folder / "nowhere.json")
    refused(folder, "specs.json", "no such file", capsys=capsys)


def test_a_folder_whose_model_pt_is_a_pipe_or_a_folder(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "specs.json").write_text(json.dumps({"latent_dim": 3}))
    with fifo_at(folder / "model.pt"):
        refused(folder, "model.pt", "is not a regular file", capsys=capsys)
    (folder / "model.pt").unlink()
    (folder / "model.pt").mkdir()
    refused(folder, "model.pt", "is a folder", capsys=capsys)


def test_burgess_weights_of_the_wrong_shape_are_one_line(tmp_path, capsys):
    folder = tmp_path / "run"
    disvae_folder(folder, latent_dim=3)
    state = torch.load(folder / "model.pt", weights_only=True)
    state["decoder.lin3.weight"] = torch.zeros(500, 256)
    torch.save(state, folder / "model.pt")
    refused(folder, "model.pt", "wrong shape for decoder.lin3.weight", capsys=capsys)
    del state["decoder.lin3.weight"]
    torch.save(state, folder / "model.pt")
    refused(folder, "model.pt", "missing 1 tensor(s), e.g. decoder.lin3.weight", capsys=capsys)
