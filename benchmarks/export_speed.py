"""Export throughput: a 600-frame 256x256 MP4 traversal of a demo model (issue 7 target: under 10 s on the CPU).

    python benchmarks/export_speed.py [--checkpoint latentlab/models/beta-vae-dsprites.safetensors] [--device cpu]

Without the demo checkpoint it times an untrained zoo beta-VAE of the demo's architecture, which decodes at
the same speed. Prints the total time and the decode, compose (resize, labels) and encode times apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from latentlab.core.device import resolve_device  # noqa: E402
from latentlab.core.export import ExportOptions, FramePlan, dimension_traversal, export_video, latent_range  # noqa: E402
from latentlab.core.resources import shipped_models_dir  # noqa: E402

DEMO = shipped_models_dir() / "beta-vae-dsprites.safetensors"


def load(args: argparse.Namespace):
    dev = resolve_device(args.device)
    path = Path(args.checkpoint) if args.checkpoint else DEMO
    if path.exists():
        from latentlab.core.checkpoint import open_checkpoint

        return open_checkpoint(path, device=dev).model, str(path)
    if args.checkpoint:
        sys.exit(f"{path}: no such file")
    import torch

    from latentlab.core.model import ModelInfo
    from latentlab.core.zoo import build_network

    torch.manual_seed(0)
    model = build_network("beta_vae", latent_dim=10).eval()  # the demo's architecture at full width
    model.info = ModelInfo("untrained beta_vae", 10, (1, 64, 64), dataset="dsprites")
    return model.to(dev), "untrained zoo beta_vae (latent 10, base 32, hidden 256)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--labels", action="store_true", help="burn in labels too")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model, what = load(args)
    d = model.info.latent_dim
    lo, hi = latent_range(model)
    latents, captions = dimension_traversal(np.zeros(d, np.float32), list(range(d)), args.frames, lo, hi,
                                            [model.info.dim_label(j) for j in range(d)])
    plan = FramePlan.for_models([model], latents, captions)
    opts = ExportOptions(format="mp4", fps=args.fps, size=args.size, labels=args.labels, batch_size=args.batch_size,
                         preset=args.preset)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            t0 = time.perf_counter()
            r = export_video(plan, Path(tmp) / f"bench{i}.mp4", opts)
            wall = time.perf_counter() - t0
            runs.append({**r.to_dict(), "wall_s": wall})
    best = min(runs, key=lambda r: r["total_s"])
    out = {"model": what, "device": str(resolve_device(args.device)), "torch_threads": torch.get_num_threads(),
           "frames": best["frames"], "size": f"{best['width']}x{best['height']}", "fps": args.fps,
           "labels": args.labels, "preset": args.preset, "total_s": best["total_s"], "decode_s": best["decode_s"],
           "compose_s": best["compose_s"], "encode_s": best["encode_s"], "bytes": best["bytes"],
           "all_total_s": [round(r["total_s"], 3) for r in runs]}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"model: {what} on {out['device']} ({out['torch_threads']} torch threads)")
    print(f"{out['frames']} frames {out['size']} MP4 (H.264 {args.preset}, labels {'on' if args.labels else 'off'}), "
          f"best of {args.repeat}:")
    print(f"  total   {out['total_s']:6.2f} s   ({out['frames'] / out['total_s']:.0f} frames/s)")
    print(f"  decode  {out['decode_s']:6.2f} s")
    print(f"  compose {out['compose_s']:6.2f} s   (upscale, layout, labels)")
    print(f"  encode  {out['encode_s']:6.2f} s")
    print(f"  runs    {', '.join(f'{t:.2f}' for t in out['all_total_s'])} s; file {out['bytes'] / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
