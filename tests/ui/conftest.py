"""Fixtures for the pytest-qt tests: a window on a tiny model, closed cleanly after each test."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import Checkpoint
from tests.helpers import tiny_checkpoint


@pytest.fixture
def empty_models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "no-demo-models"
    folder.mkdir()
    monkeypatch.setenv("LATENTLAB_MODELS", str(folder))
    return folder


@pytest.fixture
def window(qtbot, empty_models_dir):
    from latentlab.ui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def open_and_wait(qtbot, win, path, timeout=30000):
    win.open_paths([path])
    qtbot.waitUntil(lambda: win.state.current is not None and win.state.current.path == path, timeout=timeout)
    return win.state.current


def wait_for_analysis(qtbot, win, timeout=60000):
    entry = win.state.current
    qtbot.waitUntil(lambda: entry.encoded is not None or entry.analysis_error is not None, timeout=timeout)
    assert entry.analysis_error is None, entry.analysis_error
    return entry


def decoded(model, z) -> np.ndarray:
    from latentlab.core.render import to_uint8

    with torch.inference_mode():
        return to_uint8(model.decode(torch.as_tensor(np.asarray(z, np.float32))[None]))[0]


def wait_for_frame(qtbot, win, z, timeout=30000):
    """Wait until the preview shows the frame of exactly ``z``."""
    def shown():
        res = win.preview.last_result
        return res is not None and res.z is not None and np.array_equal(res.z, z)

    qtbot.waitUntil(shown, timeout=timeout)


def make_checkpoint_entry(model, name="custom"):
    from pathlib import Path

    from latentlab.app import ModelEntry

    ck = Checkpoint(path=Path(f"/virtual/{name}.safetensors"), sha256=name * 4, format="test", card={}, model=model)
    return ModelEntry(ck)


def latentlab_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("latentlab") and t.is_alive()]


@pytest.fixture
def tiny_ckpt(tmp_path):
    return tiny_checkpoint(tmp_path / "tiny-vae.safetensors", latent_dim=4)
