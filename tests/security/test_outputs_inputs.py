"""An export never writes over what it reads, nor over a file of another kind: CLI, Python API and the app.

Every case: a typed error with one clear line, no traceback, and every file of the user byte for byte as before.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from latentlab.cli import main
from latentlab.core.errors import UnsafeOutput
from latentlab.core.export import ExportOptions, FramePlan, dimension_traversal, export
from latentlab.core.jobs import JobContext
from latentlab.core.session import Bookmark, Session, save_session
from tests.helpers import tiny_checkpoint, tiny_model
from tests.security.hostile import assert_one_line_error, digests

FAST = ["--frames", "4", "--size", "16", "--dims", "0,1"]


@pytest.fixture
def files(tmp_path):
    """A checkpoint and the other files an export reads, in a folder of the user's."""
    d = tmp_path / "work"
    d.mkdir()
    ck = tiny_checkpoint(d / "ck.safetensors", latent_dim=4)
    other = tiny_checkpoint(d / "other.safetensors", latent_dim=4, seed=3)
    np.save(d / "dir.npy", np.array([1, 0, 0, 0], np.float32))
    np.save(d / "path.npy", np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    np.save(d / "start.npy", np.zeros(4, np.float32))
    s = Session()
    s.add_checkpoint(ck)
    s.bookmarks = [Bookmark("a", np.zeros(4, np.float32)), Bookmark("b", np.ones(4, np.float32))]
    save_session(s, d / "keys.llab")
    (d / "notes.txt").write_text("my notes")
    return d, ck, other


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(["export", *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", ["same", "absolute", "symlink", "hardlink", "dotdot-missing", "dotdot-existing"])
def test_the_checkpoint_is_never_the_output(files, capsys, monkeypatch, case):
    d, ck, _ = files
    monkeypatch.chdir(d)
    out = {"same": "ck.safetensors", "absolute": str(ck), "symlink": "link.mp4", "hardlink": "hard.mp4",
           "dotdot-missing": "new/../ck.safetensors", "dotdot-existing": "sub/../ck.safetensors"}[case]
    if case == "symlink":
        os.symlink("ck.safetensors", d / "link.mp4")
    if case == "hardlink":
        os.link(ck, d / "hard.mp4")
    if case == "dotdot-existing":
        (d / "sub").mkdir()
    before = digests(d)
    code, err = cli(capsys, "ck.safetensors", "--out", out, "--format", "mp4", *FAST)
    assert code == 1
    assert_one_line_error(err, "a file the export reads", "choose another output name")
    assert digests(d) == before


@pytest.mark.parametrize("kind,extra,out,fmt", [
    ("direction", ["--direction", "dir.npy"], "dir.npy", "gif"),
    ("path", ["--path", "path.npy"], "path.npy", "mp4"),
    ("keyframes", ["--keyframes", "keys.llab"], "keys.llab", "gif"),
    ("traversal", ["--start", "start.npy"], "start.npy", "grid"),
    ("compare", ["--compare", "other.safetensors"], "other.safetensors", "mp4"),
    ("direction", ["--direction", "dir.npy:0"], "dir.npy", "mp4"),  # FILE:KEY names the same file
])
def test_no_input_file_is_ever_the_output(files, capsys, monkeypatch, kind, extra, out, fmt):
    d, _, _ = files
    monkeypatch.chdir(d)
    before = digests(d)
    code, err = cli(capsys, "ck.safetensors", "--kind", kind, *extra, "--out", out, "--format", fmt, *FAST)
    assert code == 1
    assert_one_line_error(err, out, "a file the export reads")
    assert digests(d) == before


@pytest.mark.parametrize("out,fmt,words", [
    ("notes.txt", "gif", "is not a GIF file"),
    ("notes.txt", "grid", "is not a PNG file"),
    ("other.safetensors", "mp4", "is not a MP4 file"),  # a checkpoint, just not this export's
])
def test_a_file_of_another_kind_is_never_replaced(files, capsys, monkeypatch, out, fmt, words):
    d, _, _ = files
    monkeypatch.chdir(d)
    before = digests(d)
    code, err = cli(capsys, "ck.safetensors", "--out", out, "--format", fmt, *FAST)
    assert code == 1
    assert_one_line_error(err, words)
    assert digests(d) == before


def test_a_device_or_pipe_is_never_replaced(files, capsys, monkeypatch):
    d, _, _ = files
    monkeypatch.chdir(d)
    os.mkfifo(d / "pipe.mp4")
    code, err = cli(capsys, "ck.safetensors", "--out", "pipe.mp4", "--format", "mp4", *FAST)
    assert code == 1
    assert_one_line_error(err, "not a regular file")
    assert stat.S_ISFIFO((d / "pipe.mp4").lstat().st_mode)
    if Path("/dev/null").exists() and stat.S_ISCHR(os.stat("/dev/null").st_mode):
        code, err = cli(capsys, "ck.safetensors", "--out", "/dev/null", "--format", "mp4", *FAST)
        assert code == 1 and stat.S_ISCHR(os.stat("/dev/null").st_mode)
        assert_one_line_error(err, "not a regular file")


def test_a_frame_folder_is_never_the_folder_of_the_inputs(files, capsys, monkeypatch):
    d, _, _ = files
    monkeypatch.chdir(d.parent)
    before = digests(d)
    code, err = cli(capsys, "work/ck.safetensors", "--out", "work", "--format", "png", *FAST)
    assert code == 1
    assert_one_line_error(err, "no latentlab frame manifest")
    assert digests(d) == before


def test_exporting_over_our_own_output_still_works(files, capsys, monkeypatch):
    d, _, _ = files
    monkeypatch.chdir(d)
    for _ in range(2):
        code, err = cli(capsys, "ck.safetensors", "--out", "clip.gif", "--format", "gif", *FAST)
        assert code == 0, err
    assert (d / "clip.gif").read_bytes()[:6] == b"GIF89a"


# --- the Python API ---------------------------------------------------------------------------------------------

def _plan(inputs=()) -> FramePlan:
    model = tiny_model(latent_dim=4)
    z, caps = dimension_traversal(np.zeros(4, np.float32), [0, 1], 8, -2.0, 2.0)
    return FramePlan.for_models([model], z, caps, inputs=inputs)


def test_the_api_refuses_an_input_as_output_from_the_plan_or_the_call(files):
    d, ck, _ = files
    before = digests(d)
    with pytest.raises(UnsafeOutput, match="a file the export reads"):
        export(_plan([ck]), ck, ExportOptions(format="mp4", size=16))
    with pytest.raises(UnsafeOutput, match="a file the export reads"):
        export(_plan(), d / "keys.llab", ExportOptions(format="gif", size=16), inputs=[d / "keys.llab"])
    with pytest.raises(UnsafeOutput, match="is not a MP4 file"):  # no inputs named: the kind check still holds
        export(_plan(), ck, ExportOptions(format="mp4", size=16))
    assert digests(d) == before


def test_an_output_that_becomes_an_input_during_the_export_is_refused_before_the_rename(files):
    """The target is checked again just before the finished file is renamed onto it."""
    d, ck, _ = files
    out = d / "clip.mp4"
    before = digests(d)

    def progress(fraction: float, _msg: str = "") -> None:
        if fraction > 0.2 and not out.exists():
            os.link(ck, out)  # someone makes the target name the checkpoint meanwhile

    with pytest.raises(UnsafeOutput, match="a file the export reads"):
        export(_plan([ck]), out, ExportOptions(format="mp4", size=16, batch_size=2), JobContext(progress=progress))
    out.unlink()
    assert digests(d) == before
    assert not [p for p in os.listdir(d) if ".part" in p]


# --- the app -------------------------------------------------------------------------------------------------------

def test_the_export_dialog_refuses_an_open_file_as_output(qtbot, window, files):
    from tests.ui.conftest import open_and_wait

    d, ck, _ = files
    open_and_wait(qtbot, window, ck)
    os.link(ck, d / "hard.mp4")
    before = digests(d)
    dlg = window.export_dialog()
    qtbot.addWidget(dlg)
    dlg.dims.setText("0,1")
    dlg.size.setValue(32)
    for target in (ck, d / "hard.mp4", d / "notes.txt"):
        dlg.out.setText(str(target))
        dlg.start()
        assert not dlg.runner.busy and dlg.result is None
        assert dlg.note.text().startswith("⚠ ") and str(target.name) in dlg.note.text(), dlg.note.text()
    assert digests(d) == before
