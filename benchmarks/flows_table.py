"""Train potential flows on the dSprites demo models and print the evaluation table.

For each checkpoint: train K potentials (or reuse a flows file from an earlier run of this script when its
card matches the checkpoint and the asked-for hyper-parameters), then print per-factor changes along each
potential's paths beside the linear baselines (PCA, SeFa, supervised normals), and distinctness.

    python benchmarks/flows_table.py latentlab/models/vae-dsprites.safetensors latentlab/models/beta-vae-dsprites.safetensors \
        --k 8 --steps 1500 --threads 2

Prints wall-clock times of training and evaluation; figures depend on --steps, --k and --seed. With
``--flows FILE`` (one per checkpoint) it evaluates flows trained elsewhere (e.g. by ``latentlab flows train``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentlab.core.checkpoint import open_checkpoint  # noqa: E402
from latentlab.core.data import get_dataset  # noqa: E402
from latentlab.core.flows import (  # noqa: E402
    FlowConfig,
    FlowsFileError,
    evaluate_flows,
    format_table,
    load_flows,
    save_flows,
    train,
)
from latentlab.core.jobs import JobContext, TextProgress  # noqa: E402
from latentlab.core.paths import cache_dir  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--pde", default="wave")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--flows-dir", help="where flows files are kept between runs (default: the latentlab cache)")
    p.add_argument("--retrain", action="store_true", help="train even when a matching flows file exists")
    p.add_argument("--flows", action="append", metavar="FILE",
                   help="evaluate this flows file (one per checkpoint, in order) instead of training")
    p.add_argument("--n-starts", type=int, default=128)
    p.add_argument("--classifier-steps", type=int, default=300)
    args = p.parse_args(argv)
    flows_dir = Path(args.flows_dir) if args.flows_dir else cache_dir() / "flows-bench"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if args.flows and len(args.flows) != len(args.checkpoints):
        p.error("give one --flows file per checkpoint")
    for i, path in enumerate(args.checkpoints):
        ck = open_checkpoint(path, device=args.device)
        if args.flows:
            flows = load_flows(args.flows[i], checkpoint_sha256=ck.sha256, latent_dim=ck.info.latent_dim)
            print(f"evaluating {args.flows[i]} ({flows.n_potentials} potentials, {flows.step} steps)")
            _evaluate(ck, flows, path, args)
            continue
        cfg = FlowConfig(n_potentials=args.k, steps=args.steps, batch_size=args.batch_size, horizon=args.horizon,
                         pde=args.pde, lr=args.lr, seed=args.seed, device=args.device)
        out = flows_dir / f"{Path(path).stem}.k{args.k}.{args.pde}.s{args.seed}.flows.safetensors"
        flows = None
        if out.exists() and not args.retrain:
            try:
                flows = load_flows(out, checkpoint_sha256=ck.sha256, latent_dim=ck.info.latent_dim)
            except FlowsFileError as exc:
                print(f"not reusing {out}: {exc}")
            keys = ("n_potentials", "batch_size", "horizon", "pde", "lr", "seed", "weights", "eta", "hidden")
            if flows is not None and any(getattr(flows.config, k) != getattr(cfg, k) for k in keys):
                print(f"not reusing {out}: it was trained with other hyper-parameters")
                flows = None
        if flows is not None and flows.step < args.steps:
            print(f"resuming {out} from step {flows.step} to {args.steps}")
        if flows is None or flows.step < args.steps:
            bar = TextProgress(label=f"flows {Path(path).stem}")
            t0 = time.monotonic()
            flows = train(ck.model, cfg, JobContext(progress=bar), checkpoint_sha256=ck.sha256, checkpoint_file=path,
                          resume_from=flows)
            bar.done()
            save_flows(flows, out)
            print(f"trained {args.k} {args.pde} potentials for {args.steps} steps (batch {args.batch_size}, horizon "
                  f"{args.horizon}) in {time.monotonic() - t0:.0f} s this run, {flows.seconds:.0f} s in all -> {out}")
        _evaluate(ck, flows, path, args)
    return 0


def _evaluate(ck, flows, path, args) -> None:
    """Print the evaluation table of ``flows`` on checkpoint ``ck``."""
    last = flows.history[-1] if flows.history else {}
    print("final training losses: " + "  ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step"))
    ds = get_dataset(ck.info.dataset or "dsprites")
    bar = TextProgress(label="evaluate")
    ev = evaluate_flows(ck.model, flows, ds, n_starts=args.n_starts, classifier_steps=args.classifier_steps,
                        seed=args.seed, ctx=JobContext(progress=bar))
    bar.done()
    print(f"\n== {Path(path).name} ({ck.info.latent_dim} latents) + {flows.n_potentials} {flows.config.pde} "
          f"potentials, {flows.step} steps; paths of {ev.params['steps']} steps; linear baselines travel "
          f"{ev.params['linear_length']:.2f} (the flows' median); evaluation {ev.params['seconds']:.0f} s ==")
    print(format_table(ev))
    print()


if __name__ == "__main__":
    sys.exit(main())
