"""What a StyleGAN2 draft costs: synthesis stopped at a lower resolution (``stop_at_resolution``, the running
skip-connection RGB) against the full synthesis, in time and in convolution multiply-adds.

Random-weight generators of the published sizes (rosinality's channel multiplier 2 = config-f; 1 = config-e),
batch 1, the median of ``--repeats`` runs after one warm-up, on this machine's CPU (or ``--device cuda``).

    python benchmarks/stylegan_draft.py --sizes 256,512,1024 --drafts 32,64,128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from latentlab.core.zoo.stylegan2 import StyleGAN2Generator


def channels(size: int, multiplier: int) -> list[int]:
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier, 256: 64 * multiplier,
             512: 32 * multiplier, 1024: 16 * multiplier}
    return [table[4 * 2 ** i] for i in range(size.bit_length() - 2)]


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def report(size: int, drafts: list[int], args: argparse.Namespace, device: torch.device) -> None:
    g = StyleGAN2Generator(channels=channels(size, args.multiplier), mapping=[512] * 9).eval().to(device)
    with torch.no_grad():
        ws = g.mapping(torch.randn(1, 512, device=device))
        full = timed(lambda: g.synthesis(ws), args.repeats, device)
        print(f"{size} px: full synthesis {full * 1000:.0f} ms")
        for r in drafts:
            if r < size:
                t = timed(lambda r=r: g.synthesis(ws, stop_at_resolution=r), args.repeats, device)
                print(f"  draft {r:>4} px: {t * 1000:7.1f} ms = {t / full:6.3f} of the time, "
                      f"{g.draft_cost(r):6.3f} of the multiply-adds")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--drafts", default="32,64,128")
    p.add_argument("--multiplier", type=int, default=2, help="channel multiplier: 2 = config-f, 1 = config-e")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}, channel multiplier "
          f"{args.multiplier}, batch 1, median of {args.repeats}")
    for size in (int(s) for s in args.sizes.split(",")):
        report(size, [int(d) for d in args.drafts.split(",")], args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
