"""The traced decode: used only where it reproduces the eager decode pixel for pixel, eager otherwise."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from latentlab.core.fast_decode import DISABLE_ENV, TracedDecoder
from latentlab.core.model import ModelInfo
from latentlab.core.render import Renderer, RenderRequest, to_uint8
from latentlab.core.render_worker import RenderWorker
from tests.helpers import tiny_model


def eager(model, z):
    with torch.inference_mode():
        return to_uint8(model.decode(torch.as_tensor(z)))


@pytest.mark.parametrize("arch,channels", [("beta_vae", 1), ("qlae", 1), ("beta_vae", 3)])
def test_the_trace_reproduces_the_eager_decode_exactly(arch, channels):
    model = tiny_model(arch, latent_dim=4, channels=channels)
    tracer = TracedDecoder()
    assert tracer.prepare(model), tracer.reason
    assert tracer.active and tracer.batched and tracer.usable_for(model, 1) and tracer.usable_for(model, 5)
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(3)) * 2
    assert np.array_equal(tracer(z), eager(model, z))


class _Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.info = ModelInfo("m", 2, (1, 4, 4))
        self.w = torch.nn.Parameter(torch.ones(2, 16))

    def sample_prior(self, n, generator=None):
        return torch.randn(n, 2, generator=generator)


class NoisyDecoder(_Base):
    def decode(self, z):
        return torch.sigmoid(z @ self.w + torch.randn(z.shape[0], 16)).view(-1, 1, 4, 4)


class BranchingDecoder(_Base):
    def decode(self, z):
        if z.sum() > 100:  # Python control flow on a value: a trace would freeze one branch
            return torch.zeros(z.shape[0], 1, 4, 4)
        return torch.sigmoid(z @ self.w).view(-1, 1, 4, 4)


class SideEffectDecoder(_Base):
    traceable = False

    def decode(self, z):
        return torch.sigmoid(z @ self.w).view(-1, 1, 4, 4)


@pytest.mark.parametrize("model,why", [(NoisyDecoder(), "differs"), (BranchingDecoder(), "branches"),
                                       (SideEffectDecoder(), "traceable = False")])
def test_decoders_a_trace_would_change_stay_eager(model, why):
    tracer = TracedDecoder()
    assert not tracer.prepare(model)
    assert why in tracer.reason and not tracer.usable_for(model, 1)
    r = Renderer(model, traced=True)
    r.prepare_trace()
    z = np.array([300.0, 0.0], np.float32)
    res = r.render(RenderRequest("v", z))
    assert res.ok and r.tracer is not None and not r.tracer.active
    if isinstance(model, BranchingDecoder):
        assert (res.image == 0).all()  # the eager decode took the branch the trace would have missed


def test_the_environment_switch_turns_tracing_off(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    tracer = TracedDecoder()
    assert not tracer.prepare(tiny_model()) and DISABLE_ENV in tracer.reason


def test_a_trace_belongs_to_one_model_object():
    a, b = tiny_model(seed=0), tiny_model(seed=1)
    r = Renderer(a, traced=True)
    r.prepare_trace()
    assert r.tracer.usable_for(a, 1) and not r.tracer.usable_for(b, 1)
    r.model = b  # as after an out-of-memory move to the CPU: the old trace holds the old weights
    z = np.array([0.3, -1.0, 0.5, 2.0], np.float32)
    assert np.array_equal(r.render(RenderRequest("v", z)).image, eager(b, z[None])[0])
    r.prepare_trace()
    assert r.tracer.usable_for(b, 1)
    assert np.array_equal(r.render(RenderRequest("v", z)).image, eager(b, z[None])[0])


def test_the_render_worker_traces_after_its_first_frame_and_keeps_its_own_thread_count():
    model = tiny_model()
    before = torch.get_num_threads()
    results, first, done = [], threading.Event(), threading.Event()
    worker = RenderWorker(lambda r: (results.append(r), first.set(), len(results) == 2 and done.set()), traced=True,
                          threads=1)
    try:
        worker.set_model(model, 1)
        z1, z2 = np.zeros(4, np.float32), np.full(4, 0.5, np.float32)
        worker.submit(RenderRequest("v", z1, seq=1, model_token=1))
        assert first.wait(30)
        # The trace is made on the render thread once the first frame is out; a call queued now runs after it.
        traced = threading.Event()
        worker.call(traced.set)
        assert traced.wait(30)
        assert worker.renderer_of(1).tracer.active, worker.renderer_of(1).tracer.reason
        worker.submit(RenderRequest("v", z2, seq=2, model_token=1))
        assert done.wait(30)
        assert np.array_equal(results[1].image, eager(model, z2[None])[0])
        assert worker.threads == 1
        # The render thread's count is its own: this thread and threads started later keep the default.
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert torch.get_num_threads() == before and seen == [before]
    finally:
        worker.stop()
