"""The export job: a plan, options and a target path in; a finished file (or nothing at all) out."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import BadInput
from latentlab.core.export.folder import check_folder_output
from latentlab.core.export.frames import RESAMPLE, StageTimes, iter_frames, layout_for, render_grid
from latentlab.core.export.outputs import check_file_output
from latentlab.core.export.plan import FramePlan, GridPlan
from latentlab.core.export.writers import (
    GIF_MAX_FPS,
    TimedFrames,
    write_gif,
    write_mp4,
    write_png,
    write_png_folder,
)
from latentlab.core.jobs import JobContext, ensure_context

FORMATS = ("mp4", "gif", "png", "grid")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
SUFFIXES = {"mp4": ".mp4", "gif": ".gif", "png": "", "grid": ".png"}


@dataclass
class ExportOptions:
    """How to write frames. ``size`` is each panel's longer side in pixels (None: the model's own size)."""

    format: str = "mp4"  # mp4 | gif | png (a folder of frames) | grid (one PNG)
    fps: float = 30.0
    size: int | None = 256
    labels: bool = False
    resample: str = "auto"  # auto: nearest-neighbour when enlarging, area average when shrinking
    gap: int = 8  # pixels between compared panels
    background: int = 255
    batch_size: int = 64
    crf: int = 18  # H.264 quality (lower is better; 18 is visually lossless)
    preset: str = "medium"
    loop: int = 0  # GIF repeats; 0 = forever
    grid_scale: int | None = None  # integer upscale of grid cells; None: the largest that fits ``size``
    grid_padding: int = 4

    def validate(self) -> None:
        """Refuse options that make no sense or would ask for unbounded memory (``BadInput``)."""
        from latentlab.core import limits
        from latentlab.core.limits import check_float, check_int

        if self.format not in FORMATS:
            raise BadInput(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        check_float(self.fps, "the frame rate", 1e-3, limits.MAX_FPS)
        if self.format == "gif" and self.fps > GIF_MAX_FPS:
            raise BadInput(f"GIF plays at most {GIF_MAX_FPS:g} fps reliably; got {self.fps:g}")
        if self.size is not None:
            check_int(self.size, "size", 1, limits.MAX_IMAGE_SIDE)
        if self.resample not in RESAMPLE:
            raise BadInput(f"resample must be one of {', '.join(RESAMPLE)}")
        if self.preset not in X264_PRESETS:
            raise BadInput(f"preset must be one of {', '.join(X264_PRESETS)}, got {self.preset!r}")
        check_int(self.crf, "crf (0 is lossless, 51 the smallest)", 0, 51)
        check_int(self.batch_size, "batch_size", 1, limits.MAX_BATCH)
        check_int(self.gap, "gap", 0, limits.MAX_PADDING)
        check_int(self.grid_padding, "grid padding", 0, limits.MAX_PADDING)
        if self.grid_scale is not None:
            check_int(self.grid_scale, "grid_scale", 1, limits.MAX_IMAGE_SIDE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExportResult:
    path: Path
    format: str
    frames: int
    width: int
    height: int
    fps: float
    decode_s: float
    compose_s: float
    encode_s: float
    total_s: float
    bytes: int
    meta: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # e.g. the GPU ran out of memory and the CPU took over

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.format in ("mp4", "gif", "png") else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["duration_s"] = self.duration_s
        return d


def _size_on_disk(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _guard(out: Path, fmt: str, inputs: list[str]) -> Callable[[], None]:
    """Check the target now (before anything is decoded); the returned check runs again just before the rename."""
    def check() -> None:
        if fmt == "png":
            check_folder_output(out, inputs)
        else:
            check_file_output(out, fmt, inputs)

    check()
    return check


def export_video(plan: FramePlan, out: str | os.PathLike, options: ExportOptions | None = None,
                 ctx: JobContext | None = None, inputs: Sequence[str | os.PathLike] = ()) -> ExportResult:
    """Decode the plan batch by batch and write MP4, GIF or a PNG folder; the target appears only when complete.

    ``UnsafeOutput`` (before any decoding) when ``out`` is one of the plan's ``inputs`` (or of ``inputs``),
    a file of another kind, or a folder of files latentlab did not write; ``DiskFull`` keeps the old output.
    """
    opts = options or ExportOptions()
    opts.validate()
    if opts.format == "grid":
        raise ValueError("a grid is a still image: use export_grid with a GridPlan")
    ctx = ensure_context(ctx)
    out = Path(out)
    check = _guard(out, opts.format, [*plan.inputs, *map(str, inputs)])
    t0 = time.perf_counter()
    times = StageTimes()
    layout = layout_for(plan, opts.size, opts.gap, even=opts.format == "mp4")
    frames = TimedFrames(iter_frames(plan, layout, labels=opts.labels, resample=opts.resample,
                                     background=opts.background, batch_size=opts.batch_size,
                                     ctx=ctx.sub(0.0, 0.99), times=times))
    if opts.format == "mp4":
        n = write_mp4(frames, out, opts.fps, crf=opts.crf, preset=opts.preset, before_commit=check)
    elif opts.format == "gif":
        n = write_gif(frames, out, len(plan), opts.fps, loop=opts.loop, before_commit=check)
    else:
        manifest = {"meta": plan.meta, "captions": plan.captions,
                    "titles": [t.title for t in plan.tracks]}
        n = write_png_folder(frames, out, opts.fps, n_frames=len(plan), manifest=manifest)
    total = time.perf_counter() - t0
    ctx.progress(1.0, f"wrote {out.name}")
    h, w = layout.size
    return ExportResult(out, opts.format, n, w, h, opts.fps, times.decode_s, times.compose_s,
                        max(0.0, total - frames.produce_s), total, _size_on_disk(out), dict(plan.meta),
                        list(times.notices))


def preview_frame(plan: FramePlan, options: ExportOptions | None = None, index: int = 0) -> np.ndarray:
    """Frame ``index`` exactly as ``export_video`` would write it (for an export dialog's preview)."""
    opts = options or ExportOptions()
    if not -len(plan) <= index < len(plan):
        raise IndexError(f"frame {index} out of range 0..{len(plan) - 1}")
    index %= len(plan)
    layout = layout_for(plan, opts.size, opts.gap, even=opts.format == "mp4")
    return next(iter_frames(plan.slice(index, index + 1), layout, labels=opts.labels, resample=opts.resample,
                            background=opts.background, batch_size=1))


def preview_grid(plan: GridPlan, options: ExportOptions | None = None) -> np.ndarray:
    """The grid image ``export_grid`` would write, without writing it."""
    opts = options or ExportOptions(format="grid")
    return render_grid(plan, grid_scale_for(plan, opts), opts.grid_padding, labels=opts.labels,
                       background=opts.background, batch_size=opts.batch_size)


def grid_scale_for(plan: GridPlan, options: ExportOptions) -> int:
    if options.grid_scale is not None:
        return int(options.grid_scale)
    h, w = plan.tracks[0].model.info.image_shape[1:]
    if options.size is None:
        return 1
    return max(1, options.size // max(h, w))


def export_grid(plan: GridPlan, out: str | os.PathLike, options: ExportOptions | None = None,
                ctx: JobContext | None = None, inputs: Sequence[str | os.PathLike] = ()) -> ExportResult:
    """One PNG of the plan's cells at an integer nearest-neighbour upscale, written atomically (same checks
    of the target as ``export_video``)."""
    opts = options or ExportOptions(format="grid")
    opts.validate()
    ctx = ensure_context(ctx)
    out = Path(out)
    check = _guard(out, "grid", [*plan.inputs, *map(str, inputs)])
    t0 = time.perf_counter()
    times = StageTimes()
    image = render_grid(plan, grid_scale_for(plan, opts), opts.grid_padding, labels=opts.labels,
                        background=opts.background, batch_size=opts.batch_size, ctx=ctx.sub(0.0, 0.95), times=times)
    ctx.check()
    t1 = time.perf_counter()
    write_png(image, out, before_commit=check)
    total = time.perf_counter() - t0
    ctx.progress(1.0, f"wrote {out.name}")
    return ExportResult(out, "grid", 1, int(image.shape[1]), int(image.shape[0]), opts.fps, times.decode_s,
                        times.compose_s, time.perf_counter() - t1, total, _size_on_disk(out), dict(plan.meta),
                        list(times.notices))


def export(plan: FramePlan | GridPlan, out: str | os.PathLike, options: ExportOptions | None = None,
           ctx: JobContext | None = None, inputs: Sequence[str | os.PathLike] = ()) -> ExportResult:
    """Dispatch on the plan: a GridPlan becomes one PNG, a FramePlan a video or frame folder.

    ``inputs`` adds files the export must not write over to those the plan names (``plan.inputs``).
    """
    if isinstance(plan, GridPlan):
        return export_grid(plan, out, options, ctx, inputs)
    return export_video(plan, out, options, ctx, inputs)
