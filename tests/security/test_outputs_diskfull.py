"""A full disk: one line saying so (``DiskFull``), the previous output byte for byte as it was, nothing left over.

Tried on a real small file system (a 1 MB tmpfs in a private mount namespace, where this machine allows one)
and under a real file-size limit (``RLIMIT_FSIZE``: the kernel refuses the write with EFBIG).
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers import tiny_checkpoint
from tests.security.hostile import ROOT, assert_one_line_error, child_env, run_with_mount

pytestmark = pytest.mark.slow

CHILD = r"""
import contextlib, hashlib, io, json, os, resource, sys
from pathlib import Path
from latentlab.cli import main
from latentlab.core.session import Session, save_session

ck, folder, fmt, mode = sys.argv[1:5]
folder = Path(folder)
out = folder / {"mp4": "clip.mp4", "gif": "clip.gif", "grid": "grid.png", "png": "frames", "session": "work.llab"}[fmt]


def digest(path):
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()]


def export(frames, size):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["export", ck, "--out", str(out), "--format", fmt, "--frames", str(frames), "--size", str(size),
                     "--dims", "0,1", "--crf", "0", "--preset", "ultrafast"])
    return code, err.getvalue()


def save(blob):
    s = Session()
    s.add_checkpoint(ck)
    s.extra = {"blob": blob}
    try:
        save_session(s, out)
        return 0, ""
    except Exception as exc:  # the test wants to see which error, and that it is one line
        return 1, f"{type(exc).__name__}: {exc}"


code, err = save("small") if fmt == "session" else export(2, 16)  # the previous output, while there is room
assert code == 0, err
before = digest(out)
if mode == "tmpfs":
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - 16384))  # a little room: the write fails midway, not at once
    os.close(fd)
else:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
code, err = save("x" * (4 << 20)) if fmt == "session" else export(24, 512)
print(json.dumps({"code": code, "err": err, "same": digest(out) == before,
                  "left": sorted(n for n in os.listdir(folder) if n != "filler")}))
"""


@pytest.fixture(scope="module")
def ck(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("diskfull") / "ck.safetensors", latent_dim=4)


def check(result: dict, fmt: str) -> None:
    name = {"mp4": "clip.mp4", "gif": "clip.gif", "grid": "grid.png", "png": "frames", "session": "work.llab"}[fmt]
    assert result["code"] == 1, result
    said = "\n".join(ln for ln in result["err"].split("\n") if "\r" not in ln)  # the progress bar aside
    line = assert_one_line_error(said, "nothing was written and what was there is kept")
    assert "DiskFull" in line if fmt == "session" else line.startswith("latentlab export: error: ")
    assert result["same"], "the previous output changed"
    assert result["left"] == [name], result["left"]  # no .part file or folder left behind


@pytest.mark.parametrize("fmt", ["mp4", "gif", "grid", "png", "session"])
def test_a_full_disk_keeps_the_previous_output(tmp_path, ck, fmt):
    small = tmp_path / "small"
    small.mkdir()
    script = CHILD.replace("sys.argv[1:5]", repr([str(ck), str(small), fmt, "tmpfs"]))
    proc = run_with_mount(f"mount -t tmpfs -o size=1m latentlab-test {small}", script)
    if proc is None:
        pytest.skip("no private mount namespace here (needs root or unprivileged user namespaces); "
                    "the file-size-limit variant below still runs")
    assert proc.returncode == 0, proc.stderr
    check(json.loads(proc.stdout.strip().splitlines()[-1]), fmt)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("fmt", ["mp4", "png", "session"])
def test_a_file_size_limit_keeps_the_previous_output(tmp_path, ck, fmt):
    import subprocess

    folder = tmp_path / "limited"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ck), str(folder), fmt, "rlimit"], env=child_env(),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    check(json.loads(proc.stdout.strip().splitlines()[-1]), fmt)
