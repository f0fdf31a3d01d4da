"""Export: MP4/GIF/PNG writers read back, exact nearest-neighbour upscaling, labels, cancel and failure safety."""

from __future__ import annotations

import json
import os

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from latentlab.core.export import (
    ExportOptions,
    FramePlan,
    GridPlan,
    dimension_traversal,
    direction_traversal,
    export,
    gif_durations_ms,
    keyframe_traversal,
    resample_path,
    strip_cells,
    traversal_cells,
    upscale_nearest,
)
from latentlab.core.jobs import JobCancelled, JobContext
from latentlab.core.model import ModelInfo
from latentlab.core.render import Renderer


class PatternModel(nn.Module):
    """A linear decoder to small images: distinct latents give distinct frames, decoding is instant."""

    def __init__(self, d: int = 3, side: int = 8, channels: int = 1, seed: int = 0, name: str = "pattern"):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(d, channels * side * side, generator=g) * 2, requires_grad=False)
        self.info = ModelInfo(name, d, (channels, side, side))
        self.calls = 0
        self.fail_at: int | None = None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("decoder exploded")
        c, h, w = self.info.image_shape
        return torch.sigmoid(z @ self.weight).view(-1, c, h, w)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.info.latent_dim, generator=generator)


def plan_of(model: PatternModel, frames: int = 12) -> FramePlan:
    z, caps = dimension_traversal(np.zeros(3, np.float32), [0, 1, 2], frames, -2.0, 2.0, ["a", "b", "c"])
    return FramePlan.for_models([model], z, caps)


def decoded(model: PatternModel, z: np.ndarray) -> np.ndarray:
    return Renderer(model).decode(z)[0]


def test_mp4_reads_back_with_the_frame_count_size_and_rate(tmp_path):
    out = tmp_path / "t.mp4"
    res = export(plan_of(PatternModel(), 24), out, ExportOptions(fps=12, size=64))
    assert out.is_file() and res.frames == 24 and (res.width, res.height) == (64, 64)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(video=0))
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert s.average_rate == 12
        assert float(c.duration / av.time_base) == pytest.approx(2.0, abs=1 / 12)
    assert len(frames) == 24 and (frames[0].width, frames[0].height) == (64, 64)
    # H.264 is lossy, but the picture must be the decoded image (an 8 px block upscaled to 64 px).
    want = upscale_nearest(decoded(PatternModel(), np.zeros((1, 3), np.float32)), 8)[0].astype(float)
    got = frames[0].to_ndarray(format="gray").astype(float)
    assert np.abs(got - want).mean() < 6


def test_mp4_pads_odd_sizes_to_even(tmp_path):
    out = tmp_path / "odd.mp4"
    res = export(plan_of(PatternModel(), 6), out, ExportOptions(fps=30, size=13))
    assert (res.width, res.height) == (14, 14)
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height) == (14, 14)


def test_gif_frame_count_loop_and_durations(tmp_path):
    out = tmp_path / "t.gif"
    res = export(plan_of(PatternModel(), 9), out, ExportOptions(format="gif", fps=30, size=16))
    assert res.frames == 9
    with Image.open(out) as im:
        assert im.n_frames == 9 and im.info.get("loop") == 0 and im.size == (16, 16)
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == gif_durations_ms(9, 30)
    assert sum(durations) == 300  # 9 frames at 30 fps, to GIF's 10 ms resolution
    assert set(durations) == {30, 40}


def test_gif_refuses_frame_rates_viewers_cannot_play(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        export(plan_of(PatternModel(), 4), tmp_path / "fast.gif", ExportOptions(format="gif", fps=60))
    assert not list(tmp_path.iterdir())


def test_png_folder_frames_are_exact_nearest_neighbour_upscales(tmp_path):
    m = PatternModel()
    plan = plan_of(m, 6)
    out = tmp_path / "frames"
    res = export(plan, out, ExportOptions(format="png", size=32))
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"frame_{i:05d}.png" for i in range(6)] + ["frames.json"]
    manifest = json.loads((out / "frames.json").read_text())
    assert manifest["frames"] == 6 and manifest["width"] == 32 and manifest["captions"] == plan.captions
    want = upscale_nearest(decoded(m, plan.tracks[0].latents), 4)
    for i in range(6):
        got = np.asarray(Image.open(out / f"frame_{i:05d}.png"))
        assert got.shape == (32, 32) and np.array_equal(got, want[i])
    assert res.bytes > 0


