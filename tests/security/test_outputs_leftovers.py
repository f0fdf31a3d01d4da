"""A run killed mid-write leaves its ``.part`` behind and the old output as it was; the next start removes the
leftover, but only ours, and never one a live writer still holds."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from latentlab.cli import main
from latentlab.core.export import ExportOptions, export
from latentlab.core.partfiles import STALE_PART_S, is_part_name
from latentlab.core.paths import clean_leftovers, records_dir
from tests.helpers import tiny_checkpoint
from tests.security.hostile import digests, python, wait_for_line
from tests.security.test_outputs_folder import plan

WRITER = """
import sys, threading
import numpy as np
from latentlab.core.export import ExportOptions, FramePlan, dimension_traversal, export
from latentlab.core.jobs import JobContext
from tests.core.test_export import PatternModel

out, fmt = sys.argv[1], sys.argv[2]
z, caps = dimension_traversal(np.zeros(3, np.float32), [0, 1, 2], 60, -2.0, 2.0)
said = []

def progress(fraction, _msg=""):
    if fraction > 0.3 and not said:  # well into writing the temporary file: stay here until killed
        said.append(1)
        print("WRITING", flush=True)
        threading.Event().wait()

export(FramePlan.for_models([PatternModel()], z, caps), out, ExportOptions(format=fmt, size=None, batch_size=4),
       JobContext(progress=progress))
"""

NAMES = {"mp4": "clip.mp4", "gif": "clip.gif", "png": "frames"}


def parts(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if is_part_name(n))


def start_latentlab(tmp_path: Path) -> None:
    """A real start of the command line (any subcommand; ``info`` is quick)."""
    ck = tmp_path / "start.safetensors"
    if not ck.exists():
        tiny_checkpoint(ck)
    assert main(["info", str(ck)]) == 0


def writer(out: Path, fmt: str):
    proc = python(WRITER, str(out), fmt)
    wait_for_line(proc, "WRITING")
    return proc


@pytest.mark.parametrize("fmt", ["mp4", "gif", "png"])
def test_a_killed_export_keeps_the_old_output_and_its_leftover_goes_at_the_next_start(tmp_path, capsys, fmt):
    out = tmp_path / NAMES[fmt]
    export(plan(6), out, ExportOptions(format=fmt, size=None))  # the previous output
    before = digests(out)
    proc = writer(out, fmt)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    left = parts(tmp_path)
    assert len(left) == 1 and digests(out) == before
    start_latentlab(tmp_path)
    capsys.readouterr()
    assert parts(tmp_path) == [] and digests(out) == before


def test_a_live_writers_part_is_left_alone_until_it_dies(tmp_path):
    out = tmp_path / "clip.mp4"
    proc = writer(out, "mp4")
    try:
        live = parts(tmp_path)
        assert len(live) == 1
        os.utime(tmp_path / live[0], (time.time() - 10 * STALE_PART_S,) * 2)  # old, but its writer holds it
        clean_leftovers()
        assert parts(tmp_path) == live
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    clean_leftovers()
    assert parts(tmp_path) == [] and not out.exists()


def test_files_that_only_look_like_ours_are_never_removed(tmp_path):
    (tmp_path / "notes.part").write_text("the user's")
    (tmp_path / ".clip.mp4.part").write_text("another program's")
    lookalike = tmp_path / ".clip.latentlab-abcdefgh.part.mp4"
    lookalike.write_text("fresh, with no record: perhaps a writer on another machine")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    os.symlink(precious, tmp_path / ".link.latentlab-abcdefgh.part.txt")
    folder = tmp_path / ".frames.latentlab-abcdefgh.part"
    folder.mkdir()
    (folder / "frame_00000.png").write_bytes(b"ours by name")
    (folder / "holiday.jpg").write_bytes(b"not ours")
    records = records_dir()
    records.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()  # as if this machine's dead writer had recorded them: their locks are free
    for target in (precious, tmp_path / ".link.latentlab-abcdefgh.part.txt", folder, tmp_path / "notes.part"):
        (records / f"hostile-{target.name}.json").write_text(json.dumps({"path": str(target), "host": host}))
    (records / "garbage.json").write_text("[" * 100000)
    before = digests(tmp_path)
    clean_leftovers()
    export(plan(6), tmp_path / "clip.mp4", ExportOptions(format="mp4", size=None))  # cleans beside its target
    after = digests(tmp_path)
    for path, digest in before.items():
        if path != str(folder / "frame_00000.png"):  # that one was ours by name, in a folder of ours by name
            assert after[path] == digest, path
    assert (folder / "holiday.jpg").exists() and not (folder / "frame_00000.png").exists()
    assert os.path.islink(tmp_path / ".link.latentlab-abcdefgh.part.txt")
    assert lookalike.exists() and precious.read_text() == "keep me"
    assert [p.name for p in records.glob("hostile-*")] == [f"hostile-{folder.name}.json"]  # kept: not yet gone
    for p in records.glob("hostile-*"):
        p.unlink()


def test_a_stale_leftover_without_a_record_goes_at_the_next_write_of_its_target(tmp_path):
    """E.g. left by a run with another data folder: no record, so only its age and its free lock tell."""
    stale = tmp_path / ".clip.latentlab-abcdefgh.part.mp4"
    stale.write_bytes(b"half a video")
    os.utime(stale, (time.time() - 2 * STALE_PART_S,) * 2)
    export(plan(6), tmp_path / "clip.mp4", ExportOptions(format="mp4", size=None))
    assert parts(tmp_path) == [] and (tmp_path / "clip.mp4").exists()
