"""What the hostile-case tests share: digests of the user's files, one-line error checks, real child processes
and real small or read-only file systems (a private mount namespace, or a file-size limit, where one is allowed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(*paths: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file under the given paths (folders walked), to compare before and after."""
    out = {}
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink())
        out.update({str(f): sha256(f) for f in files})
    return out


def assert_one_line_error(text: str, *must_contain: str) -> str:
    """The user saw one clear line: no traceback, the words that matter. Returns that line."""
    assert "Traceback" not in text, text
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    for words in must_contain:
        assert words in lines[0], lines[0]
    return lines[0]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", **extra}


def python(script: str, *args: str, **kw) -> subprocess.Popen:
    """A real latentlab process running ``script``; stdout and stderr as text pipes."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], env=kw.pop("env", child_env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True, **kw)


def wait_for_line(proc: subprocess.Popen, word: str) -> str:
    """Read the child's output until a line says ``word`` (it says so once it is where the test wants it)."""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the child ended before saying {word!r}: {proc.stderr.read()}")
        if word in line:
            return line


def _namespace_prefix() -> list[str] | None:
    """How to run a command in a private mount namespace here (root, or an unprivileged user namespace)."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    prefix = [unshare, "-m"] if os.geteuid() == 0 else [unshare, "-r", "-m"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def run_with_mount(mount: str, script: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess | None:
    """Run a Python ``script`` after shell command ``mount`` in a private mount namespace (gone when it ends).

    None when this machine allows no such namespace (the caller then skips, saying so).
    """
    prefix = _namespace_prefix()
    if prefix is None:
        return None
    code = f"({mount}) || exit 97; exec {sys.executable} -c {_quote(textwrap.dedent(script))}"
    proc = subprocess.run([*prefix, "sh", "-c", code], env=env or child_env(), capture_output=True, text=True,
                          timeout=300)
    if proc.returncode == 97:  # the script's way of saying the mount itself failed
        return None
    return proc


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])
