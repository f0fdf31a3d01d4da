"""The renderer returns errors as data; the worker coalesces to the newest request per view."""

from __future__ import annotations

import threading

import numpy as np
import torch

from latentlab.core.render import Renderer, RenderRequest, to_uint8
from latentlab.core.render_worker import RenderWorker
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


class RecordingModel(torch.nn.Module):
    """Records the first value of every latent batch it decodes."""

    traceable = False  # its decode records calls in Python: a trace would drop that

    def __init__(self, d=2):
        super().__init__()
        from latentlab.core.model import ModelInfo

        self.info = ModelInfo("recording", d, (1, 4, 4))
        self.seen: list[float] = []
        self.w = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        self.seen.append(float(z[0, 0]))
        return torch.sigmoid(z[:, :1, None, None].expand(-1, 1, 4, 4))

    def sample_prior(self, n, generator=None):
        return torch.zeros(n, self.info.latent_dim)


def hold(worker: RenderWorker) -> threading.Event:
    """Keep the render thread busy until the returned event is set, so that requests pile up meanwhile."""
    gate = threading.Event()
    worker.call(gate.wait)
    return gate


def test_worker_coalesces_to_the_latest_request_per_view():
    model = RecordingModel()
    results, done = [], threading.Event()

    def on_result(res):
        results.append(res)
        if res.seq == 99:
            done.set()

    worker = RenderWorker(on_result)
    worker.set_model(model, token=1)
    gate = hold(worker)
    for i in range(100):
        worker.submit(RenderRequest("preview", np.array([i, 0], np.float32), seq=i, model_token=1))
    gate.set()
    assert done.wait(10)
    worker.stop()
    assert results[-1].seq == 99 and model.seen[-1] == 99
    assert worker.decodes < 20  # far fewer decodes than requests


def test_priority_lets_the_preview_cut_in_and_stale_models_are_dropped():
    model = RecordingModel()
    order, done = [], threading.Event()
    worker = RenderWorker(lambda r: (order.append(r.view), len(order) == 4 and done.set()))
    worker.set_model(model, token=1)
    gate = hold(worker)
    worker.submit(RenderRequest("old", np.zeros(2, np.float32), model_token=0))  # from a previous model
    for row in range(3):
        worker.submit(RenderRequest(f"grid:{row}", np.zeros(2, np.float32), model_token=1, priority=10))
    worker.submit(RenderRequest("preview", np.zeros(2, np.float32), model_token=1, priority=0))
    gate.set()
    assert done.wait(10)
    worker.stop()
    assert "old" not in order
    assert order[0] == "preview"


def test_stop_ends_the_thread():
    worker = RenderWorker(lambda r: None)
    assert worker.alive
    assert worker.stop(timeout=5)
    assert not worker.alive


class ChunkWatcher(RecordingModel):
    """Calls ``during(n)`` in the render thread while it decodes the n-th call, as if a request arrived then."""

    def __init__(self, during, d=2):
        super().__init__(d=d)
        self.during = during
        self.calls = 0
        self.batches: list[int] = []

    def decode(self, z):
        self.calls += 1
        self.batches.append(len(z))
        self.during(self.calls)
        return super().decode(z)


def rows(n: int, d: int = 2) -> np.ndarray:
    return np.stack([np.full(d, (i - n / 2) / n, np.float32) for i in range(n)])


def test_a_background_batch_is_decoded_in_chunks_and_comes_back_whole_and_in_order():
    model = ChunkWatcher(lambda n: None)
    got, done = [], threading.Event()
    worker = RenderWorker(lambda r: (got.append(r), done.set()))
    worker.chunks.size = 3
    worker.set_model(model, token=1)
    z = rows(10)
    worker.submit(RenderRequest("grid:0", z, model_token=1, priority=10, tag=0))
    assert done.wait(10)
    worker.stop()
    (res,) = got
    assert res.ok and res.tag == 0 and res.image.shape == (10, 4, 4)
    assert np.array_equal(res.z, z)
    assert max(model.batches) < 10  # it was split
    whole = Renderer(RecordingModel()).render(RenderRequest("x", z)).image
    assert np.array_equal(res.image, whole)


