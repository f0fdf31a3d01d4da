"""Decode a plan batch by batch into uint8 frames: resize, panels side by side, burned-in labels.

Frames come out one at a time from a generator; at most one batch of images exists at once, so a
600-frame video never sits in memory (let alone as floats). Timings of the decode and compose stages are
accumulated in a ``StageTimes`` so the caller can report them apart from encoding.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from latentlab.core.export.plan import FramePlan, GridPlan
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.render import Renderer

RESAMPLE = ("auto", "nearest", "smooth")


EXPORT_OOM_NOTICE = "GPU out of memory: the export moved the model to the CPU and went on there"


@dataclass
class StageTimes:
    decode_s: float = 0.0
    compose_s: float = 0.0
    notices: list[str] = field(default_factory=list)  # what the user should hear (a CPU fallback)


# --- resizing ---------------------------------------------------------------------------------------------------

def panel_size(image_hw: tuple[int, int], size: int | None) -> tuple[int, int]:
    """Output (h, w) of a panel whose longer side becomes ``size`` (aspect kept); native size when None."""
    h, w = image_hw
    if size is None:
        return h, w
    if size < 1:
        raise ValueError(f"output size must be positive, got {size}")
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def upscale_nearest(images: np.ndarray, factor: int) -> np.ndarray:
    """(B, H, W[, C]) -> (B, H*f, W*f[, C]): every pixel becomes an f x f block (exact, no blending)."""
    if factor == 1:
        return images
    b, h, w = images.shape[:3]
    tail = images.shape[3:]
    x = images.reshape(b, h, 1, w, 1, *tail)
    x = np.broadcast_to(x, (b, h, factor, w, factor, *tail))
    return x.reshape(b, h * factor, w * factor, *tail)


def resize_batch(images: np.ndarray, hw: tuple[int, int], resample: str = "auto") -> np.ndarray:
    """Resize uint8 frames; ``auto`` keeps pixels sharp when enlarging and averages when shrinking."""
    if resample not in RESAMPLE:
        raise ValueError(f"resample must be one of {RESAMPLE}, got {resample!r}")
    h, w = images.shape[1:3]
    th, tw = hw
    if (th, tw) == (h, w):
        return images
    enlarging = th >= h and tw >= w
    if resample == "nearest" or (resample == "auto" and enlarging):
        if th % h == 0 and tw % w == 0 and th // h == tw // w:
            return upscale_nearest(images, th // h)
        rows = np.minimum((np.arange(th) + 0.5) * h / th, h - 1).astype(np.intp)
        cols = np.minimum((np.arange(tw) + 0.5) * w / tw, w - 1).astype(np.intp)
        return images[:, rows][:, :, cols]
    method = Image.Resampling.LANCZOS if enlarging else Image.Resampling.BOX
    return np.stack([np.asarray(Image.fromarray(im).resize((tw, th), method)) for im in images])


# --- labels -----------------------------------------------------------------------------------------------------

@cache
def label_font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font (no font file needed), scalable where Pillow has FreeType, else its bitmap font."""
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, ImportError, OSError):  # old Pillow, or built without FreeType
        return ImageFont.load_default()


