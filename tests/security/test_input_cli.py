"""The command line under hostile arguments: every numeric argument is range-checked (exit status 2, one line),
requests that would allocate gigabytes are refused before any work, and text from files is printed escaped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from latentlab.cli import build_parser, main
from latentlab.core import limits
from latentlab.core.checkpoint import make_card, save_checkpoint
from tests.helpers import tiny_checkpoint, tiny_model
from tests.security.conftest import fingerprint, one_line

# A minimal valid command line per subcommand; the arguments under test are appended to it. Parsing fails
# before any of these files is opened.
PREFIXES = {
    "train": ["train", "--arch", "vae", "--out", "x.safetensors"],
    "metrics": ["metrics", "m.safetensors"],
    "directions": ["directions", "m.safetensors", "--method", "sefa", "--out", "d.safetensors"],
    "flows train": ["flows", "train", "m.safetensors", "--out", "f.safetensors"],
    "flows traverse": ["flows", "traverse", "m.safetensors", "f.safetensors", "--out", "s.png"],
    "flows evaluate": ["flows", "evaluate", "m.safetensors", "f.safetensors"],
    "export": ["export", "m.safetensors", "--out", "v.mp4"],
    "encode": ["encode", "m.safetensors", "i.png", "--out", "l.npz"],
    "bench": ["bench", "m.safetensors"],
    "sweep": ["sweep", "m.safetensors"],
    "sweep-train": ["sweep-train", "grid.toml"],
    "info": ["info", "m.safetensors"],
    "convert": ["convert", "m.safetensors", "--out", "c.safetensors"],
    "mix": ["mix", "m.safetensors", "--out", "mix.png"],
    "probe": ["probe", "m.safetensors"],
    "concepts": ["concepts", "a.safetensors", "b.safetensors"],
    "flows import": ["flows", "import", "p.pt", "--model", "m.safetensors", "--out", "f.safetensors"],
}
HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e999", "-1e30", "99999999999999999999999999", "1" * 5000, "ten", ""]


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                key = f"{prefix} {name}".strip()
                yield key, sub
                yield from _subparsers(sub, key)


def _numeric_options():
    for key, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if action.option_strings and action.type is not None and action.type not in (str, Path):
                yield key, action


def test_no_numeric_argument_is_parsed_unbounded():
    """Every numeric option uses a range-checked type: plain int or float would take inf, nan or 10**30."""
    unbounded = [f"{key} {a.option_strings[0]}" for key, a in _numeric_options() if a.type in (int, float)]
    assert not unbounded, unbounded
    assert len(list(_numeric_options())) > 60  # the walk found the subcommands' options


@pytest.mark.parametrize("key, option", sorted({(k, a.option_strings[-1]) for k, a in _numeric_options()}))
def test_every_numeric_option_refuses_hostile_values(capsys, key, option):
    assert key in PREFIXES, f"add a command line for {key!r} to PREFIXES"
    for value in HOSTILE_NUMBERS:
        assert main([*PREFIXES[key], option, value]) == 2, (option, value)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        assert f"argument {option}" in last and "expected" in last, (option, value, err)
        assert "\x1b" not in err and len(last) < 300


@pytest.mark.parametrize("args, fragment", [
    (["export", "m.safetensors", "--out", "v.mp4", "--seconds", "inf"], "argument --seconds: expected a finite number"),
    (["export", "m.safetensors", "--out", "v.mp4", "--seconds", "nan"], "argument --seconds"),
    (["export", "m.safetensors", "--out", "v.mp4", "--seconds", "1e12"], "at most 3600"),
    (["export", "m.safetensors", "--out", "v.png", "--size", "100000"], "argument --size: expected an integer from 0 to 4096"),
    (["export", "m.safetensors", "--out", "v.mp4", "--frames", "0"], "argument --frames"),
    (["train", "--arch", "vae", "--out", "x", "--latent-dim", "100000"], "argument --latent-dim"),
    (["train", "--arch", "vae", "--out", "x", "--seed", "-5"], "argument --seed: expected an integer from 0 to 4294967295"),
    (["train", "--arch", "vae", "--out", "x", "--batch-size", "1"], "argument --batch-size: expected an integer from 2"),
])
def test_the_named_hostile_arguments_are_usage_errors(capsys, args, fragment):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err.strip().splitlines()[-1] and "Traceback" not in err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("cli") / "m.safetensors", latent_dim=4)


@pytest.mark.parametrize("extra, fragment", [
    (["--fps", "240", "--seconds", "3600"], "makes 864000 frames; at most 100000"),
    (["--out-png", "--steps", "256", "--size", "4096"], "is too large (at most 16384 cells"),
    (["--out-png", "--steps", "200", "--scale", "4096"], "is too large"),
])
def test_exports_that_would_allocate_gigabytes_are_refused_first(capsys, tmp_path, ckpt, extra, fragment):
    out = tmp_path / ("grid.png" if "--out-png" in extra else "v.mp4")
    args = [a for a in extra if a != "--out-png"]
    before = fingerprint(ckpt)
    assert main(["export", str(ckpt), "--out", str(out), *args]) == 2
    assert fragment in one_line(capsys.readouterr().err)
    assert not out.exists() and fingerprint(ckpt) == before


@pytest.mark.parametrize("value, fragment", [
    ("[" * 100, "nests 100 levels deep; at most 8"),
    ("{\"a\": ", "is not valid JSON"),
    ("1e999", "not a finite number"),
])
def test_hostile_key_value_arguments(capsys, tmp_path, value, fragment):
    assert main(["train", "--arch", "vae", "--steps", "1", "--set", f"beta={value}", "--out", str(tmp_path / "x")]) == 2
    assert fragment in one_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_weights_must_be_finite(capsys, tmp_path, ckpt):
    assert main(["flows", "train", str(ckpt), "--weights", "pde=nan", "--out", str(tmp_path / "f")]) == 2
    assert "--weights pde: expected a finite number" in one_line(capsys.readouterr().err)


def test_metrics_on_a_dataset_with_other_channels_fail_before_any_work(capsys, tmp_path, ckpt):
    before = fingerprint(ckpt)
    assert main(["metrics", str(ckpt), "--dataset", "shapes3d", "--n", "100", "--metrics", "mig", "--quiet"]) == 1
    err = capsys.readouterr().err
    line = one_line(err)
    assert "shapes3d has images of 3 channels at 64x64" in line and "takes 1 channel at 64x64" in line
    assert fingerprint(ckpt) == before


HOSTILE_NAME = "\x1b[2J\x1b[31mevil\nlatentlab: FORGED LINE\r\u202etxt"


@pytest.fixture(scope="module")
def hostile_ckpt(tmp_path_factory):
    model = tiny_model(latent_dim=3)
    model.info = type(model.info)(HOSTILE_NAME, 3, (1, 64, 64), latent_names=("a\x1b[0m", "b\nFORGED", "c"),
                                  dataset="dsprites", factor_names=model.info.factor_names)
    path = tmp_path_factory.mktemp("hostile") / "evil.safetensors"
    return save_checkpoint(model, path, make_card(model))


def _clean(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text, text
    assert not any(line.startswith(("latentlab: FORGED", "FORGED")) for line in text.splitlines()), text


def test_names_from_a_checkpoint_are_printed_escaped(capsys, hostile_ckpt):
    assert main(["bench", str(hostile_ckpt), "--repeats", "1", "--batch", "2"]) == 0
    out = capsys.readouterr()
    _clean(out.out + out.err)
    assert "\\x1b" in out.out  # shown, spelled out


def test_names_in_error_messages_are_escaped(capsys, hostile_ckpt):
    assert main(["metrics", str(hostile_ckpt), "--dataset", "shapes3d", "--quiet"]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert "evil" in one_line(err)


def test_a_flows_card_is_printed_escaped(capsys, tmp_path):
    from safetensors.torch import save_file

    from latentlab.core.flows.io import CARD_KEY

    card = {"format": "latentlab-flows", "format_version": 1, "checkpoint": {"name": HOSTILE_NAME, "file": "x\ny"},
            "config": {"pde": "wave\x1b[5m", "n_potentials": 2}, "potentials": {"n_potentials": 1, "latent_dim": 2,
            "hidden": 2, "time_dim": 2, "bounded": True}, "classifier": {"n_classes": 1, "channels": 1, "width": 1},
            "history": [{"step": 1, "lo\nss": 0.5}]}
    path = tmp_path / "f.safetensors"
    import torch

    save_file({"x": torch.zeros(1)}, str(path), metadata={CARD_KEY: json.dumps(card), "format": "pt"})
    assert main(["flows", "info", str(path)]) == 0
    _clean(capsys.readouterr().out)


def test_an_output_that_cannot_be_written_is_one_line(capsys, tmp_path, ckpt):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = main(["export", str(ckpt), "--frames", "4", "--dims", "0", "--size", "0", "--out", str(blocker / "v.gif")])
    assert rc == 1
    err = capsys.readouterr().err  # the progress bar's line, then the error on its own line
    assert "Traceback" not in err
    assert "a-file: is a file, not a folder: v.gif cannot be written inside it" in err.splitlines()[-1]
    assert blocker.read_text() == "not a folder"


def test_limits_stay_sane():
    """The ceilings leave room for real work (a 512-d StyleGAN, 10,000-point metrics, an hour of video)."""
    assert limits.MAX_LATENT_DIM >= 512 and limits.MAX_SAMPLES >= 737_280 and limits.MAX_FRAMES >= 30 * 600
    assert limits.MAX_PIXELS * 3 <= 1 << 28  # one RGB frame stays under 256 MiB
