"""The bridge between the render thread and the GUI thread."""

from __future__ import annotations

import logging

import numpy as np
import shiboken6

from latentlab.core.render import RenderRequest
from latentlab.ui.render_bridge import RenderBridge
from tests.helpers import tiny_model


def test_results_reach_the_gui_thread_in_order_and_stale_ones_are_dropped(qtbot):
    bridge = RenderBridge()
    model = tiny_model()
    bridge.set_model(model, 1)
    shown = []
    bridge.rendered.connect(lambda res: shown.append(res))
    z = np.zeros(model.info.latent_dim, np.float32)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000):
        seq = bridge.submit("preview", z)
    assert shown[-1].seq == seq and shown[-1].image is not None
    bridge.set_model(model, 2)  # a new model: results of the old token are not shown
    bridge._deliver(shown[-1])
    assert len(shown) == 1
    assert bridge.stop()


def test_a_bridge_deleted_without_stop_ends_its_render_thread_quietly(qtbot, caplog):
    bridge = RenderBridge()
    model = tiny_model()
    bridge.set_model(model, 1)
    worker = bridge.worker
    shiboken6.delete(bridge)  # its window was destroyed without closing: the Qt half is gone
    with caplog.at_level(logging.ERROR, logger="latentlab.core.render"):
        worker.submit(RenderRequest("preview", np.zeros(model.info.latent_dim, np.float32), seq=1, model_token=1))
        qtbot.waitUntil(lambda: not worker.alive, timeout=10_000)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
