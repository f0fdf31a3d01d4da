"""The condition selector beside the sliders: shown for a conditioned decoder only, and every toggle redraws
the preview with exactly the model's decode under the new condition (frames kept per condition)."""

from __future__ import annotations

import numpy as np
import torch

from latentlab.core.render import to_uint8
from latentlab.core.zoo.antixk import CELEBA_ATTRIBUTES
from tests.helpers import tiny_checkpoint
from tests.ui.conftest import open_and_wait
from tests.vae_fixtures import antixk_model, lightning_ckpt


def _expected(entry, z) -> np.ndarray:
    with torch.inference_mode():
        return to_uint8(entry.model.decode(torch.from_numpy(np.asarray(z, np.float32))[None]))[0]


def _wait_for(qtbot, win, image) -> None:
    def shows() -> bool:
        res = win.preview.last_result
        return res is not None and res.image is not None and np.array_equal(res.image, image)

    qtbot.waitUntil(shows, timeout=30000)


def test_condition_toggles_redraw_the_preview(qtbot, window, tmp_path):
    run = tmp_path / "celeba-cvae"
    run.mkdir()
    path = lightning_ckpt(run / "last.ckpt", antixk_model("ConditionalVAE"))
    entry = open_and_wait(qtbot, window, path)
    selector = window.sliders.condition
    assert selector.wanted and selector.isVisible()
    assert "celeba-cvae (last)" in window.windowTitle()
    actions = selector.list_menu.actions()
    assert [a.text() for a in actions] == list(CELEBA_ATTRIBUTES) and selector.text() == "condition: all off"
    z = window.state.z.copy()
    plain = _expected(entry, z)
    _wait_for(qtbot, window, plain)
    smiling = actions[CELEBA_ATTRIBUTES.index("Smiling")]
    smiling.trigger()
    assert entry.condition()[CELEBA_ATTRIBUTES.index("Smiling")] == 1
    assert selector.text() == "condition: Smiling"
    with_smile = _expected(entry, z)
    assert not np.array_equal(with_smile, plain)
    _wait_for(qtbot, window, with_smile)
    smiling.trigger()  # back: the frame kept for that condition is the right one
    assert selector.text() == "condition: all off"
    _wait_for(qtbot, window, plain)
    window.sliders.grab().save(str(tmp_path / "sliders.png"))

    other = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "plain.safetensors"))
    assert not other.conditioned and not selector.wanted and not selector.isVisible()
