"""``latentlab sweep``: the same metrics over many checkpoints as Ray tasks (or in turn), one table.

Figures are kept in the results store by this process, so a sweep that was interrupted resumes where it
stopped. The Ray options (``--address``, ``--cpus-per-task``, ...) are shared with ``sweep-train``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys

from latentlab.commands.common import (
    arch_arg,
    device_arg,
    finite_float,
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

EXIT_CANCELLED = 130


def ray_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where tasks run")
    g.add_argument("--sequential", action="store_true",
                   help="no Ray: run every task in this process, one after another")
    g.add_argument("--address", metavar="ADDR",
                   help="an existing Ray cluster: 'auto' (the one this machine belongs to) or ray://HOST:10001; "
                        "default: a local Ray started for this command, with nothing to configure")
    g.add_argument("--workers", type=int_arg(1, limits.MAX_THREADS), metavar="N", help="local Ray: CPUs it may use (default: all)")
    g.add_argument("--cpus-per-task", type=finite_float(0.0, 1024.0, lo_open=True), default=1.0, metavar="N", help="CPUs each task asks for (default 1)")
    g.add_argument("--gpus-per-task", type=finite_float(0.0, 64.0), default=0.0, metavar="N",
                   help="GPUs each task asks for (default 0; e.g. 0.5 puts two tasks on one GPU)")
    g.add_argument("--retries", type=int_arg(0, 100), default=2, metavar="N",
                   help="times a task is resubmitted when its worker dies (default 2)")
    g.add_argument("--ship-code", action="store_true",
                   help="send this latentlab package with the job (a cluster whose nodes have the dependencies "
                        "but not this version of latentlab)")


def make_backend(args: argparse.Namespace):
    """The backend the Ray options ask for (a local Ray by default)."""
    from latentlab.core.sweep.engine import RayBackend, SequentialBackend

    if args.cpus_per_task <= 0 or args.gpus_per_task < 0 or args.retries < 0:
        raise_usage("--cpus-per-task must be > 0, --gpus-per-task and --retries >= 0")
    if args.sequential:
        if args.address:
            raise_usage("--sequential runs no Ray: drop --address")
        return SequentialBackend()
    return RayBackend(address=args.address, num_cpus=args.workers, ship_code=args.ship_code)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="metrics over many checkpoints, as Ray tasks, side by side",
        description="Evaluates each checkpoint's metrics as Ray tasks, one per (checkpoint, metric group), on a "
                    "local Ray or an existing cluster (--address), or in turn (--sequential). Figures already in "
                    "the results store are reused, so an interrupted sweep resumes where it stopped. A checkpoint "
                    "that fails to open or evaluate is reported and the sweep goes on. Generators without an "
                    "encoder: an InfoGAN is encoded by its Q head when its run's resume state is beside it; other "
                    "GANs are evaluated through inversion with --invert, or skipped with the reason.")
    p.add_argument("files", nargs="+", help="checkpoints (a training run's snapshots, a seed sweep, ...)")
    p.add_argument("--dataset", help="dataset for all (default: each card's)")
    p.add_argument("--metrics", default="mig,dci,sap,modularity,infomec",
                   help="comma-separated metric names, or 'all' (default: mig,dci,sap,modularity,infomec)")
    p.add_argument("--n", type=int_arg(10, limits.MAX_SAMPLES), default=10000, help="training points per checkpoint (default 10000)")
    seed_arg(p)
    p.add_argument("--representation", choices=("mean", "sampled"), default="mean")
    p.add_argument("--drop-passive", action="store_true")
    p.add_argument("--udr", action="store_true",
                   help="also UDR (Duan et al. 2020, Spearman and Lasso): model selection without ground truth, "
                        "comparing each model with the other seeds of its hyper-parameters")
    p.add_argument("--udr-groups", choices=("card", "all"), default="card",
                   help="card: seeds of the same training settings (from the model cards); all: every checkpoint "
                        "given is a seed of one setting")
    p.add_argument("--udr-n", type=int_arg(10, limits.MAX_SAMPLES), default=1000, help="observations each model encodes for UDR (default 1000)")
    p.add_argument("--invert", action="store_true",
                   help="evaluate GANs without a Q head through inversion (slow: an optimisation per image)")
    p.add_argument("--invert-steps", type=int_arg(1, limits.MAX_STEPS), default=100, help="optimisation steps per image with --invert")
    p.add_argument("--force", action="store_true", help="recompute even when stored results exist")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV (atomically)")
    arch_arg(p, "architecture, for plain state_dict files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    ray_args(p)
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_sweep)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def options_from(args: argparse.Namespace):
    from latentlab.core.metrics import parse_names
    from latentlab.core.sweep.evaluate import SweepOptions
    from latentlab.core.sweep.tasks import EvalSettings

    if args.n < 10:
        raise_usage(f"--n must be at least 10, got {args.n}")
    if args.udr_n < 10 or args.invert_steps < 0:
        raise_usage("--udr-n must be at least 10 and --invert-steps at least 0")
    settings = EvalSettings(dataset=args.dataset, n=args.n, seed=args.seed, representation=args.representation,
                            drop_passive=args.drop_passive, device=args.device, udr_n=args.udr_n)
    return SweepOptions(metrics=parse_names(args.metrics), settings=settings, invert=args.invert,
                        invert_config={"steps": args.invert_steps}, udr=args.udr, udr_groups=args.udr_groups,
                        force=args.force, trust=bool(trust_of(args)), arch=args.arch,
                        cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task, retries=args.retries)


def cmd_sweep(args: argparse.Namespace) -> int:
    from latentlab.core.jobs import JobContext, TextProgress
    from latentlab.core.sidecars import is_sidecar
    from latentlab.core.sweep.evaluate import SweepCancelled, run_sweep

    opts = options_from(args)
    skipped = [f for f in args.files if is_sidecar(f)]  # a checkpoint's flows / directions beside it in a glob
    if skipped:
        print(f"not checkpoints (flows / direction files), skipped: {', '.join(skipped)}", file=sys.stderr)
    files = [f for f in args.files if not is_sidecar(f)]
    backend = make_backend(args)
    bar = None if args.quiet or args.json else TextProgress(label=f"sweep ({backend.name})")
    try:
        report = run_sweep(files, opts, backend, JobContext(progress=bar) if bar else JobContext())
    except SweepCancelled as stop:
        from latentlab.core.jobs import end_progress_line

        end_progress_line()
        kept = sum(len(r.computed) for r in stop.report.rows)
        print(f"latentlab sweep: cancelled; {kept} figure(s) finished before were stored, nothing half-written; "
              "run the same command to resume", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        backend.close()
    if bar:
        bar.done()
    rows = [r.to_dict() for r in report.rows]
    if args.csv:
        _write_csv(args.csv, rows, report.columns)
    if args.json:
        print_json({"dataset": args.dataset, "seed": args.seed, "n": args.n, "columns": report.columns, "rows": rows,
                    "tasks": report.tasks, "backend": report.backend,
                    "failed": [{"task": f.label, "error": f.message} for f in report.summary.failed],
                    "retried": report.summary.retried})
    else:
        _print_table(report)
    opened = [r for r in report.rows if r.error is None]
    return 1 if not opened else 0


def _write_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    from latentlab.core.paths import atomic_write_bytes

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "name", "sha256", *columns, "error", "skipped", "note"],
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def _print_table(report) -> None:

    columns = report.columns
    width = max(12, *(len(c) + 2 for c in columns))
    print(f"{'checkpoint':<32}" + "".join(f"{c:>{width}}" for c in columns))
    for row in report.rows:
        label = printable(row.name or row.file)
        label = label if len(label) <= 31 else label[:30] + "…"
        if row.error is not None:
            print(f"{label:<32}error: {printable(row.error)}")
            continue
        if row.skipped is not None:
            print(f"{label:<32}{printable(row.skipped)}")
            continue
        print(f"{label:<32}" + "".join(f"{_fmt(row.values.get(c)):>{width}}" for c in columns))
        if row.note:
            print(f"{'':<32}{printable(row.note)}")
        for name, msg in row.metric_errors.items():
            print(f"{'':<32}{name}: {printable(msg)}")
        for note in row.store_notes:
            print(f"{'':<32}{printable(note)}")
    s = report.summary
    stored = sum(len(r.stored) for r in report.rows)
    where = "in this process" if report.backend == "sequential" else "on Ray"
    line = f"{report.tasks} task(s) {where}, {stored} figure(s) from the results store"
    if s.failed:
        line += f", {len(s.failed)} task(s) failed"
    print(line, file=sys.stderr)
    for r in s.retried:
        print(f"  {printable(r)}", file=sys.stderr)
