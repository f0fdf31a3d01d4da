"""One render service for every view: requests routed to the thread of their model's device; moves on it."""

from __future__ import annotations

import threading

import numpy as np
import torch

from latentlab.core.render import RenderRequest, to_uint8
from latentlab.core.render_service import RenderService
from tests.helpers import tiny_model


def test_views_of_two_models_share_one_thread_and_get_their_own_frames():
    a, b = tiny_model(latent_dim=2, seed=1), tiny_model(latent_dim=3, seed=2)
    got, done = {}, threading.Event()

    def on_result(res):
        got[res.view] = (res, threading.current_thread().name)
        if len(got) == 2:
            done.set()

    service = RenderService(on_result, traced=False, threads=1)
    service.add_model(a, 1)
    service.add_model(b, 2)
    service.submit(RenderRequest("preview", np.zeros(2, np.float32), model_token=1))
    service.submit(RenderRequest("compare:1", np.zeros(3, np.float32), model_token=2))
    assert done.wait(30)
    assert list(service.workers) == ["cpu"]
    assert got["preview"][1] == got["compare:1"][1] == "latentlab-render"
    with torch.inference_mode():
        assert np.array_equal(got["compare:1"][0].image, to_uint8(b.decode(torch.zeros(1, 3)))[0])
    assert service.stop()


def test_a_move_runs_on_the_render_thread_and_an_unknown_model_is_reported():
    service = RenderService(lambda res: None, traced=False, threads=1)
    model = tiny_model(latent_dim=2)
    service.add_model(model, 7)
    out, done = [], threading.Event()
    service.move(7, "cpu", lambda m, err: (out.append((m, err, threading.current_thread().name)), done.set()))
    assert done.wait(30)
    assert out[0][0] is model and out[0][1] is None and out[0][2] == "latentlab-render"
    errors = []
    service.move(99, "cpu", lambda m, err: errors.append(err))
    assert errors == ["that model is not open"]
    service.remove_model(7)
    assert service.device_of(7) is None
    assert service.stop()
