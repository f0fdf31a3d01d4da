"""The renderer returns errors as data; the worker coalesces to the newest request per view."""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from latentlab.core.render import Renderer, RenderRequest, RenderWorker, to_uint8
from tests.helpers import tiny_model


def test_render_matches_the_model_decode():
    model = tiny_model(latent_dim=4)
    z = np.array([0.5, -1.0, 2.0, 0.0], dtype=np.float32)
    res = Renderer(model).render(RenderRequest("v", z, seq=3))
    assert res.ok and res.seq == 3
    with torch.inference_mode():
        expected = to_uint8(model.decode(torch.from_numpy(z)[None]))[0]
    assert res.image.dtype == np.uint8 and res.image.shape == (64, 64)
    assert np.array_equal(res.image, expected)


def test_batch_render_and_colour_images():
    model = tiny_model(latent_dim=3, channels=3)
    res = Renderer(model).render(RenderRequest("grid", np.zeros((5, 3), np.float32)))
    assert res.image.shape == (5, 64, 64, 3)


def test_bad_latents_come_back_as_errors_not_exceptions():
    r = Renderer(tiny_model(latent_dim=4))
    assert "4 dimensions" in r.render(RenderRequest("v", np.zeros(3, np.float32))).error
    assert "NaN" in r.render(RenderRequest("v", np.array([0, np.nan, 0, 0], np.float32))).error


def test_a_failing_model_is_reported_and_the_renderer_survives():
    model = tiny_model(latent_dim=2)
    r = Renderer(model)

    def broken(z):
        raise RuntimeError("decoder exploded")

    model.decode = broken
    res = r.render(RenderRequest("v", np.zeros(2, np.float32)))
    assert res.image is None and "decoder exploded" in res.error


class SlowModel(torch.nn.Module):
    """Decodes slowly so requests pile up while it works."""

    traceable = False  # its decode records calls and sleeps in Python: a trace would drop both

    def __init__(self, d=2, delay=0.02):
        super().__init__()
        from latentlab.core.model import ModelInfo

        self.info = ModelInfo("slow", d, (1, 4, 4))
        self.delay = delay
        self.seen: list[float] = []
        self.w = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        self.seen.append(float(z[0, 0]))
        time.sleep(self.delay)
        return torch.sigmoid(z[:, :1, None, None].expand(-1, 1, 4, 4))

    def sample_prior(self, n, generator=None):
        return torch.zeros(n, self.info.latent_dim)


def test_worker_coalesces_to_the_latest_request_per_view():
    model = SlowModel()
    results, done = [], threading.Event()

    def on_result(res):
        results.append(res)
        if res.seq == 99:
            done.set()

    worker = RenderWorker(on_result)
    worker.set_model(model, token=1)
    for i in range(100):
        worker.submit(RenderRequest("preview", np.array([i, 0], np.float32), seq=i, model_token=1))
    assert done.wait(10)
    worker.stop()
    assert results[-1].seq == 99 and model.seen[-1] == 99
    assert worker.decodes < 20  # far fewer decodes than requests


def test_priority_lets_the_preview_cut_in_and_stale_models_are_dropped():
    model = SlowModel(delay=0.01)
    order, done = [], threading.Event()
    worker = RenderWorker(lambda r: (order.append(r.view), len(order) == 4 and done.set()))
    worker.set_model(model, token=1)
    worker.submit(RenderRequest("old", np.zeros(2, np.float32), model_token=0))  # from a previous model
    for row in range(3):
        worker.submit(RenderRequest(f"grid:{row}", np.zeros(2, np.float32), model_token=1, priority=10))
    worker.submit(RenderRequest("preview", np.zeros(2, np.float32), model_token=1, priority=0))
    assert done.wait(10)
    worker.stop()
    assert "old" not in order
    assert order.index("preview") <= 1


def test_stop_ends_the_thread():
    worker = RenderWorker(lambda r: None)
    assert worker.alive
    assert worker.stop(timeout=5)
    assert not worker.alive
