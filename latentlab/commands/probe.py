"""``latentlab probe``: push each latent to its extremes and measure what changes in the output (a causal probe)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    device_arg,
    echo,
    finite_float,
    int_arg,
    json_arg,
    print_json,
    raise_usage,
    seed_arg,
    style_args,
    styled,
    trust_arg,
    trust_of,
)
from latentlab.core import limits


def register(sub: Any) -> None:
    p = sub.add_parser("probe", help="extreme-value causal probe: which latent moves which output property",
                       description="For each latent: n prior samples with that latent set to +EXTREME and to "
                       "-EXTREME prior SDs, decoded; the mean paired difference of each property, with a 95%% "
                       "bootstrap interval. Properties: intensity, centroid_x, centroid_y, spread, factor:NAME "
                       "(a read-out of a dataset factor from the pixels) or module:function (your own code).")
    p.add_argument("file", help="checkpoint")
    p.add_argument("--property", dest="properties", action="append", metavar="NAME",
                   help="a property to measure (repeat; default: intensity, centroid_x, centroid_y, spread)")
    p.add_argument("--dims", help="latents to probe, e.g. 0,3,5 (default: all)")
    p.add_argument("--n", type=int_arg(2, limits.MAX_SAMPLES), default=256, help="prior samples (default 256)")
    p.add_argument("--extreme", type=finite_float(0.0, 100.0, lo_open=True), default=3.0,
                   help="how far each latent is pushed, in prior SDs (default 3)")
    p.add_argument("--bootstrap", type=int_arg(100, 100_000), default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--dataset", help="dataset for factor:NAME properties (default: the model's)")
    p.add_argument("--plot", metavar="PNG", help="also write the forest plot")
    seed_arg(p)
    style_args(p)
    arch_arg(p)
    trust_arg(p)
    device_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_probe)


def _dims(text: str | None, d: int) -> list[int] | None:
    if text is None:
        return None
    try:
        dims = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise_usage(f"--dims takes latent indices like 0,3,5; got {text!r}")
    if not dims or any(not 0 <= j < d for j in dims):
        raise_usage(f"--dims: latents lie in 0..{d - 1}")
    return dims


def cmd_probe(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.export.outputs import check_file_output
    from latentlab.core.export.writers import write_png
    from latentlab.core.jobs import JobContext, TextProgress, end_progress_line
    from latentlab.core.probe import BUILTIN, forest_plot, probe, properties_for

    if args.plot:
        check_file_output(Path(args.plot), "grid", [args.file])
    ck = open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device=args.device)
    model = styled(ck.model, args)
    names = args.properties or list(BUILTIN)
    props = properties_for(names, args.dataset or model.info.dataset)
    bar = TextProgress(label="probe")
    result = probe(model, props, _dims(args.dims, model.info.latent_dim), n=args.n, extreme=args.extreme,
                   n_boot=args.bootstrap, seed=args.seed, ctx=JobContext(progress=bar))
    end_progress_line()
    if args.plot:
        write_png(forest_plot(result), args.plot)
    if args.json:
        print_json(result.to_dict())
        return 0
    echo(f"{model.info.name}: each latent pushed to ±{args.extreme:g} SD on {args.n} samples; effect (95% interval),"
         " * where the interval excludes 0")
    for e in result.effects:
        mark = "*" if e.significant else " "
        echo(f"{mark} {result.latent_names[result.latents.index(e.latent)]:>10}  {e.prop:<14} {e.effect:+.4g} "
             f"[{e.low:+.4g}, {e.high:+.4g}]  ({e.standardised:+.2f} SD)")
    if args.plot:
        echo(f"wrote {args.plot}")
    return 0
