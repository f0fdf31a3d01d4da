"""``latentlab concepts``: a training series as a path in concept space (when was each factor learned)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    device_arg,
    echo,
    int_arg,
    json_arg,
    print_json,
    raise_usage,
    seed_arg,
    trust_arg,
    trust_of,
)
from latentlab.core import limits


def register(sub: Any) -> None:
    p = sub.add_parser("concepts", help="a checkpoint series as a path in concept space: when each factor was learned",
                       description="Encode the same dataset images with every checkpoint of a run and read each "
                       "ground-truth factor out of the latents (DCI's informativeness read-out); prints the read-out "
                       "per step and the step each factor was learned at (half of its rise).")
    p.add_argument("series", nargs="+", help="a run's .series folder, or its snapshot files (two or more)")
    p.add_argument("--dataset", help="dataset with ground-truth factors (default: the checkpoints')")
    p.add_argument("--n", type=int_arg(20, limits.MAX_SAMPLES), default=2000, help="images (default 2000)")
    p.add_argument("--plot", metavar="PNG", help="also write the read-out curves")
    seed_arg(p)
    arch_arg(p)
    trust_arg(p)
    device_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_concepts)


def _paths(items: list[str]) -> list[Path]:
    out: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            from latentlab.core.resources import is_sidecar

            out += sorted(p for p in item.glob("*.safetensors") if not is_sidecar(p))
        else:
            out.append(item)
    if len(out) < 2:
        raise_usage("a concept path needs two or more checkpoints (a .series folder, or the files)")
    return out


def cmd_concepts(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.compare import checkpoint_series
    from latentlab.core.concept_paths import concept_path, path_plot
    from latentlab.core.data import get_dataset
    from latentlab.core.export.outputs import check_file_output
    from latentlab.core.export.writers import write_png
    from latentlab.core.jobs import JobContext, TextProgress, end_progress_line

    series = checkpoint_series(_paths(args.series))
    if args.plot:
        check_file_output(Path(args.plot), "grid", [e.path for e in series])
    cks = [open_checkpoint(e.path, arch=args.arch, trust=trust_of(args), device=args.device) for e in series]
    name = args.dataset or cks[0].info.dataset
    if not name:
        raise_usage("the checkpoints name no dataset: give --dataset")
    ds = get_dataset(name)
    images, factors = ds.sample(args.n, np.random.default_rng(args.seed))
    steps = [e.step if e.step is not None else i for i, e in enumerate(series)]
    bar = TextProgress(label="concepts")
    path = concept_path([c.model for c in cks], steps, [e.name for e in series], images, factors,
                        list(ds.factor_names), JobContext(progress=bar), seed=args.seed)
    end_progress_line()
    if args.plot:
        write_png(path_plot(path), args.plot)
    if args.json:
        print_json(path.to_dict())
        return 0
    echo("step      " + "  ".join(f"{f[:9]:>9}" for f in path.factors))
    for step, row in zip(path.steps, path.readout, strict=True):
        echo(f"{step:<9} " + "  ".join(f"{v:9.3f}" for v in row))
    echo("chance    " + "  ".join(f"{v:9.3f}" for v in path.chance))
    learned = path.learned_at()
    order = sorted((s, f) for f, s in learned.items() if s is not None)
    echo("learned (half of the rise), in order: " + (", ".join(f"{f} at {s}" for s, f in order) or "none"))
    if args.plot:
        echo(f"wrote {args.plot}")
    return 0
