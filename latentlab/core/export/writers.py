"""Frame writers: MP4 (H.264 via PyAV), GIF (Pillow), PNG frame folders and single PNGs.

Every writer consumes an iterator of uint8 frames (H, W) or (H, W, 3) and writes to a temporary file or folder
beside the target, renamed onto it only once the last frame is in. An exception from the frame source
(including ``JobCancelled``) or a full disk (``DiskFull``) therefore leaves no partial file behind and the
previous output as it was. ``before_commit`` runs just before the rename (a last safety check of the target).
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from latentlab.core.export.folder import MANIFEST, FrameFolder
from latentlab.core.paths import AtomicPath, disk_full

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "TimedFrames", "fps_fraction", "gif_durations_ms", "write_gif", "write_mp4", "write_png",
           "write_png_folder"]
GIF_MAX_FPS = 50.0


class TimedFrames:
    """Wraps a frame iterator and counts the time spent producing frames (so encoding time can be told apart)."""

    def __init__(self, frames: Iterable[np.ndarray]):
        self._it = iter(frames)
        self.produce_s = 0.0
        self.count = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            frame = next(self._it)
        finally:
            self.produce_s += time.perf_counter() - t0
        self.count += 1
        return frame


def _first(frames: Iterable[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("no frames to write") from None
    if first.dtype != np.uint8 or first.ndim not in (2, 3) or (first.ndim == 3 and first.shape[2] != 3):
        raise ValueError(f"frames must be uint8 (H, W) or (H, W, 3), got {first.dtype} {first.shape}")
    return first, it


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as an exact fraction (29.97 -> 30000/1001) for the container's time base."""
    if not fps > 0:
        raise ValueError(f"the frame rate must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    pad = [(0, h % 2), (0, w % 2)] + ([(0, 0)] if frame.ndim == 3 else [])
    return np.pad(frame, pad, mode="edge")


def write_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0, *, crf: int = 18,
              preset: str = "medium", codec: str = "libx264", before_commit: Callable[[], None] | None = None) -> int:
    """H.264 in yuv420p (plays everywhere); odd sides are padded by one pixel. Returns the frame count."""
    import av

    rate = fps_fraction(fps)
    first, rest = _first(frames)
    first = _even(first)
    h, w = first.shape[:2]
    fmt = "gray" if first.ndim == 2 else "rgb24"
    n = 0
    with AtomicPath(path, before_commit) as tmp:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream(codec, rate=rate)
            assert isinstance(stream, av.VideoStream)  # codec names a video encoder (libx264 and kin)
            stream.width, stream.height = w, h
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(int(crf)), "preset": preset}
            for frame in _chain(first, rest):
                frame = _even(frame)
                if frame.shape[:2] != (h, w):
                    raise ValueError(f"frame {n} is {frame.shape[1]}x{frame.shape[0]}, the video {w}x{h}")
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
                vf.pts = n
                vf.time_base = 1 / rate
                for packet in stream.encode(vf):
                    container.mux(packet)
                n += 1
            for packet in stream.encode():
                container.mux(packet)
    return n


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def gif_durations_ms(n: int, fps: float) -> list[int]:
    """Per-frame delays in whole centiseconds (GIF's unit) whose running sum tracks n / fps exactly."""
    ends = np.round(np.arange(1, n + 1) * 100.0 / fps).astype(int)
    cs = np.diff(np.concatenate([[0], ends]))
    return [int(c) * 10 for c in np.maximum(cs, 1)]


def write_gif(frames: Iterable[np.ndarray], path: str | os.PathLike, n_frames: int, fps: float = 30.0, *,
              loop: int = 0, before_commit: Callable[[], None] | None = None) -> int:
    """An animated GIF (``loop`` 0 = forever). Pillow merges identical consecutive frames, summing their delays."""
    if fps > GIF_MAX_FPS:
        raise ValueError(f"GIF cannot show {fps:g} fps: most viewers slow delays under 20 ms down to 100 ms; "
                         f"use at most {GIF_MAX_FPS:g} fps or MP4")
    if n_frames < 1:
        raise ValueError("no frames to write")
    durations = gif_durations_ms(n_frames, fps)
    first, rest = _first(frames)
    count = [1]

    def images() -> Iterator[Image.Image]:
        for f in rest:
            count[0] += 1
            if count[0] > n_frames:
                raise ValueError(f"the frame source gave more than the {n_frames} frames announced")
            yield Image.fromarray(f)

    with AtomicPath(path, before_commit) as tmp:
        Image.fromarray(first).save(tmp, format="GIF", save_all=True, append_images=images(), duration=durations,
                                    loop=int(loop), optimize=False)
        if count[0] != n_frames:  # inside the block: a short source must not replace the target
            raise ValueError(f"the frame source gave {count[0]} frames, {n_frames} were announced")
    return count[0]


def write_png(image: np.ndarray, path: str | os.PathLike, compress_level: int = 6,
              before_commit: Callable[[], None] | None = None) -> None:
    """One PNG, atomically."""
    with AtomicPath(path, before_commit) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG", compress_level=compress_level)


def write_png_folder(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0, *,
                     n_frames: int | None = None, manifest: dict[str, Any] | None = None,
                     compress_level: int = 1) -> int:
    """frame_00000.png, ... plus frames.json (fps, size, count, what was exported, each frame's SHA-256).

    Files in the folder that latentlab did not write are never removed or replaced (see ``export.folder``).
    """
    first, rest = _first(frames)
    digits = max(5, len(str(max(0, (n_frames or 1) - 1))))
    folder = FrameFolder(path)
    n = 0
    try:
        for frame in _chain(first, rest):
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="PNG", compress_level=compress_level)
            folder.add(f"frame_{n:0{digits}d}.png", buf.getvalue())
            n += 1
    except BaseException as exc:
        folder.discard()
        full = disk_full(exc, Path(path))
        if full is not None and full is not exc:
            raise full from exc
        raise
    info = {"frames": n, "fps": fps, "width": int(first.shape[1]), "height": int(first.shape[0]),
            "pattern": f"frame_%0{digits}d.png", **(manifest or {})}
    folder.commit(json.loads(json.dumps(info, default=_jsonable)))
    return n


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
