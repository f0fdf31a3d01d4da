"""Frames -> MP4 / GIF / PNG: traversal videos, keyframe paths, side-by-side checkpoints, still grids.

Build a plan (``plan``), then ``export`` it with ``ExportOptions`` and a ``JobContext`` for progress and
cancel. Frames are decoded batch by batch and streamed into the writer; the target appears only when the
last frame is in.
"""

from latentlab.core.export.frames import StageTimes, iter_frames, layout_for, render_grid, resize_batch, upscale_nearest
from latentlab.core.export.plan import (
    FramePlan,
    GridPlan,
    GridTrack,
    Track,
    dimension_traversal,
    direction_traversal,
    keyframe_traversal,
    latent_range,
    map_latents,
    resample_path,
    strip_cells,
    traversal_cells,
)
from latentlab.core.export.run import (
    FORMATS,
    SUFFIXES,
    ExportOptions,
    ExportResult,
    export,
    export_grid,
    export_video,
    preview_frame,
    preview_grid,
)
from latentlab.core.export.writers import gif_durations_ms, write_gif, write_mp4, write_png, write_png_folder

__all__ = [
    "FORMATS", "SUFFIXES", "ExportOptions", "ExportResult", "FramePlan", "GridPlan", "GridTrack", "StageTimes", "Track",
    "dimension_traversal", "direction_traversal", "export", "export_grid", "export_video", "gif_durations_ms",
    "iter_frames", "keyframe_traversal", "latent_range", "layout_for", "map_latents", "preview_frame", "preview_grid", "render_grid",
    "resample_path", "resize_batch", "strip_cells", "traversal_cells", "upscale_nearest", "write_gif",
    "write_mp4", "write_png", "write_png_folder",
]
