"""Shared helpers for the hostile-input tests: file fingerprints, named pipes that cannot hang a test."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest


def fingerprint(path: Path) -> tuple[str, int, int]:
    """(SHA-256, size, mode) of a file, to prove an input was left exactly as it was."""
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mode


@pytest.fixture
def fifo(tmp_path):
    """A named pipe nobody writes to. Opening it for reading would block forever; should the code under test
    ever do that, a guard opens the other end after 20 s so the test fails instead of hanging the suite."""
    path = tmp_path / "pipe"
    os.mkfifo(path)

    def unblock() -> None:
        try:  # succeeds only while a reader is blocked in open(): then it sees end-of-file at once
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    guard = threading.Timer(20.0, unblock)
    guard.daemon = True
    guard.start()
    yield path
    guard.cancel()


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (asserting there is exactly one and no traceback)."""
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# The GUI cases use the same window fixtures and leak check as tests/ui (a fixture is found where it is
# imported).
from tests.ui.conftest import empty_models_dir, no_leaked_qt_objects, tiny_ckpt, window  # noqa: E402, F401
