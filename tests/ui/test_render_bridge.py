"""The bridge between the render thread and the GUI thread."""

from __future__ import annotations

import logging

import numpy as np
import shiboken6

from latentlab.core.render import RenderRequest, RenderResult
from latentlab.ui.render_bridge import RenderBridge
from tests.helpers import tiny_model
from tests.ui.conftest import decoded


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


def preview_requests(monkeypatch, bridge) -> list:
    seen = []
    submit = bridge.service.submit
    monkeypatch.setattr(bridge.service, "submit",
                        lambda req: (seen.append(req.view) if req.view == "preview" else None, submit(req)))
    return seen


def test_a_frame_is_served_again_only_on_the_device_it_was_decoded_on(qtbot, monkeypatch):
    bridge = RenderBridge()
    model = tiny_model()
    bridge.set_model(model, 1)
    z = np.full(model.info.latent_dim, 0.5, np.float32)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000):
        bridge.submit("preview", z)
    seen = preview_requests(monkeypatch, bridge)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000) as again:
        bridge.submit("preview", z)
    assert again.args[0].cached and seen == []
    # The service now routes the model to another device (a move, a CPU fallback): decode anew.
    monkeypatch.setattr(bridge.service, "device_of", lambda token: "cuda:0")
    assert not bridge.holds_frame(z)
    bridge.submit("preview", z)
    assert seen == ["preview"]
    assert bridge.stop()


def rendered_grid_row(qtbot, monkeypatch, chunk: int, seed: int):
    """A bridge on a tiny model that has just rendered a 4-latent grid row in chunks of ``chunk``."""
    bridge = RenderBridge()
    model = tiny_model()
    bridge.set_model(model, 1)
    bridge.worker.chunks.size = chunk
    monkeypatch.setattr(bridge.worker.chunks, "record", lambda n, ms: None)  # keep the chunk size fixed
    zs = np.random.default_rng(seed).standard_normal((4, model.info.latent_dim)).astype(np.float32)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000) as row:
        bridge.submit("grid:0", zs, priority=10)
    return bridge, model, zs, row.args[0]


def test_frames_decoded_in_a_batch_are_not_served_for_a_single_latent(qtbot, monkeypatch):
    # A batched convolution may round differently from a batch of one: the preview shows batch-1 decodes only.
    bridge, _model, zs, _row = rendered_grid_row(qtbot, monkeypatch, chunk=4, seed=0)
    seen = preview_requests(monkeypatch, bridge)
    bridge.submit("preview", zs[2])
    assert seen == ["preview"]
    assert bridge.stop()


def test_a_render_notice_is_announced_whatever_view_it_came_with(qtbot):
    bridge = RenderBridge()
    bridge.set_model(tiny_model(), 1)
    res = RenderResult("grid:3", 5, 1, None, error="stale", notice="GPU out of memory: the model moved to the CPU")
    with qtbot.waitSignal(bridge.notice, timeout=1000) as told:
        bridge._deliver(res)
    assert told.args == ["GPU out of memory: the model moved to the CPU"]
    assert bridge.stop()


def test_a_grid_row_decoded_latent_by_latent_is_served_cell_by_cell(qtbot, monkeypatch):
    # On a CPU the worker decodes background rows one latent at a time: each cell is a batch-1 decode.
    bridge, model, zs, row = rendered_grid_row(qtbot, monkeypatch, chunk=1, seed=1)
    seen = preview_requests(monkeypatch, bridge)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000) as cell:
        bridge.submit("preview", zs[2])
    assert seen == [] and cell.args[0].cached
    assert np.array_equal(cell.args[0].image, row.image[2])
    assert np.array_equal(cell.args[0].image, decoded(model, zs[2]))  # exactly a single decode
    assert bridge.stop()


def test_a_frame_decoded_by_a_replaced_model_is_never_kept_for_its_successor(qtbot):
    """A StyleGAN's new view (another class, truncation) replaces the model under the same token; a decode of
    the old view still in flight must not become the frame the new view shows for that latent."""
    bridge = RenderBridge()
    old, new = tiny_model(seed=0), tiny_model(seed=1)
    bridge.set_model(old, 1)
    z = np.full(old.info.latent_dim, 0.3, np.float32)
    shown = []
    bridge.rendered.connect(shown.append)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000):
        bridge.submit("preview", z)
    late = shown[-1]  # as if it arrived after the swap
    assert late.generation > 0
    bridge.set_model(new, 1)
    late.seq += 1000  # newer than anything shown, so only the frame cache can refuse it
    bridge._keep_frames(late)
    assert not bridge.holds_frame(z)
    with qtbot.waitSignal(bridge.rendered, timeout=10_000):
        bridge.submit("preview", z)
    assert np.array_equal(shown[-1].image, decoded(new, z)) and not shown[-1].cached
    assert bridge.holds_frame(z)  # the new model's own frame is kept
    assert bridge.stop()