def test_grid_cells_are_exact_nearest_neighbour_upscales_with_padding(tmp_path):
    m = PatternModel(channels=3)
    cells, caps = traversal_cells(np.zeros(3, np.float32), [0, 2], 5, -2.0, 2.0)
    plan = GridPlan.for_models([m], cells, caps)
    out = tmp_path / "grid.png"
    res = export(plan, out, ExportOptions(format="grid", grid_scale=3, grid_padding=2, background=255))
    img = np.asarray(Image.open(out))
    cell = 8 * 3
    assert img.shape == (2 + 2 * cell + 2 + 2, 2 + 5 * cell + 4 * 2 + 2, 3) == (res.height, res.width, 3)
    for r in range(2):
        want = upscale_nearest(decoded(m, cells[r]), 3)
        for c in range(5):
            y, x = 2 + r * (cell + 2), 2 + c * (cell + 2)
            assert np.array_equal(img[y:y + cell, x:x + cell], want[c])
    assert (img[:2] == 255).all() and (img[:, 2 + cell:2 + cell + 2] == 255).all()  # padding


def test_size_picks_the_grid_scale_and_compare_grids_stack_models(tmp_path):
    a, b = PatternModel(seed=0), PatternModel(seed=1)
    z, caps = direction_traversal(np.zeros(3, np.float32), np.array([1, 0, 0], np.float32), 20, 2.0)
    cells, ccaps = strip_cells(z, caps, 4)
    assert cells.shape == (1, 4, 3) and len(ccaps[0]) == 4
    res = export(GridPlan.for_models([a, b], cells, ccaps), tmp_path / "g.png",
                 ExportOptions(format="grid", size=32, grid_padding=0))
    assert (res.width, res.height) == (4 * 32, 2 * 32)  # scale 32 // 8 = 4; two blocks stacked


def test_labels_burn_in_and_change_only_the_caption_corner(tmp_path):
    m = PatternModel()
    plan = plan_of(m, 3)
    export(plan, tmp_path / "plain", ExportOptions(format="png", size=128))
    export(plan, tmp_path / "labelled", ExportOptions(format="png", size=128, labels=True))
    plain = np.asarray(Image.open(tmp_path / "plain" / "frame_00000.png")).astype(int)
    lab = np.asarray(Image.open(tmp_path / "labelled" / "frame_00000.png")).astype(int)
    diff = np.argwhere(plain != lab)
    assert len(diff) > 50
    assert diff[:, 0].min() > 128 // 2 and diff[:, 1].max() < 128 * 3 // 4  # the bottom-left caption box


def test_side_by_side_panels_each_decode_with_their_own_model(tmp_path):
    a, b = PatternModel(seed=0), PatternModel(seed=1, channels=3)
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    plan = FramePlan.for_models([a, b], z)
    out = tmp_path / "cmp"
    res = export(plan, out, ExportOptions(format="png", size=16, gap=5, background=0))
    assert (res.width, res.height) == (16 + 5 + 16, 16)
    f = np.asarray(Image.open(out / "frame_00002.png"))
    assert f.shape == (16, 37, 3)  # one RGB model makes the frame RGB
    left = upscale_nearest(decoded(a, z[2:3]), 2)[0]
    assert np.array_equal(f[:, :16, 0], left) and np.array_equal(f[:, :16, 2], left)
    assert np.array_equal(f[:, 21:], upscale_nearest(decoded(b, z[2:3]), 2)[0])
    assert (f[:, 16:21] == 0).all()


def test_models_with_different_latent_sizes_need_an_alignment():
    a, b = PatternModel(3), PatternModel(5)
    with pytest.raises(ValueError, match="align"):
        FramePlan.for_models([a, b], np.zeros((4, 3), np.float32))


def _stop_after(fraction: float) -> tuple[JobContext, list[float]]:
    seen: list[float] = []
    return JobContext(progress=lambda f, m="": seen.append(f), should_stop=lambda: bool(seen) and seen[-1] >= fraction), seen


