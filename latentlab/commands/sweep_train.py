"""``latentlab sweep-train CONFIG.toml`` (also ``latentlab train --grid CONFIG.toml``): a training grid as Ray
tasks, each run resumable, then evaluated like ``latentlab sweep``."""

from __future__ import annotations

import argparse
import signal
import sys
import uuid

from latentlab.commands.common import device_arg, json_arg, print_json, raise_usage
from latentlab.commands.sweep import EXIT_CANCELLED, _print_table, make_backend, ray_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep-train", help="train a grid of runs (archs x hyper-parameters x seeds) as Ray tasks, then evaluate",
        description="Trains every run of the grid in CONFIG (a TOML file; see latentlab/core/sweep/grid.py or the "
                    "README) as Ray tasks, each keeping a resume state and writing its checkpoint atomically, then "
                    "evaluates the finished runs like `latentlab sweep` (the [evaluate] table). Run it again to "
                    "continue: finished runs are skipped, interrupted ones resume. Ctrl+C stops every run at its "
                    "next step with its state kept; a second Ctrl+C stops at once.")
    add_grid_args(p)
    p.add_argument("config", help="the grid, a .toml file")
    p.set_defaults(func=cmd_sweep_train)


def add_grid_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-evaluate", action="store_true", help="train only, even if CONFIG has an [evaluate] table")
    p.add_argument("--list", action="store_true", help="print the runs and what each needs, and stop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if not any(a.dest == "sequential" for a in p._actions):
        ray_args(p)
    if not any(a.dest == "json" for a in p._actions):
        json_arg(p)
    if not any(a.dest == "device" for a in p._actions):
        device_arg(p)


def _evaluate_options(grid, args: argparse.Namespace):
    from latentlab.core.metrics import parse_names
    from latentlab.core.sweep.evaluate import SweepOptions
    from latentlab.core.sweep.tasks import EvalSettings

    e = dict(grid.evaluate or {})
    try:
        settings = EvalSettings(dataset=e.get("dataset"), n=int(e.get("n", 10000)), seed=int(e.get("seed", 0)),
                                representation=str(e.get("representation", "mean")), device=args.device,
                                udr_n=int(e.get("udr_n", 1000)))
        return SweepOptions(metrics=parse_names(e.get("metrics", "mig,dci,sap,modularity,infomec")),
                            settings=settings, udr=bool(e.get("udr", False)), invert=bool(e.get("invert", False)),
                            cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task, retries=args.retries)
    except (TypeError, ValueError) as exc:
        raise_usage(f"{grid.source}: [evaluate]: {exc}")


class _GentleStop:
    """First Ctrl+C: ask every run to stop at its next step (state kept); a second one interrupts at once."""

    def __init__(self, stop_file) -> None:
        self.requested = False
        self.stop_file = stop_file
        self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        try:
            self.stop_file.touch()  # runs training in this process see it too (workers see it on the shared folder)
        except OSError:
            pass
        print("\nlatentlab sweep-train: stopping every run at its next step (Ctrl+C again to stop at once)",
              file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested

    def uninstall(self) -> None:
        signal.signal(signal.SIGINT, self._old)


def cmd_sweep_train(args: argparse.Namespace) -> int:
    from latentlab.core.jobs import JobContext, TextProgress
    from latentlab.core.sweep.grid import load_grid
    from latentlab.core.sweep.train_grid import GridCancelled, run_state, train_grid

    grid = load_grid(args.config)
    if getattr(args, "device", None) and args.device != "auto":
        for spec in grid.runs:
            spec.config.device = args.device
    if args.list:
        for spec in grid.runs:
            state, step = run_state(spec)
            print(f"{spec.name:<60} {state:<9} step {step}/{spec.config.steps}")
        return 0
    evaluate = None if args.no_evaluate or grid.evaluate is None else _evaluate_options(grid, args)
    backend = make_backend(args)
    bar = None if args.quiet or args.json else TextProgress(label=f"sweep-train ({backend.name})")
    grid.out.mkdir(parents=True, exist_ok=True)
    stop = _GentleStop(grid.out / f".latentlab-stop-{uuid.uuid4().hex[:12]}")
    ctx = JobContext(progress=bar, should_stop=stop) if bar else JobContext(should_stop=stop)
    try:
        report = train_grid(grid, backend, ctx, args.cpus_per_task, args.gpus_per_task, args.retries, evaluate,
                            stop_file=stop.stop_file)
    except GridCancelled as exc:
        from latentlab.core.jobs import end_progress_line

        end_progress_line()
        _print_runs(exc.report.runs, grid)
        print("latentlab sweep-train: stopped; finished checkpoints are complete, interrupted runs kept their resume "
              "state; run the same command to continue", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        stop.uninstall()
        backend.close()
    if bar:
        bar.done()
    if args.json:
        print_json({"out": str(grid.out), "runs": report.runs,
                    "evaluation": None if report.evaluation is None else
                    {"columns": report.evaluation.columns, "rows": [r.to_dict() for r in report.evaluation.rows]}})
    else:
        _print_runs(report.runs, grid)
        if report.evaluation is not None:
            _print_table(report.evaluation)
    return 1 if any(r.get("state") == "failed" for r in report.runs) else 0


def _print_runs(runs: list[dict], grid) -> None:
    from latentlab.core.text import printable

    print(f"runs in {grid.out}:", file=sys.stderr)
    for r in runs:
        line = f"  {r['run']:<60} {r.get('state', '?'):<9} step {r.get('step', 0)}"
        if r.get("error"):
            line += f"  error: {printable(r['error'])}"
        print(line, file=sys.stderr)
