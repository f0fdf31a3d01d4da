"""Metrics speed: the whole suite on 10,000 points of a demo model (encoding included), and the DCI with
scikit-learn's GradientBoostingClassifier (disentanglement_lib's reference) next to our fast estimator.

    python benchmarks/metrics_speed.py [--checkpoint latentlab/models/beta-vae-dsprites.safetensors] [--cores 2]
        [--n 10000] [--skip-gbt] [--fixtures [N]]

Prints every figure of the suite with its time, then both DCIs, both times, their ratio and |dD|, |dC|.
Without --checkpoint it uses latentlab/models/beta-vae-dsprites.safetensors, or trains a small beta-VAE once (a few
minutes, kept in the cache directory). --fixtures adds the two DCIs on the synthetic codes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def limit_cores(cores: int) -> None:
    """Run on ``cores`` CPUs (affinity where the OS allows) and size every thread pool to match."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        os.sched_setaffinity(0, cpus)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(cores)


def demo_checkpoint(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    from latentlab.core.resources import shipped_models_dir

    shipped = shipped_models_dir() / "beta-vae-dsprites.safetensors"
    if shipped.exists():
        return shipped
    from latentlab.core.paths import cache_dir
    from latentlab.core.train import TrainConfig, train_to_file

    out = cache_dir() / "bench-beta_vae-dsprites-small.safetensors"
    if not out.exists():
        print(f"no demo model; training a small beta-VAE on dSprites into {out} (once, a few minutes)", flush=True)
        cfg = TrainConfig(arch="beta_vae", dataset="dsprites", steps=3000, latent_dim=8, seed=0, device="cpu",
                          objective={"beta": 4.0}, network={"base": 8, "hidden": 64}, threads=2)
        train_to_file(cfg, out)
    return out


def dci_line(label: str, res) -> str:
    v = res.values
    return (f"  {label:<34} D={v['dci_disentanglement']:.4f}  C={v['dci_completeness']:.4f}  "
            f"I(test)={v['dci_informativeness']:.4f}  time {res.seconds:7.1f}s")


def compare_fixtures(n: int) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from metric_fixtures import code_inputs

    from latentlab.core.metrics import compute

    print(f"\nsynthetic fixtures ({n} training points, 5 classes per factor):")
    for kind, noise in (("identity", 0.0), ("identity", 0.15), ("duplicated", 0.0), ("rotated", 0.15)):
        sizes = (5,) * (4 if kind == "rotated" else 5)
        inputs = code_inputs(kind, n=n, sizes=sizes, noise=noise)
        fast = compute(["dci"], inputs, {"dci": {"estimator": "fast"}})["dci"]
        gbt = compute(["dci"], inputs, {"dci": {"estimator": "gbt"}})["dci"]
        dd = abs(fast.values["dci_disentanglement"] - gbt.values["dci_disentanglement"])
        dc = abs(fast.values["dci_completeness"] - gbt.values["dci_completeness"])
        print(f" {kind} (noise {noise}):  |dD|={dd:.4f}  |dC|={dc:.4f}")
        print(dci_line("gbt", gbt))
        print(dci_line("fast", fast))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--dataset", help="default: the card's")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-gbt", action="store_true", help="do not run the (minutes-long) reference DCI")
    ap.add_argument("--fixtures", type=int, nargs="?", const=2000, default=0,
                    help="also compare the DCIs on synthetic codes (N points, default 2000)")
    args = ap.parse_args()
    limit_cores(args.cores)

    import torch

    torch.set_num_threads(args.cores)
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.data import get_dataset
    from latentlab.core.metrics import DEFAULT_SUITE, METRICS, compute, prepare_inputs

    path = demo_checkpoint(args.checkpoint)
    t0 = time.perf_counter()
    ck = open_checkpoint(path, device="cpu")
    dataset = get_dataset(args.dataset or ck.info.dataset or "dsprites")
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    inputs = prepare_inputs(ck.model, dataset, n=args.n, seed=args.seed)
    t_encode = time.perf_counter() - t1
    t2 = time.perf_counter()
    results = compute(DEFAULT_SUITE, inputs, {"dci": {"n_jobs": args.cores}}, seed=args.seed)
    t_metrics = time.perf_counter() - t2
    total = t_load + t_encode + t_metrics

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"checkpoint {path.name}  dataset {dataset.name}  {args.n} training + {inputs.test.n} test points  "
          f"cores {cpus}  torch threads {torch.get_num_threads()}  load avg {os.getloadavg()[0]:.2f}")
    print(f"{'metric':<14}{'figure':<28}{'value':>10}{'time':>9}")
    for name, res in results.items():
        for key in METRICS[name].keys:
            print(f"{name:<14}{key:<28}{res.values[key]:>10.4f}{res.seconds:>8.2f}s")
    print(f"load {t_load:.1f}s + encode {t_encode:.1f}s + metrics {t_metrics:.1f}s = whole suite {total:.1f}s "
          f"(target < 60 s on 2 cores)", flush=True)

    fast = results["dci"]
    print("\nDCI on the same encoded points:")
    print(dci_line("fast (histogram boosting, default)", fast))
    if not args.skip_gbt:
        gbt = compute(["dci"], inputs, {"dci": {"estimator": "gbt", "n_jobs": args.cores}}, seed=args.seed)["dci"]
        print(dci_line("gbt (GradientBoostingClassifier)", gbt))
        dd = abs(fast.values["dci_disentanglement"] - gbt.values["dci_disentanglement"])
        dc = abs(fast.values["dci_completeness"] - gbt.values["dci_completeness"])
        print(f"  |dD| = {dd:.4f}  |dC| = {dc:.4f}  (tolerance 0.03)   "
              f"gbt / fast time = {gbt.seconds / max(fast.seconds, 1e-9):.1f}x")
    if args.fixtures:
        compare_fixtures(args.fixtures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
