"""``latentlab export``: traversal videos, direction and flow paths, keyframe paths, side-by-side checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    batch_int,
    device_arg,
    echo,
    finite_float,
    int_arg,
    json_arg,
    positive_int,
    print_json,
    raise_usage,
    seed_arg,
    style_args,
    styled,
    trust_arg,
    trust_of,
)
from latentlab.core import limits
from latentlab.core.checkpoints.naming import display_name

KINDS = ("traversal", "direction", "path", "keyframes", "compare")


def register(sub: Any) -> None:
    from latentlab.core.export import FORMATS
    from latentlab.core.traversal import EASINGS

    p = sub.add_parser(
        "export", help="write traversal videos (MP4/GIF), PNG frame folders or PNG grids",
        description="Decode latents along a traversal, a direction, a precomputed path (a flow), a keyframe path "
        "through bookmarks, or side by side for 2-4 checkpoints, and write MP4 (H.264), GIF, a folder of PNG "
        "frames or one PNG grid. The output file appears only when it is complete.",
    )
    p.add_argument("file", help="checkpoint")
    p.add_argument("--kind", choices=KINDS, default="traversal",
                   help="what moves: latent dimensions, a direction, a latent path (.npy), keyframes, or "
                   "'compare' (a traversal of the first checkpoint, shown by every --compare checkpoint too)")
    p.add_argument("--dims", help="dimensions to traverse, e.g. 0,1,2 (default: all)")
    p.add_argument("--span", type=finite_float(0.0, 1000.0, lo_open=True),
                   help="traversal range in prior stds (default 2.5), or the +- step along a direction (default 3)")
    p.add_argument("--direction", help="FILE:NAME in a .npz/.json of directions, or a .npy vector")
    p.add_argument("--path", dest="latent_path", help="a (T, D) latent path: .npy, FILE.npz:KEY or .json")
    p.add_argument("--keyframes", help="keyframe latents: a (K, D) .npy, an .npz of named latents, or a .llab "
                   "session (its bookmarks)")
    p.add_argument("--interp", choices=("lerp", "slerp"), default="lerp", help="keyframe interpolation")
    p.add_argument("--easing", choices=tuple(EASINGS), default="linear", help="keyframe easing")
    p.add_argument("--loop", action="store_true", help="keyframes: return to the first key")
    p.add_argument("--compare", nargs="+", metavar="FILE2", default=[],
                   help="more checkpoints (up to 3) shown side by side")
    p.add_argument("--align", choices=("auto", "always", "never"), default="auto",
                   help="match compared checkpoints' dimensions by encoding dataset samples (auto: when their "
                   "latent sizes differ)")
    p.add_argument("--align-samples", type=int_arg(2, limits.MAX_SAMPLES), default=2000, help="dataset samples encoded for the alignment")
    p.add_argument("--dataset", help="dataset for the alignment (default: the first checkpoint's)")
    p.add_argument("--start", help="the latent everything starts from (.npy); default: the prior mean, or a "
                   "prior sample with --seed")
    p.add_argument("--format", choices=FORMATS,
                   help="mp4, gif, png (a folder of frames) or grid (one PNG); default: from --out's suffix")
    p.add_argument("--fps", type=finite_float(0.0, limits.MAX_FPS, lo_open=True), default=30.0)
    p.add_argument("--seconds", type=finite_float(0.0, limits.MAX_SECONDS, lo_open=True), default=4.0, help="video length")
    p.add_argument("--frames", type=positive_int(limits.MAX_FRAMES), help="number of frames (overrides --seconds)")
    p.add_argument("--size", type=int_arg(0, limits.MAX_IMAGE_SIDE), default=256,
                   help="each panel's longer side in pixels (0: the model's own size)")
    p.add_argument("--steps", type=positive_int(limits.MAX_GRID_STEPS), default=8, help="grid: columns per row")
    p.add_argument("--scale", type=positive_int(limits.MAX_IMAGE_SIDE), help="grid: integer upscale of each cell (default: from --size)")
    p.add_argument("--padding", type=int_arg(0, limits.MAX_PADDING), default=4, help="grid: pixels between cells")
    p.add_argument("--gap", type=int_arg(0, limits.MAX_PADDING), default=8, help="pixels between compared panels")
    p.add_argument("--labels", action="store_true", help="burn in labels (dimension name and value, model names)")
    p.add_argument("--resample", choices=("auto", "nearest", "smooth"), default="auto")
    p.add_argument("--crf", type=int_arg(0, 51), default=18, help="MP4 quality (lower is better)")
    p.add_argument("--preset", default="medium", help="x264 speed preset (ultrafast ... veryslow)")
    p.add_argument("--batch-size", type=batch_int, default=64, help="latents decoded per batch")
    seed_arg(p, None, "draw the start latent from the prior with this seed")
    arch_arg(p, "architecture, for plain state_dict files")
    p.add_argument("--out", required=True, help="output file (.mp4, .gif, .png) or folder (png frames)")
    style_args(p)
    trust_arg(p)
    device_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_export)


def _format_for(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.out).suffix.lower()
    fmt = {".mp4": "mp4", ".gif": "gif", ".png": "grid", "": "png"}.get(suffix)
    if fmt is None:
        raise_usage(f"cannot tell the format from {args.out!r}: give --format mp4|gif|png|grid")
    return fmt  # type: ignore[return-value]


def _dims(spec: str | None, d: int) -> list[int]:
    if not spec:
        return list(range(d))
    try:
        dims = [int(x) for x in spec.replace(" ", "").split(",") if x]
    except ValueError:
        raise_usage(f"--dims takes comma-separated integers, got {spec!r}")
    bad = [j for j in dims if not 0 <= j < d]
    if bad or not dims:
        raise_usage(f"--dims {spec!r}: this model has dimensions 0..{d - 1}")
    return dims


def _start(args: argparse.Namespace, model: Any) -> Any:
    import numpy as np
    import torch

    from latentlab.core.compare import prior_mean
    from latentlab.core.export.inputs import load_vector

    if args.start:
        return load_vector(args.start, model.info.latent_dim, "start latent")[0]
    if args.seed is not None:
        gen = torch.Generator().manual_seed(args.seed)
        return model.sample_prior(1, gen)[0].detach().float().cpu().numpy()
    return prior_mean(model).astype(np.float32)


def _alignments(args: argparse.Namespace, models: list[Any]) -> list[Any] | None:
    if len(models) == 1:
        return None
    sizes = {m.info.latent_dim for m in models}
    if args.align == "never" or (args.align == "auto" and len(sizes) == 1):
        if len(sizes) > 1:
            raise_usage("the compared checkpoints have different latent sizes: use --align auto or always")
        return None
    from latentlab.core.compare import align_many
    from latentlab.core.data import get_dataset
    from latentlab.core.jobs import JobContext, TextProgress

    name = args.dataset or models[0].info.dataset
    if not name:
        raise_usage("aligning dimensions needs a dataset: the first checkpoint's card names none; give --dataset")
    bar = TextProgress(label="align")
    aligns = align_many(models, get_dataset(name), n=args.align_samples, seed=args.seed or 0,
                        ctx=JobContext(progress=bar))
    return aligns


def input_files(args: argparse.Namespace) -> list[str]:
    """Every file the export reads (checkpoints, direction, path, keyframes or session, start latent)."""
    from latentlab.core.export.inputs import split_spec

    specs = [args.direction, args.latent_path, args.keyframes, args.start]
    return [args.file, *args.compare, *(str(split_spec(s)[0]) for s in specs if s)]


def build_plan(args: argparse.Namespace, models: list[Any], titles: list[str], fmt: str, frames: int) -> Any:
    """The FramePlan or GridPlan the arguments describe (its ``inputs``: every file it was made from)."""
    from latentlab.core.export import (
        FramePlan,
        GridPlan,
        dimension_traversal,
        direction_traversal,
        keyframe_traversal,
        latent_range,
        resample_path,
        strip_cells,
        traversal_cells,
    )
    from latentlab.core.export.inputs import load_direction, load_keyframes, load_latents

    m0 = models[0]
    d = m0.info.latent_dim
    names = [m0.info.dim_label(j) for j in range(d)]
    kind = args.kind
    meta: dict[str, Any] = {"kind": kind, "checkpoints": [args.file, *args.compare]}
    aligns = _alignments(args, models)
    if kind in ("traversal", "compare"):
        dims = _dims(args.dims, d)
        lo, hi = latent_range(m0, args.span if args.span is not None else 2.5)
        z = _start(args, m0)
        meta["dims"] = dims
        if fmt == "grid":
            cells, caps = traversal_cells(z, dims, args.steps, lo, hi, names)
            return GridPlan.for_models(models, cells, caps, aligns, titles, meta, input_files(args))
        latents, captions = dimension_traversal(z, dims, frames, lo, hi, names)
    elif kind == "direction":
        if not args.direction:
            raise_usage("--kind direction needs --direction FILE:NAME or a .npy vector")
        v, name = load_direction(args.direction, d)
        latents, captions = direction_traversal(_start(args, m0), v, frames, args.span or 3.0, name)
        meta["direction"] = args.direction
    elif kind == "path":
        if not args.latent_path:
            raise_usage("--kind path needs --path latents.npy")
        path, name = load_latents(args.latent_path, d)
        latents, captions = resample_path(path, frames, name)
        meta["path"] = args.latent_path
    else:
        if not args.keyframes:
            raise_usage("--kind keyframes needs --keyframes FILE")
        from latentlab.core.checkpoint import file_sha256

        keys, knames = load_keyframes(args.keyframes, d, file_sha256(args.file))
        latents, captions = keyframe_traversal(keys, frames, args.interp, args.easing, args.loop, knames)
        meta.update(keyframes=knames, interp=args.interp, easing=args.easing)
    if fmt == "grid":
        cells, caps = strip_cells(latents, captions, args.steps)
        return GridPlan.for_models(models, cells, caps, aligns, titles, meta, input_files(args))
    return FramePlan.for_models(models, latents, captions, aligns, titles, meta, input_files(args))


def check_output_size(args: argparse.Namespace, models: list[Any], fmt: str, frames: int) -> None:
    """Refuse, before anything is decoded, an export whose latents or images would not fit in memory."""
    d = models[0].info.latent_dim
    if fmt != "grid" and frames * d > limits.MAX_LATENT_VALUES:
        raise_usage(f"{frames} frames of {d} latents is too many; at most {limits.MAX_LATENT_VALUES // d} frames "
                    "for this model")
    h, w = (int(s) for s in models[0].info.image_shape[1:])
    if fmt == "grid":
        rows = len(_dims(args.dims, d)) if args.kind in ("traversal", "compare") else 1
        scale = args.scale or (max(1, args.size // max(h, w)) if args.size else 1)
        cells = rows * args.steps * len(models)
        pixels = cells * (h * scale + args.padding) * (w * scale + args.padding)
        if cells > limits.MAX_GRID_CELLS or pixels > limits.MAX_PIXELS:
            raise_usage(f"a grid of {cells} cells of {h * scale}x{w * scale} pixels is too large (at most "
                        f"{limits.MAX_GRID_CELLS} cells and {limits.MAX_PIXELS} pixels); lower --steps, --dims, "
                        "--scale or --size")
        return
    side = args.size or max(h, w)
    pixels = len(models) * (side + args.gap) * side
    if pixels > limits.MAX_PIXELS:
        raise_usage(f"{len(models)} panels of {side} pixels make frames of {pixels} pixels, more than "
                    f"{limits.MAX_PIXELS}; lower --size")


def cmd_export(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.export import ExportOptions, export
    from latentlab.core.export.folder import check_folder_output
    from latentlab.core.export.outputs import check_file_output
    from latentlab.core.jobs import JobContext, TextProgress

    fmt = _format_for(args)
    if args.kind == "compare" and not args.compare:
        raise_usage("--kind compare needs --compare FILE2 [FILE3 FILE4]")
    if len(args.compare) > 3:
        raise_usage("compare shows at most 4 checkpoints (FILE and 3 more)")
    frames = args.frames if args.frames is not None else max(1, round(args.fps * args.seconds))
    if frames > limits.MAX_FRAMES:
        raise_usage(f"--fps {args.fps:g} x --seconds {args.seconds:g} makes {frames} frames; at most "
                    f"{limits.MAX_FRAMES} are exported (lower either, or give --frames)")
    opts = ExportOptions(format=fmt, fps=args.fps, size=args.size or None, labels=args.labels,
                         resample=args.resample, gap=args.gap, batch_size=args.batch_size, crf=args.crf,
                         preset=args.preset, grid_scale=args.scale, grid_padding=args.padding)
    opts.validate()  # before any checkpoint is opened or latent decoded
    if fmt == "png":  # and the output: never one of the inputs, never someone else's file
        check_folder_output(Path(args.out), input_files(args))
    else:
        check_file_output(Path(args.out), fmt, input_files(args))
    models, titles = [], []
    for f in [args.file, *args.compare]:
        ck = open_checkpoint(f, arch=args.arch, trust=trust_of(args), device=args.device)
        models.append(styled(ck.model, args))
        # Snapshots of one run share a model name: tell them apart by file name.
        titles.append(ck.info.name if ck.info.name not in titles else display_name(ck.path))
    check_output_size(args, models, fmt, frames)
    plan = build_plan(args, models, titles, fmt, frames)
    bar = TextProgress(label=f"export {fmt}")
    result = export(plan, args.out, opts, JobContext(progress=bar))
    if args.json:
        print_json(result.to_dict())
    else:
        for notice in result.notices:
            print(f"note: {notice}")
        what = "grid" if fmt == "grid" else f"{result.frames} frames at {result.fps:g} fps ({result.duration_s:.2f} s)"
        echo(f"wrote {result.path}: {what}, {result.width}x{result.height}; decode {result.decode_s:.2f} s, "
              f"compose {result.compose_s:.2f} s, encode {result.encode_s:.2f} s, total {result.total_s:.2f} s")
    return 0