def font_px_for(height: int) -> int:
    return int(min(28, max(10, height // 16)))


def draw_label(frame: np.ndarray, text: str, x: int, y: int, font_px: int, anchor_bottom: bool = False) -> None:
    """Burn ``text`` into ``frame`` (uint8, in place) at (x, y): light text on a darkened box, legible on any image."""
    if not text:
        return
    font = label_font(font_px)
    left, top, right, bottom = font.getbbox(text)
    pad = max(1, font_px // 5)
    bw, bh = int(right) + 2 * pad, int(bottom) + 2 * pad  # Pillow's stubs say float; its fonts give whole pixels
    H, W = frame.shape[:2]
    if anchor_bottom:
        y = y - bh
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(W, x + bw), min(H, y + bh)
    if x1 <= x0 or y1 <= y0:
        return
    box = frame[y0:y1, x0:x1].astype(np.uint16)
    box = (box * 3 // 10).astype(np.uint8)  # darken what is behind the text rather than hiding it
    img = Image.fromarray(box)
    fill = 255 if frame.ndim == 2 else (255, 255, 255)
    ImageDraw.Draw(img).text((pad + x - x0, pad + y - y0), text, font=font, fill=fill)
    frame[y0:y1, x0:x1] = np.asarray(img)


# --- composing ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FrameLayout:
    """Where each panel sits in a frame."""

    panel_hw: tuple[int, int]
    panels: int
    gap: int
    channels: int  # 1 or 3
    even: bool = False  # H.264 in yuv420p needs even sides

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.panel_hw
        width = self.panels * w + (self.panels - 1) * self.gap
        if self.even:
            return h + h % 2, width + width % 2
        return h, width

    def x_of(self, i: int) -> int:
        return i * (self.panel_hw[1] + self.gap)


def layout_for(plan: FramePlan | GridPlan, size: int | None, gap: int, even: bool = False) -> FrameLayout:
    shapes = [t.model.info.image_shape for t in plan.tracks]
    # Panels of differently sized models are all brought to the first model's output size.
    hw = panel_size((shapes[0][1], shapes[0][2]), size)
    channels = 3 if any(s[0] == 3 for s in shapes) else 1
    return FrameLayout(hw, len(plan.tracks), max(0, gap), channels, even)


def _as_channels(images: np.ndarray, channels: int) -> np.ndarray:
    if channels == 3 and images.ndim == 3:
        return np.repeat(images[..., None], 3, axis=3)
    return images


def decode_panel(renderer: Renderer, z: np.ndarray, layout: FrameLayout, resample: str,
                 times: StageTimes) -> np.ndarray:
    """Decode a batch of latents with one model and bring the images to the layout's panel size and channels."""
    t0 = time.perf_counter()
    (img, _), notice = renderer.decode_or_fall_back(z, EXPORT_OOM_NOTICE)
    if notice and notice not in times.notices:
        times.notices.append(notice)
    t1 = time.perf_counter()
    times.decode_s += t1 - t0
    img = _as_channels(resize_batch(img, layout.panel_hw, resample), layout.channels)
    times.compose_s += time.perf_counter() - t1
    return img


def iter_frames(plan: FramePlan, layout: FrameLayout, *, labels: bool = False, resample: str = "auto",
                background: int = 255, batch_size: int = 64, ctx: JobContext | None = None,
                times: StageTimes | None = None) -> Iterator[np.ndarray]:
    """Yield the plan's frames as uint8 (H, W) or (H, W, 3) arrays, decoding ``batch_size`` at a time."""
    ctx = ensure_context(ctx)
    times = times if times is not None else StageTimes()
    renderers = [Renderer(t.model) for t in plan.tracks]
    n = len(plan)
    H, W = layout.size
    shape = (H, W) if layout.channels == 1 else (H, W, 3)
    font_px = font_px_for(layout.panel_hw[0])
    margin = max(2, font_px // 4)
    for a in range(0, n, max(1, batch_size)):
        ctx.check()
        b = min(n, a + batch_size)
        panels = [decode_panel(r, t.latents[a:b], layout, resample, times) for r, t in zip(renderers, plan.tracks,
                                                                                             strict=True)]
        t0 = time.perf_counter()
        frames = np.full((b - a, *shape), background, np.uint8)
        ph, pw = layout.panel_hw
        for i, p in enumerate(panels):
            x = layout.x_of(i)
            frames[:, :ph, x:x + pw] = p
        if labels:
            for k in range(b - a):
                if len(plan.tracks) > 1:
                    for i, t in enumerate(plan.tracks):
                        draw_label(frames[k], t.title or "", layout.x_of(i) + margin, margin, font_px)
                if plan.captions is not None:
                    draw_label(frames[k], plan.captions[a + k], margin, ph - margin, font_px, anchor_bottom=True)
        times.compose_s += time.perf_counter() - t0
        ctx.progress(b / n, f"frame {b}/{n}")
        yield from frames


def render_grid(plan: GridPlan, scale: int = 1, padding: int = 2, *, labels: bool = False, background: int = 255,
                batch_size: int = 64, ctx: JobContext | None = None, times: StageTimes | None = None) -> np.ndarray:
    """One image: each model's block of cells (nearest-neighbour upscaled by ``scale``), blocks stacked."""
    ctx = ensure_context(ctx)
    times = times if times is not None else StageTimes()
    if int(scale) != scale or scale < 1:
        raise ValueError(f"the grid upscale must be a positive integer, got {scale}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    scale = int(scale)
    rows, cols = plan.shape
    ih, iw = plan.tracks[0].model.info.image_shape[1:]
    layout = FrameLayout((ih * scale, iw * scale), 1, 0, 3 if any(t.model.info.image_shape[0] == 3
                                                                   for t in plan.tracks) else 1)
    ch, cw = layout.panel_hw
    block_h = rows * ch + (rows - 1) * padding
    gap = 2 * padding if padding else 0
    H = padding * 2 + len(plan.tracks) * block_h + (len(plan.tracks) - 1) * gap
    W = padding * 2 + cols * cw + (cols - 1) * padding
    canvas = np.full((H, W) if layout.channels == 1 else (H, W, 3), background, np.uint8)
    font_px = font_px_for(ch)
    margin = max(2, font_px // 4)
    total = len(plan.tracks) * rows * cols
    done = 0
    for ti, track in enumerate(plan.tracks):
        renderer = Renderer(track.model)
        flat = track.cells.reshape(rows * cols, -1)
        top = padding + ti * (block_h + gap)
        for a in range(0, len(flat), max(1, batch_size)):
            ctx.check()
            imgs = decode_panel(renderer, flat[a:a + batch_size], layout, "nearest", times)
            t0 = time.perf_counter()
            for k, img in enumerate(imgs):
                r, c = divmod(a + k, cols)
                y, x = top + r * (ch + padding), padding + c * (cw + padding)
                canvas[y:y + ch, x:x + cw] = img
                if labels and plan.captions is not None:
                    draw_label(canvas[y:y + ch, x:x + cw], plan.captions[r][c], margin, ch - margin, font_px,
                               anchor_bottom=True)
                if labels and r == 0 and c == 0 and len(plan.tracks) > 1:
                    draw_label(canvas[y:y + ch, x:x + cw], track.title or "", margin, margin, font_px)
            times.compose_s += time.perf_counter() - t0
            done += len(imgs)
            ctx.progress(done / total, f"cell {done}/{total}")
    return canvas
