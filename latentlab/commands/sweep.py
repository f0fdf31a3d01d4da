"""``latentlab sweep``: the same metrics over many checkpoints, one table (figures kept in the results store)."""

from __future__ import annotations

import argparse
import csv
import io
import math

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
from latentlab.core.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="metrics over many checkpoints, side by side",
        description="Runs `latentlab metrics` on each checkpoint in turn (stored figures are reused, so a sweep "
                    "that was interrupted resumes where it stopped) and prints one row per checkpoint. A "
                    "checkpoint that fails to open or evaluate is reported and the sweep goes on.")
    p.add_argument("files", nargs="+", help="checkpoints (a training run's snapshots, a seed sweep, ...)")
    p.add_argument("--dataset", help="dataset for all (default: each card's)")
    p.add_argument("--metrics", default="mig,dci,sap,modularity,infomec",
                   help="comma-separated metric names, or 'all' (default: mig,dci,sap,modularity,infomec)")
    p.add_argument("--n", type=int_arg(10, limits.MAX_SAMPLES), default=10000, help="training points per checkpoint (default 10000)")
    seed_arg(p)
    p.add_argument("--representation", choices=("mean", "sampled"), default="mean")
    p.add_argument("--drop-passive", action="store_true")
    p.add_argument("--force", action="store_true", help="recompute even when stored results exist")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV (atomically)")
    arch_arg(p, "architecture, for plain state_dict files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_sweep)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def cmd_sweep(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import CheckpointError, open_checkpoint
    from latentlab.core.jobs import JobContext, TextProgress
    from latentlab.core.metrics import METRICS, evaluate, parse_names
    from latentlab.core.paths import atomic_write_bytes

    names = parse_names(args.metrics)
    if args.n < 10:
        raise_usage(f"--n must be at least 10, got {args.n}")
    columns = [f"{name}.{key}" for name in names for key in METRICS[name].keys]
    rows: list[dict] = []
    failed = 0
    for i, file in enumerate(args.files, 1):
        row: dict = {"file": file}
        bar = None if args.quiet or args.json else TextProgress(label=f"[{i}/{len(args.files)}] metrics")
        try:
            ck = open_checkpoint(file, arch=args.arch, trust=trust_of(args), device=args.device)
            row.update(name=ck.info.name, sha256=ck.sha256)
            results = evaluate(ck, args.dataset, names, n=args.n, representation=args.representation,
                               drop_passive=args.drop_passive, seed=args.seed, force=args.force,
                               ctx=JobContext(progress=bar) if bar else JobContext())
        except (CheckpointError, OSError, ValueError) as exc:
            failed += 1
            row["error"] = str(exc)
            rows.append(row)
            continue
        finally:
            if bar:
                bar.done()
        errors = {}
        for name, res in results.items():
            if not res.ok:
                errors[name] = res.message
                continue
            for key in METRICS[name].keys:
                v = res.values.get(key)
                row[f"{name}.{key}"] = None if v is None or not math.isfinite(v) else float(v)
        if errors:
            row["metric_errors"] = errors
        rows.append(row)
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["file", "name", "sha256", *columns, "error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(args.csv, buf.getvalue().encode())
    if args.json:
        print_json({"dataset": args.dataset, "seed": args.seed, "n": args.n, "columns": columns, "rows": rows})
    else:
        width = max(12, *(len(c) + 2 for c in columns))
        echo(f"{'checkpoint':<32}" + "".join(f"{c:>{width}}" for c in columns))
        for row in rows:
            label = printable(row.get("name") or row["file"])
            label = label if len(label) <= 31 else label[:30] + "…"
            if "error" in row:
                echo(f"{label:<32}error: {printable(row['error'])}")
                continue
            echo(f"{label:<32}" + "".join(f"{_fmt(row.get(c)):>{width}}" for c in columns))
            for name, msg in row.get("metric_errors", {}).items():
                echo(f"{'':<32}{name}: {printable(msg)}")
    return 1 if failed == len(rows) else 0