@pytest.mark.parametrize("fmt,name", [("mp4", "v.mp4"), ("gif", "v.gif"), ("png", "frames"), ("grid", "g.png")])
def test_cancel_mid_export_leaves_nothing(tmp_path, fmt, name):
    m = PatternModel()
    if fmt == "grid":
        cells, _ = traversal_cells(np.zeros(3, np.float32), [0, 1, 2], 8, -1, 1)
        plan = GridPlan.for_models([m], cells)
    else:
        plan = plan_of(m, 40)
    ctx, seen = _stop_after(0.3)
    with pytest.raises(JobCancelled):
        export(plan, tmp_path / name, ExportOptions(format=fmt, fps=20, size=16, batch_size=4), ctx)
    assert 0.3 <= seen[-1] < 1.0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt,name", [("mp4", "v.mp4"), ("gif", "v.gif"), ("png", "frames")])
def test_a_failing_frame_source_leaves_nothing_and_keeps_the_old_file(tmp_path, fmt, name):
    m = PatternModel()
    target = tmp_path / name
    export(plan_of(m, 8), target, ExportOptions(format=fmt, fps=20, size=16))
    before = sorted(os.listdir(tmp_path))
    snapshot = target.read_bytes() if target.is_file() else sorted(os.listdir(target))
    m.fail_at = m.calls + 3
    with pytest.raises(RuntimeError, match="exploded"):
        export(plan_of(m, 40), target, ExportOptions(format=fmt, fps=20, size=16, batch_size=4))
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file or folder left behind
    assert (target.read_bytes() if target.is_file() else sorted(os.listdir(target))) == snapshot


def test_png_export_never_replaces_a_folder_of_other_files(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ValueError, match="other files"):
        export(plan_of(PatternModel(), 4), mine, ExportOptions(format="png"))
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_traversal_plan_visits_both_ends_and_loops_back():
    z = np.array([0.5, 0.0], np.float32)
    lat, caps = dimension_traversal(z, [0, 1], 40, -2.0, 2.0, ["x", "y"])
    assert lat.shape == (40, 2) and len(caps) == 40
    first = lat[:20, 0]
    assert first[0] == 0.5 and first.max() == pytest.approx(2.0, abs=0.2) and first.min() == pytest.approx(-2.0, abs=0.2)
    assert (lat[:20, 1] == 0).all() and (lat[20:, 0] == 0.5).all()
    assert caps[0] == "x = +0.50" and caps[20].startswith("y = ")
    with pytest.raises(ValueError):
        dimension_traversal(z, [0, 1], 1, -1, 1)


def test_path_resampling_keeps_the_ends_and_keyframe_captions_name_the_keys():
    path = np.cumsum(np.ones((5, 2), np.float32), 0)
    lat, caps = resample_path(path, 9, "flow")
    assert np.allclose(lat[0], path[0]) and np.allclose(lat[-1], path[-1]) and np.allclose(lat[1], (path[0] + path[1]) / 2)
    keys = [np.zeros(2), np.ones(2), np.full(2, 2.0)]
    kz, kc = keyframe_traversal(keys, 5, "lerp", "linear", names=["A", "B", "C"])
    assert np.allclose(kz[2], 1.0) and kc[0] == "A -> B  0%" and kc[-1] == "B -> C  100%"


def test_direction_objects_are_swept_by_their_own_rule():
    class Curved:
        name = "bend"

        def sweep(self, z, alphas):
            return np.stack([z + np.array([a, a * a, 0], np.float32) for a in alphas])

    z, caps = direction_traversal(np.zeros(3, np.float32), Curved(), 8, 2.0)
    assert np.allclose(z[2], [2, 4, 0]) and caps[2] == "bend a = +2.00"


def test_preview_frame_is_the_frame_the_export_writes(tmp_path):
    from latentlab.core.export import preview_frame

    plan = plan_of(PatternModel(), 10)
    opts = ExportOptions(format="png", size=24, labels=True)
    export(plan, tmp_path / "f", opts)
    assert np.array_equal(preview_frame(plan, opts, 7), np.asarray(Image.open(tmp_path / "f" / "frame_00007.png")))


def test_a_folder_is_not_a_video_file(tmp_path):
    (tmp_path / "v.mp4").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        export(plan_of(PatternModel(), 4), tmp_path / "v.mp4", ExportOptions())
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
