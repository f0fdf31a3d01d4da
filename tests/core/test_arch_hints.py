"""Every "--arch NAME" latentlab tells a user names a value that --arch accepts, and that opens the file it is
suggested for: each message is produced here from a real file, the value read out of its text, then given to
the CLI parser, to ``latentlab info`` and to ``open_checkpoint``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import torch

from latentlab.cli import build_parser
from latentlab.cli import main as cli_main
from latentlab.commands.common import arch_name
from latentlab.core.checkpoints import CheckpointError, open_checkpoint, save_checkpoint
from latentlab.core.checkpoints.card_file import write as write_safetensors
from latentlab.core.checkpoints.plugins import arch_names
from tests.format_fixtures import antixk_ckpt, disent_ckpt
from tests.helpers import tiny_model
from tests.vae_fixtures import antixk_model, lightning_ckpt

ROOT = Path(__file__).resolve().parents[2]
SUGGESTED = re.compile(r"--arch[ =]([a-z0-9_][A-Za-z0-9_\-]*[A-Za-z0-9_])")
TRAINED_ON = re.compile(r"an arch trained on it: ([a-z0-9_, ]+)\)")


def suggested(text: str) -> list[str]:
    """The --arch values a message names (a list of archs after "trained on it:" included)."""
    names = SUGGESTED.findall(text)
    for group in TRAINED_ON.findall(text):
        names += [n.strip() for n in group.split(",")]
    return names


def assert_opens_with(path: Path, name: str, capsys) -> None:
    assert name in arch_names(), name
    args = build_parser().parse_args(["info", str(path), "--arch", name])
    assert args.arch == name
    assert cli_main(["info", str(path), "--arch", name]) == 0, capsys.readouterr().err
    capsys.readouterr()
    open_checkpoint(path, arch=name)


def test_every_literal_arch_value_in_the_sources_is_accepted():
    found = {}
    for path in (ROOT / "latentlab").rglob("*.py"):
        for value in SUGGESTED.findall(path.read_text()):
            found.setdefault(value, []).append(path.name)
    assert found, "the scan found no --arch values at all"
    unknown = {v: files for v, files in found.items() if v not in arch_names()}
    assert not unknown, unknown


def test_every_arch_option_of_the_cli_checks_its_value(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    with_arch = []
    for name, p in sub.choices.items():
        stack = [p]
        while stack:  # subcommands of subcommands (flows train / traverse / export)
            cur = stack.pop()
            for action in cur._actions:
                if "--arch" in action.option_strings and name != "train":  # train takes training archs only
                    assert action.type is arch_name, name
                    with_arch.append(name)
                if isinstance(action, argparse._SubParsersAction):
                    stack += list(action.choices.values())
    assert {"info", "metrics", "export", "convert", "encode", "flows"} <= set(with_arch)
    assert cli_main(["info", "x.ckpt", "--arch", "pytorch_vae-sym"]) == 2
    err = capsys.readouterr().err
    assert "argument --arch: expected an architecture latentlab knows, got 'pytorch_vae-sym'" in err
    assert "did you mean" in err and "pytorch_vae-symmetric" in err.split("did you mean", 1)[1]
    # --help lists the values, and every one it lists is accepted.
    helped = next(a for a in sub.choices["info"]._actions if "--arch" in a.option_strings).help
    listed = helped.split("; one of ", 1)[1].split(" or a plugin", 1)[0].split(", ")
    assert "pytorch_vae-symmetric" in listed and all(arch_name(n) == n for n in listed)


def _error_text(path: Path) -> str:
    with pytest.raises(CheckpointError) as err:
        open_checkpoint(path)
    return str(err.value)


@pytest.mark.parametrize("arch", ["beta_vae", "qlae", "infowgan_gp"])
def test_plain_state_dicts_are_told_the_arch_that_fits(tmp_path, capsys, arch):
    state = tiny_model(arch, latent_dim=3).state_dict()
    pt = tmp_path / "weights.pt"
    torch.save(state, pt)
    bare = tmp_path / "weights.safetensors"
    write_safetensors(bare, state, "other.key", {"x": 1})  # a .safetensors file without our model card
    for path in (pt, bare):
        text = _error_text(path)
        names = suggested(text)
        assert names, text
        for name in names:
            assert_opens_with(path, name, capsys)
    # latentlab info on the card-less file says the same (it used to say only "pass --arch").
    assert cli_main(["info", str(bare)]) != 0
    assert suggested(capsys.readouterr().err) == names


def test_a_state_dict_nothing_fits_names_no_value(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"layer.weight": torch.zeros(3, 3)}, path)
    text = _error_text(path)
    assert "fit none of latentlab's networks" in text and suggested(text) == []


def _notes_cases(tmp_path: Path) -> list[tuple[Path, list[str]]]:
    """Files whose opening notes suggest an --arch, with those notes; and their converted .safetensors."""
    cases = []
    for path in (antixk_ckpt(tmp_path / "new.ckpt") and tmp_path / "new.ckpt",
                 antixk_ckpt(tmp_path / "old.ckpt", lightning_version="1.3.0") and tmp_path / "old.ckpt",
                 disent_ckpt(tmp_path / "mse.ckpt", recon_loss=None) and tmp_path / "mse.ckpt",
                 lightning_ckpt(tmp_path / "tc.ckpt", antixk_model("BetaTCVAE"), lightning_version="1.4.9")):
        ck = open_checkpoint(path)
        cases.append((path, list(ck.notes)))
        out = save_checkpoint(ck.model, path.with_suffix(".safetensors"), ck.card)
        cases.append((out, list(open_checkpoint(out).card.get("notes", []))))
    return cases


def test_notes_that_suggest_an_arch_name_one_that_opens_the_file(tmp_path, capsys):
    seen = set()
    for path, notes in _notes_cases(tmp_path):
        names = [n for note in notes for n in suggested(note)]
        assert names, (path, notes)
        for name in names:
            assert_opens_with(path, name, capsys)
            again = open_checkpoint(path, arch=name)
            chosen = [n for n in again.notes if "chosen with --arch" in n]
            if path.suffix == ".ckpt":  # the choice is echoed, naming the value given
                assert chosen and suggested(chosen[0]) == [name]
            seen.add(name)
    assert seen == {"pytorch_vae-symmetric", "pytorch_vae-unit", "disent-sigmoid"}


def test_the_unknown_architecture_message_lists_accepted_values(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny_model("beta_vae").state_dict(), path)
    with pytest.raises(CheckpointError, match="unknown architecture") as err:
        open_checkpoint(path, arch="not_a_net")
    listed = str(err.value).split("built-in:", 1)[1].strip(" )").split(", ")
    assert listed and set(listed) <= set(arch_names())
