"""PNG frame folders: a re-export replaces only frames latentlab wrote; every other file stays, byte for byte."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from latentlab.core.errors import UnsafeOutput
from latentlab.core.export import ExportOptions, FramePlan, dimension_traversal, export
from latentlab.core.export.folder import MANIFEST
from tests.core.test_export import PatternModel, decoded
from tests.security.hostile import digests, sha256

OPTS = ExportOptions(format="png", size=None)


def plan(frames: int, seed: int = 0) -> FramePlan:
    z, caps = dimension_traversal(np.zeros(3, np.float32), [0, 1, 2], frames, -2.0, 2.0)
    return FramePlan.for_models([PatternModel(seed=seed)], z, caps)


def frames_in(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("frame_"))


def test_a_file_the_user_added_survives_a_re_export(tmp_path):
    out = tmp_path / "frames"
    export(plan(12), out, OPTS)
    (out / "notes.txt").write_text("which run this was")
    (out / "cover.png").write_bytes((out / "frame_00003.png").read_bytes())  # a copy of ours, under its own name
    keep = digests(out / "notes.txt", out / "cover.png")
    new = plan(6, seed=1)
    export(new, out, OPTS)
    assert digests(out / "notes.txt", out / "cover.png") == keep
    assert frames_in(out) == [f"frame_{i:05d}.png" for i in range(6)]  # our frames 6..11 went, being ours
    for i in (0, 5):
        assert np.array_equal(np.asarray(Image.open(out / f"frame_{i:05d}.png")),
                              decoded(new.tracks[0].model, new.tracks[0].latents[i]))
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["files"]) == set(frames_in(out)) and manifest["frames"] == 6
    assert not [p for p in os.listdir(tmp_path) if ".part" in p]


def test_a_frame_the_user_edited_is_never_overwritten(tmp_path):
    out = tmp_path / "frames"
    export(plan(12), out, OPTS)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(out / "frame_00002.png")  # touched up by hand
    before = digests(out)
    with pytest.raises(UnsafeOutput, match="frame_00002.png is not a frame latentlab wrote"):
        export(plan(12, seed=1), out, OPTS)
    assert digests(out) == before
    assert not [p for p in os.listdir(tmp_path) if ".part" in p]


def test_an_edited_frame_a_shorter_export_does_not_need_is_kept(tmp_path):
    out = tmp_path / "frames"
    export(plan(12), out, OPTS)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(out / "frame_00010.png")
    edited = sha256(out / "frame_00010.png")
    export(plan(6, seed=1), out, OPTS)
    assert sha256(out / "frame_00010.png") == edited
    assert frames_in(out) == [f"frame_{i:05d}.png" for i in range(6)] + ["frame_00010.png"]
    assert "frame_00010.png" not in json.loads((out / MANIFEST).read_text())["files"]


def test_a_folder_of_other_files_without_a_manifest_is_never_touched(tmp_path):
    mine = tmp_path / "holiday"
    mine.mkdir()
    (mine / "frame_00000.png").write_bytes(b"my own picture")
    (mine / "list.txt").write_text("x")
    before = digests(mine)
    with pytest.raises(UnsafeOutput, match="no latentlab frame manifest"):
        export(plan(4), mine, OPTS)
    assert digests(mine) == before


@pytest.mark.parametrize("manifest", [
    {"format": "latentlab-frames", "files": {"../precious.txt": "SHA", "notes.txt": "SHA", "frame_00000.png": 7}},
    "[" * 100000 + "]" * 100000,  # nested past any recursion limit
    {"format": "latentlab-frames", "pattern": "../%05d.png", "frames": 10**12},
    {"format": "latentlab-frames", "files": ["frame_00000.png"]},
])
def test_a_hostile_manifest_cannot_point_the_writer_at_other_files(tmp_path, manifest):
    out = tmp_path / "frames"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    (out / "notes.txt").write_text("keep me too")
    for name in ("../precious.txt", "notes.txt"):
        if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict):
            manifest["files"][name] = sha256(out / name)
    (out / MANIFEST).write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    before = digests(tmp_path)
    try:
        export(plan(4), out, OPTS)
    except UnsafeOutput:
        assert digests(tmp_path) == before
        return
    after = digests(tmp_path)
    for name in ("precious.txt", "frames/notes.txt"):
        assert after[str(tmp_path / name)] == before[str(tmp_path / name)]


def test_a_link_in_the_folder_under_a_frame_name_is_not_ours(tmp_path):
    out = tmp_path / "frames"
    export(plan(4), out, OPTS)
    (tmp_path / "elsewhere.png").write_bytes(b"the user's")
    (out / "frame_00001.png").unlink()
    os.symlink(tmp_path / "elsewhere.png", out / "frame_00001.png")
    before = digests(tmp_path)
    with pytest.raises(UnsafeOutput, match="frame_00001.png is not a frame latentlab wrote"):
        export(plan(4, seed=2), out, OPTS)
    assert digests(tmp_path) == before and os.path.islink(out / "frame_00001.png")


def test_a_folder_from_an_older_latentlab_is_replaced_but_its_extra_files_stay(tmp_path):
    out = tmp_path / "frames"
    out.mkdir()
    for i in range(5):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(out / f"frame_{i:05d}.png")
    (out / MANIFEST).write_text(json.dumps({"format": "latentlab-frames", "frames": 5, "fps": 30.0,
                                            "pattern": "frame_%05d.png"}))  # no digests yet
    (out / "readme.md").write_text("mine")
    export(plan(3), out, OPTS)
    assert frames_in(out) == [f"frame_{i:05d}.png" for i in range(3)] and (out / "readme.md").read_text() == "mine"


def test_a_folder_of_only_our_frames_is_swapped_whole(tmp_path):
    out = tmp_path / "frames"
    export(plan(12), out, OPTS)
    inode = os.stat(out).st_ino
    export(plan(6, seed=1), out, OPTS)
    assert os.stat(out).st_ino != inode  # a new folder renamed into place: readers see all old or all new
    assert frames_in(out) == [f"frame_{i:05d}.png" for i in range(6)]
    assert sorted(os.listdir(tmp_path)) == ["frames"]
