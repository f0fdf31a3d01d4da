"""``latentlab bench``: bare decode latency and throughput of checkpoints on a device."""

from __future__ import annotations

import argparse

from latentlab.commands.common import (
    arch_arg,
    batch_int,
    device_arg,
    echo,
    json_arg,
    positive_int,
    print_json,
    raise_usage,
    threads_arg,
    trust_arg,
    trust_of,
)
from latentlab.core.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="decode latency (batch 1) and throughput of checkpoints",
        description="Times model.decode after warm-up on the chosen device: batch-1 p50/p95/min over --repeats "
                    "calls and images per second at --batch. This is the reference the preview latency is "
                    "judged against (benchmarks/preview_latency.py).")
    p.add_argument("files", nargs="+", help="checkpoints")
    p.add_argument("--repeats", type=positive_int(1_000_000), default=100, help="batch-1 decodes timed (default 100)")
    p.add_argument("--batch", type=batch_int, default=64, help="batch size for the throughput figure (default 64)")
    threads_arg(p, "CPU threads for torch (default: torch's)")
    arch_arg(p, "architecture, for plain state_dict files")
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from latentlab.core.bench import time_decode
    from latentlab.core.checkpoint import open_checkpoint

    if args.repeats < 1 or args.batch < 1:
        raise_usage(f"--repeats and --batch must be at least 1; got {args.repeats} and {args.batch}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for file in args.files:
        ck = open_checkpoint(file, arch=args.arch, trust=trust_of(args), device=args.device)
        timing = time_decode(ck.model, repeats=args.repeats, batch=args.batch)
        rows.append({"file": str(ck.path), "name": ck.info.name, "latent_dim": ck.info.latent_dim,
                     "image_shape": list(ck.info.image_shape), **timing.to_dict()})
    if args.json:
        print_json({"threads": torch.get_num_threads(), "results": rows})
        return 0
    echo(f"torch threads {torch.get_num_threads()}")
    echo(f"{'checkpoint':<34}{'device':<8}{'p50 ms':>9}{'p95 ms':>9}{'min ms':>9}{'batch':>7}{'img/s':>10}")
    for r in rows:
        name = printable(r["name"])  # from the card: one line, escapes spelled out
        name = name if len(name) <= 33 else name[:32] + "…"
        echo(f"{name:<34}{r['device']:<8}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['min_ms']:>9.2f}"
              f"{r['batch']:>7}{r['images_per_s']:>10.0f}")
    return 0
