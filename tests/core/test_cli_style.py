"""The Generator panel's settings from the command line: ``latentlab mix`` writes the style-mixing figure and
``export`` takes --space / --class / --truncation / --noise, on a real checkpoint file; bad values and models
without these settings are one-line usage errors (exit 2) that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from latentlab.cli import main
from latentlab.core.checkpoints import open_checkpoint, save_checkpoint
from latentlab.core.export.mixing import seed_latents
from latentlab.core.style_edit import StyleSettings, mixing_grid, view_of
from tests.stylegan_fixtures import tiny_sg2


@pytest.fixture
def sg2(tmp_path):
    return save_checkpoint(tiny_sg2(c_dim=3), tmp_path / "cond.safetensors")


def test_mix_writes_the_grid_of_the_seeds_with_the_class_and_truncation(sg2, tmp_path, capsys):
    out = tmp_path / "mix.png"
    assert main(["mix", str(sg2), "--rows", "1-2", "--cols", "3,4,5", "--layers", "2-6", "--class", "1",
                 "--truncation", "0.7", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == [1, 2] and summary["cols"] == [3, 4, 5] and summary["layers"] == [2, 6]
    view = view_of(open_checkpoint(sg2).model, StyleSettings(class_index=1, psi=0.7))
    cells = mixing_grid(view, seed_latents(view, [1, 2]), seed_latents(view, [3, 4, 5]), 2, 6)
    img = np.asarray(Image.open(out))
    h = cells.shape[2]
    assert img.shape == (3 * h + 4, 4 * h + 6, 3)
    assert np.array_equal(img[h + 2:2 * h + 2, h + 2:2 * h + 2], cells[1, 1])  # row seed 1 mixed with column seed 3


@pytest.mark.parametrize("argv, says", [
    (["--layers", "3-99"], "this generator has ws 0 to 5"),
    (["--layers", "fine"], "--layers takes A-B"),
    (["--class", "7"], "class 7 outside [0, 2]"),
    (["--rows", "one"], "not a seed"),
])
def test_mix_refuses_what_does_not_fit_and_writes_nothing(sg2, tmp_path, capsys, argv, says):
    out = tmp_path / "mix.png"
    assert main(["mix", str(sg2), "--out", str(out), *argv]) == 2
    assert says in capsys.readouterr().err and not out.exists()


def test_mix_never_overwrites_its_checkpoint(sg2, capsys):
    before = sg2.read_bytes()
    assert main(["mix", str(sg2), "--out", str(sg2)]) != 0
    assert sg2.read_bytes() == before and "destroy" in capsys.readouterr().err


def test_export_decodes_with_the_style_options(sg2, tmp_path, capsys):
    plain, styled = tmp_path / "plain.png", tmp_path / "styled.png"
    assert main(["export", str(sg2), "--format", "grid", "--size", "16", "--dims", "0", "--out", str(plain)]) == 0
    assert main(["export", str(sg2), "--format", "grid", "--size", "16", "--dims", "0", "--class", "2",
                 "--noise", "none", "--out", str(styled)]) == 0
    a, b = np.asarray(Image.open(plain)), np.asarray(Image.open(styled))
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() > 0


def test_style_options_on_a_vae_are_a_usage_error(tmp_path, capsys):
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "vae.safetensors")
    out = tmp_path / "g.png"
    assert main(["export", str(ck), "--format", "grid", "--truncation", "0.5", "--noise", "none",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--truncation, --noise: only StyleGAN2, SWAGAN and StyleGAN3" in err and not out.exists()