def test_the_preview_is_served_between_two_chunks_of_a_grid_row():
    worker = None
    got, done = [], threading.Event()

    def preview_arrives(call):
        if call == 1:  # the grid row has started: now the user moves a slider
            worker.submit(RenderRequest("preview", np.array([0.7, 0.0], np.float32), model_token=1))

    model = ChunkWatcher(preview_arrives)
    worker = RenderWorker(lambda r: (got.append(r), len(got) == 2 and done.set()))
    worker.chunks.size = 2
    worker.set_model(model, token=1)
    worker.submit(RenderRequest("grid:0", rows(9), model_token=1, priority=10))
    assert done.wait(10)
    worker.stop()
    assert [r.view for r in got] == ["preview", "grid:0"]
    assert worker.preempted == 1
    assert model.batches[1] == 1  # right after the first chunk of the row came the preview's batch of one
    assert got[1].image.shape[0] == 9


def test_a_row_replaced_while_it_renders_is_dropped_for_its_replacement():
    worker = None
    got, done = [], threading.Event()
    newer = rows(6) + 0.25

    def replaced(call):
        if call == 1:
            worker.submit(RenderRequest("grid:0", newer, seq=2, model_token=1, priority=10))

    worker = RenderWorker(lambda r: (got.append(r), done.set()))
    worker.chunks.size = 2
    worker.set_model(ChunkWatcher(replaced), token=1)
    worker.submit(RenderRequest("grid:0", rows(6), seq=1, model_token=1, priority=10))
    assert done.wait(10)
    worker.stop()  # the old row was given up between two chunks: it can no longer arrive after the new one
    assert [r.seq for r in got] == [2]
    assert np.array_equal(got[0].z, newer)


def test_chunk_size_follows_the_time_per_latent():
    from latentlab.core.render_worker import ChunkSizer

    slow = ChunkSizer(budget_ms=2.5)
    slow.record(2, 2 * 0.9)  # a CPU: ~0.9 ms per latent in a batch
    assert slow.size == 2
    slow.record(2, 2 * 5.0)  # a much slower model: one latent at a time
    for _ in range(10):
        slow.record(slow.size, slow.size * 5.0)
    assert slow.size == 1
    fast = ChunkSizer(budget_ms=2.5)
    for _ in range(10):
        fast.record(fast.size, 0.3)  # a GPU: a batch costs what one image costs
    assert fast.size > 9  # whole grid rows at once


def test_a_notice_from_a_row_given_up_midway_reaches_the_next_result():
    # A CPU fallback during a chunk of a row that is then replaced still has to be told to the user.
    worker = None
    got, done = [], threading.Event()

    def replaced(call):
        if call == 1:
            worker.submit(RenderRequest("grid:0", rows(6) + 0.25, seq=2, model_token=1, priority=10))

    worker = RenderWorker(lambda r: (got.append(r), done.set()))
    worker.chunks.size = 2
    worker.set_model(ChunkWatcher(replaced), token=1)
    renderer = worker.renderer_of(1)
    plain = renderer.render

    def first_chunk_falls_back(req, **options):
        res = plain(req, **options)
        if not got and res.ok and res.seq == 1:
            res.notice = "GPU out of memory: the model moved to the CPU"
        return res

    renderer.render = first_chunk_falls_back
    worker.submit(RenderRequest("grid:0", rows(6), seq=1, model_token=1, priority=10))
    assert done.wait(10)
    worker.stop()
    assert [r.seq for r in got] == [2]
    assert got[0].notice == "GPU out of memory: the model moved to the CPU"


def test_a_row_decoded_latent_by_latent_says_so_and_a_batched_one_does_not():
    # Only frames decoded in a batch of one may later stand in for a single decode (frame cache).
    for size, expected in ((1, True), (3, False)):
        got, done = [], threading.Event()
        worker = RenderWorker(lambda r, got=got, done=done: (got.append(r), done.set()))
        worker.chunks.size = size
        worker.chunks.record = lambda n, ms: None  # keep the chunk size fixed
        worker.set_model(RecordingModel(), token=1)
        worker.submit(RenderRequest("grid:0", rows(6), model_token=1, priority=10))
        assert done.wait(10)
        worker.stop()
        assert got[0].ok and got[0].batch1 is expected and got[0].device == "cpu"
    single = Renderer(RecordingModel()).render(RenderRequest("preview", rows(1)[0]))
    assert single.batch1 and single.device == "cpu"


