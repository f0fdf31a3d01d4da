"""``latentlab mix``: the style-mixing figure of a StyleGAN2 / SWAGAN / StyleGAN3 generator, as one PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    device_arg,
    echo,
    json_arg,
    print_json,
    raise_usage,
    style_args,
    styled,
    trust_arg,
    trust_of,
)


def register(sub: Any) -> None:
    p = sub.add_parser("mix", help="style-mixing grid of a StyleGAN: row seeds x column seeds, chosen layers mixed",
                       description="Cell (r, c) is row seed r with the ws of --layers taken from column seed c (the "
                       "StyleGAN paper's figure). Seeds draw prior samples as the app's 'from seed' does.")
    p.add_argument("file", help="a StyleGAN2, SWAGAN or StyleGAN3 checkpoint")
    p.add_argument("--rows", default="1-4", metavar="SEEDS", help="row seeds, e.g. 1,2,5-7 (default 1-4)")
    p.add_argument("--cols", default="5-9", metavar="SEEDS", help="column seeds (default 5-9)")
    p.add_argument("--layers", metavar="A-B", help="ws A to B-1 come from the columns (default: --preset)")
    p.add_argument("--preset", choices=("coarse", "middle", "fine", "all"), default="fine",
                   help="GANSpace's layer ranges scaled to the generator (default fine: colours and texture)")
    p.add_argument("--out", required=True, help="the PNG to write")
    style_args(p)
    arch_arg(p)
    trust_arg(p)
    device_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_mix)


def _layers(args: argparse.Namespace, num_ws: int) -> tuple[int, int]:
    from latentlab.core.style_edit import layer_presets

    if args.layers is None:
        return layer_presets(num_ws)[args.preset]
    a, sep, b = args.layers.partition("-")
    if not (sep and a.strip().isdigit() and b.strip().isdigit()):
        raise_usage(f"--layers takes A-B (ws A to B-1), e.g. 8-{num_ws}; got {args.layers!r}")
    start, stop = int(a), int(b)
    if not 0 <= start < stop <= num_ws:
        raise_usage(f"--layers {args.layers}: this generator has ws 0 to {num_ws - 1}; give A < B <= {num_ws}")
    return start, stop


def cmd_mix(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.export.mixing import parse_seeds, write_mixing_grid
    from latentlab.core.export.outputs import check_file_output
    from latentlab.core.jobs import JobContext, TextProgress, end_progress_line
    from latentlab.core.style_edit import is_style_generator

    try:
        rows, cols = parse_seeds(args.rows), parse_seeds(args.cols)
    except ValueError as exc:
        raise_usage(f"--rows / --cols: {exc}")
    out = Path(args.out)
    check_file_output(out, "grid", [args.file])  # before the checkpoint is opened: never one of the inputs
    ck = open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device=args.device)
    if not is_style_generator(ck.model):
        raise_usage(f"{ck.info.name} is not a style-based generator (StyleGAN2, SWAGAN, StyleGAN3): nothing to mix")
    view = styled(ck.model, args)
    start, stop = _layers(args, view.num_ws)
    bar = TextProgress(label="mixing grid")
    write_mixing_grid(view, rows, cols, start, stop, out, inputs=[args.file], ctx=JobContext(progress=bar))
    end_progress_line()
    summary = {"path": str(out), "rows": rows, "cols": cols, "layers": [start, stop], "space": view.latent_space}
    if args.json:
        print_json(summary)
    else:
        echo(f"wrote {out}: {len(rows)} x {len(cols)} mixes of ws {start}-{stop - 1} (of {view.num_ws})")
    return 0
