"""``latentlab metrics``: disentanglement metrics of a checkpoint on a factor dataset, kept in the results store."""

from __future__ import annotations

import argparse
import math

from latentlab.commands.common import (
    arch_arg,
    device_arg,
    echo,
    int_arg,
    json_arg,
    parse_kv,
    print_json,
    raise_usage,
    seed_arg,
    trust_arg,
    trust_of,
)
from latentlab.core import limits
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    from latentlab.core.metrics import METRICS

    p = sub.add_parser(
        "metrics", help="disentanglement metrics of a checkpoint (cached in the results store)",
        description="Metrics: " + "; ".join(f"{m.name}: {m.title}" for m in METRICS.values())
        + ". Results are stored keyed by checkpoint SHA-256, dataset, metric, parameters and seed; asking again "
        "prints the stored figures at once (--force recomputes).")
    p.add_argument("file", help="checkpoint (.safetensors, ...)")
    p.add_argument("--dataset", help="dsprites, shapes3d, xyobject or an original .npz/.h5 file (default: the card's)")
    p.add_argument("--metrics", default="all", help=f"comma-separated, or 'all' (default): {','.join(METRICS)}")
    p.add_argument("--n", type=int_arg(10, limits.MAX_SAMPLES), default=10000, help="training points (default 10000; test points: n/2)")
    p.add_argument("--n-test", type=int_arg(2, limits.MAX_SAMPLES), help="test points (default n/2)")
    p.add_argument("--representation", choices=("mean", "sampled"), default="mean",
                   help="posterior mean (default) or one sample z ~ q(z|x)")
    p.add_argument("--drop-passive", action="store_true", help="leave out passive (collapsed) latents")
    seed_arg(p)
    p.add_argument("--dci-estimator", choices=("fast", "gbt"), default="fast",
                   help="fast: histogram boosted trees (default); gbt: scikit-learn GradientBoosting, exactly "
                        "as disentanglement_lib (minutes)")
    p.add_argument("--set", action="append", metavar="METRIC.KEY=VALUE",
                   help="override a metric parameter, e.g. --set betavae.sampling=fresh")
    p.add_argument("--force", action="store_true", help="recompute even when stored results exist")
    p.add_argument("--no-store", action="store_true", help="neither read nor write the results store")
    arch_arg(p, "architecture, for plain state_dict files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_metrics)


def _params(args: argparse.Namespace) -> dict[str, dict]:
    from latentlab.core.metrics import METRICS

    out: dict[str, dict] = {"dci": {"estimator": args.dci_estimator}}
    for key, value in parse_kv(args.set).items():
        metric, _, name = key.partition(".")
        if metric not in METRICS or not name:
            raise_usage(f"--set expects METRIC.KEY=VALUE with METRIC one of {', '.join(METRICS)}; got {key!r}")
        if name not in METRICS[metric].defaults:
            raise_usage(f"{metric} has no parameter {name!r}; known: {', '.join(sorted(METRICS[metric].defaults))}")
        out.setdefault(metric, {})[name] = value
    return out


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "inf"
    return f"{v:.4f}"


def cmd_metrics(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.jobs import JobContext, TextProgress
    from latentlab.core.metrics import METRICS, evaluate, parse_names
    from latentlab.core.metrics.runner import FROM_STORE, summary_table

    names = parse_names(args.metrics)
    if args.n < 10:
        raise_usage(f"--n must be at least 10, got {args.n}")
    params = {k: v for k, v in _params(args).items() if k in names}
    ck = open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device=args.device)
    bar = None if args.quiet or args.json else TextProgress(label="metrics")
    ctx = JobContext(progress=bar) if bar else JobContext()
    results = evaluate(ck, args.dataset, names, n=args.n, n_test=args.n_test, representation=args.representation,
                       drop_passive=args.drop_passive, seed=args.seed, params=params,
                       store=not args.no_store, force=args.force, ctx=ctx)
    if bar:
        bar.done()
    if args.json:
        print_json({"file": str(ck.path), "sha256": ck.sha256, "dataset": args.dataset or ck.info.dataset,
                    "results": {n: r.to_dict() for n, r in results.items()}})
        return 0
    echo(f"{printable(display_name(ck.path))}  sha256 {ck.sha256[:12]}  dataset {printable(args.dataset or ck.info.dataset)}  "
          f"representation {args.representation}{'  passive dropped' if args.drop_passive else ''}  seed {args.seed}")
    echo(f"{'metric':<14}{'figure':<28}{'value':>10}{'time':>9}  source")
    for name, figure, value, seconds in summary_table(results):
        res = results[name]
        source = "stored" if FROM_STORE in res.notes else "computed"
        echo(f"{METRICS[name].name:<14}{figure:<28}{_fmt(value):>10}{seconds:>8.1f}s  {source}")
    act = results.get("activity")
    if act is not None and act.ok:
        labels = ["active", "mixed", "passive"]
        echo("latents: " + ", ".join(f"{printable(n, 80)}={labels[int(l)]}" for n, l in zip(act.latent_names, act.arrays["labels"], strict=True)))
    said: dict[str, list[str]] = {}  # one line per note, naming every metric it concerns
    for name, res in results.items():
        for note in res.notes:
            if note != FROM_STORE:
                said.setdefault(note, []).append(name)
    for note, names in said.items():
        echo(f"note ({', '.join(names)}): {printable(note)}")
    return 0