def test_one_worker_serves_several_models_and_drops_work_of_a_removed_one():
    a, b = tiny_model(latent_dim=2, seed=1), tiny_model(latent_dim=3, seed=2)
    results, done = [], threading.Event()

    def on_result(res):
        results.append(res)
        if res.view == "b":
            done.set()

    worker = RenderWorker(on_result)
    gate = threading.Event()
    worker.call(gate.wait)  # hold the thread until everything is queued
    worker.add_model(a, 1)
    worker.add_model(b, 2)
    worker.add_model(RecordingModel(), 3)
    worker.submit(RenderRequest("a", np.zeros(2, np.float32), model_token=1))
    worker.submit(RenderRequest("gone", np.zeros(2, np.float32), model_token=3))
    worker.submit(RenderRequest("b", np.zeros(3, np.float32), model_token=2, priority=1))
    worker.remove_model(3)
    gate.set()
    assert done.wait(30)
    worker.stop()
    assert [r.view for r in results] == ["a", "b"]
    with torch.inference_mode():
        assert np.array_equal(results[1].image, to_uint8(b.decode(torch.zeros(1, 3)))[0])


def test_a_call_runs_on_the_render_thread_between_decodes():
    where, done = [], threading.Event()
    worker = RenderWorker(lambda res: None)
    worker.call(lambda: (where.append(threading.current_thread().name), done.set()))
    assert done.wait(10)
    worker.stop()
    assert where and where[0].startswith("latentlab-render")


def test_a_slow_progressive_model_shows_a_draft_then_its_full_image_once_input_rests():
    from tests.format_fixtures import tiny_stylegan2

    g = tiny_stylegan2(channels=(8, 8, 4, 4)).eval()
    results, full = [], threading.Event()

    def on_result(res):
        results.append(res)
        if res.ok and not res.draft and res.seq == 2:
            full.set()

    worker = RenderWorker(on_result)
    worker.rest_s = 0.05
    worker.add_model(g, 1)
    # Pretend this machine is slow: the full decode takes a second, the 8 px draft 20 ms.
    worker.plan.timings((1, "cpu")).record({4: 10.0, 8: 20.0, 16: 400.0, 32: 1000.0}, 1000.0)
    z1 = np.zeros(g.info.latent_dim, np.float32)
    z2 = np.full(g.info.latent_dim, 0.5, np.float32)
    worker.submit(RenderRequest("preview", z1, seq=1, model_token=1, progressive=True))
    worker.submit(RenderRequest("preview", z2, seq=2, model_token=1, progressive=True))
    assert full.wait(30)
    worker.stop()
    mine = [r for r in results if r.seq == 2]
    assert mine[0].draft and mine[0].level == 8 and mine[0].image.shape == (32, 32, 3)
    assert not mine[-1].draft
    with torch.inference_mode():
        assert np.array_equal(mine[-1].image, to_uint8(g.decode(torch.from_numpy(z2)[None]))[0])
    assert all(r.rank < mine[-1].rank for r in results if r is not mine[-1])


def test_a_slow_background_row_gives_way_mid_decode_to_the_preview_and_is_then_finished_exactly():
    # One image of a 1024-px generator is seconds on a CPU: a grid row waiting for its chunk to end kept the
    # preview's next draft waiting as long. A progressive model's chunk is given up between two layers.
    from tests.format_fixtures import tiny_stylegan2

    g = tiny_stylegan2(channels=(8, 8, 4, 4)).eval()
    plain = g.decode_levels
    stopped = []
    worker = None
    preview_z = np.full(g.info.latent_dim, 0.3, np.float32)

    def decode_levels(z, on_level=None, should_stop=None, stop_at=None):
        def asked():
            if len(z) > 1 and not stopped:  # the row's chunk has started: the user moves a slider now
                stopped.append(True)
                worker.submit(RenderRequest("preview", preview_z, seq=7, model_token=1))
            return should_stop() if should_stop is not None else False
        return plain(z, on_level, asked, stop_at)

    g.decode_levels = decode_levels
    results, done = [], threading.Event()
    worker = RenderWorker(lambda r: (results.append(r), r.view.startswith("grid") and done.set()))
    worker.chunks.size = 6
    worker.chunks.record = lambda n, ms: None  # the whole row is one chunk: only a mid-decode yield helps
    worker.add_model(g, 1)
    row = np.random.default_rng(0).normal(size=(6, g.info.latent_dim)).astype(np.float32)
    worker.submit(RenderRequest("grid:0", row, seq=1, model_token=1, priority=10))
    assert done.wait(30)
    worker.stop()
    assert stopped and [r.view for r in results] == ["preview", "grid:0"]
    assert worker.preempted >= 1
    with torch.inference_mode():
        assert np.array_equal(results[0].image, to_uint8(g.decode(torch.from_numpy(preview_z)[None]))[0])
        assert np.array_equal(results[1].image, to_uint8(g.decode(torch.from_numpy(row))))
