"""``latentlab export`` writes every format and kind from a checkpoint, and rejects bad input cleanly."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image

from latentlab.cli import main
from latentlab.core.session import Bookmark, Session, save_session
from tests.helpers import tiny_checkpoint


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("export-cli")
    return d, tiny_checkpoint(d / "a.safetensors"), tiny_checkpoint(d / "b.safetensors", latent_dim=3, seed=2)


def run(*argv: str) -> int:
    return main(["export", *map(str, argv)])


def test_each_format(ckpts, tmp_path, capsys):
    _, a, _ = ckpts
    common = ["--fps", "5", "--seconds", "1", "--size", "32", "--dims", "0,2"]
    assert run(a, *common, "--out", tmp_path / "t.mp4") == 0
    with av.open(str(tmp_path / "t.mp4")) as c:
        assert c.streams.video[0].frames == 5 and c.streams.video[0].average_rate == 5
    assert run(a, *common, "--labels", "--out", tmp_path / "t.gif") == 0
    assert Image.open(tmp_path / "t.gif").size == (32, 32)
    assert run(a, *common, "--out", tmp_path / "frames") == 0
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 5
    assert "wrote" in capsys.readouterr().out
    assert run(a, *common, "--steps", "3", "--scale", "1", "--padding", "1", "--json", "--out", tmp_path / "g.png") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "grid" and (out["width"], out["height"]) == (1 + 3 * 65, 1 + 2 * 65)
    assert Image.open(tmp_path / "g.png").size == (196, 131)


def test_direction_path_and_keyframe_kinds(ckpts, tmp_path, capsys):
    _, a, _ = ckpts
    np.save(tmp_path / "v.npy", np.array([1, 0, 0, 0], np.float32))
    np.savez(tmp_path / "dirs.npz", smile=np.array([0, 1, 0, 0], np.float32), size=np.ones(4, np.float32))
    np.save(tmp_path / "path.npy", np.linspace(-1, 1, 12 * 4).reshape(12, 4).astype(np.float32))
    opts = ["--format", "png", "--size", "0", "--fps", "10", "--seconds", "0.4"]
    assert run(a, "--kind", "direction", "--direction", tmp_path / "v.npy", *opts, "--out", tmp_path / "d1") == 0
    assert run(a, "--kind", "direction", "--direction", f"{tmp_path / 'dirs.npz'}:smile", *opts, "--out", tmp_path / "d2") == 0
    assert json.loads((tmp_path / "d2" / "frames.json").read_text())["captions"][1].startswith("smile a = ")
    assert run(a, "--kind", "path", "--path", tmp_path / "path.npy", "--frames", "12", "--format", "png",
               "--out", tmp_path / "p") == 0
    assert len(list((tmp_path / "p").glob("*.png"))) == 12
    s = Session()
    ref = s.add_checkpoint(a)
    s.bookmarks = [Bookmark("left", np.full(4, -1, np.float32), ref.id), Bookmark("right", np.ones(4, np.float32), ref.id)]
    save_session(s, tmp_path / "s.llab")
    assert run(a, "--kind", "keyframes", "--keyframes", tmp_path / "s.llab", "--interp", "slerp", "--easing",
               "ease-in-out", *opts, "--out", tmp_path / "k") == 0
    caps = json.loads((tmp_path / "k" / "frames.json").read_text())["captions"]
    assert caps[0] == "left -> right  0%" and len(caps) == 4


def test_compare_side_by_side_with_and_without_alignment(ckpts, tmp_path):
    d, a, b = ckpts
    assert run(a, "--kind", "compare", "--compare", a, "--format", "png", "--size", "16", "--gap", "4",
               "--frames", "4", "--out", tmp_path / "same") == 0
    assert Image.open(tmp_path / "same" / "frame_00000.png").size == (36, 16)
    # b has 3 latents, a has 4: aligned by encoding dSprites samples with both.
    assert run(a, "--kind", "compare", "--compare", b, "--align-samples", "64", "--format", "gif", "--size", "16",
               "--gap", "4", "--frames", "4", "--fps", "10", "--out", tmp_path / "c.gif") == 0
    assert Image.open(tmp_path / "c.gif").size == (36, 16)


@pytest.mark.parametrize("argv,code,text", [
    (["--kind", "direction"], 2, "needs --direction"),
    (["--kind", "compare"], 2, "needs --compare"),
    (["--dims", "0,9"], 2, "dimensions 0..3"),
    (["--out", "x.webm"], 2, "cannot tell the format"),
    (["--kind", "path", "--path", "missing.npy"], 1, "no such file"),
    (["--format", "gif", "--fps", "100"], 1, "GIF"),
])
def test_bad_input_is_a_message_not_a_traceback(ckpts, tmp_path, capsys, argv, code, text):
    _, a, _ = ckpts
    args = [a, "--frames", "2", *argv]
    if "--out" not in argv:
        args += ["--out", tmp_path / "o.gif"]
    assert run(*args) == code
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err
    assert not (tmp_path / "o.gif").exists()


def test_direction_from_a_latentlab_direction_file(ckpts, tmp_path):
    pytest.importorskip("latentlab.core.directions.io", reason="the directions feature is not in this build")
    from latentlab.core.directions import Direction, DirectionSet, save_directions

    ds = DirectionSet(4, [Direction("smile", "test", {}, vector=np.array([1, 0, 0, 0], np.float32)),
                          Direction("tilt", "test", {}, vector=np.array([0, 0, 3, 4], np.float32))])
    save_directions(ds, tmp_path / "d.safetensors")
    _, a, _ = ckpts
    assert run(a, "--kind", "direction", "--direction", f"{tmp_path / 'd.safetensors'}:tilt", "--span", "2",
               "--format", "png", "--size", "0", "--frames", "8", "--out", tmp_path / "f") == 0
    caps = json.loads((tmp_path / "f" / "frames.json").read_text())["captions"]
    assert caps[0] == "tilt a = +0.00" and caps[2] == "tilt a = +2.00"
    assert run(a, "--kind", "direction", "--direction", tmp_path / "d.safetensors", "--frames", "4",
               "--out", tmp_path / "x.gif") == 1  # two directions in the file: which one?
    assert not (tmp_path / "x.gif").exists()
