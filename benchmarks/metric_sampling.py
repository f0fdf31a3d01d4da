"""The BetaVAE and FactorVAE scores with fresh votes (the reference protocol) and with pooled votes, per seed.

For each checkpoint: the scores over ``--seeds`` seeds in both sampling modes, their means and seed-to-seed
standard deviations, and the pooled mode's bias (pooled mean - fresh mean). One encoding memo serves every
seed and both metrics, so the fresh mode encodes each dataset image at most once per checkpoint.

    python benchmarks/metric_sampling.py models/vae-dsprites.safetensors --seeds 5 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from latentlab.core.checkpoint import open_checkpoint  # noqa: E402
from latentlab.core.data import get_dataset  # noqa: E402
from latentlab.core.encode import FactorEncodings, representation_fn  # noqa: E402
from latentlab.core.metrics import compute, prepare_inputs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--n", type=int, default=10000, help="encoded points the pooled mode draws from")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for path in args.checkpoints:
        ck = open_checkpoint(path, device="cpu")
        ds = get_dataset(ck.info.dataset)
        memo = FactorEncodings(ck.model, ds)
        scores: dict[str, list[float]] = {}
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            inputs = prepare_inputs(ck.model, ds, n=args.n, seed=seed)
            fn = representation_fn(ck.model, ds, "mean", seed, encodings=memo)
            inputs.represent = lambda f, kind, fn=fn: fn(f)
            for mode in ("fresh", "pool"):
                res = compute(["betavae", "factorvae"], inputs, {m: {"sampling": mode} for m in ("betavae", "factorvae")},
                              seed=seed)
                for m in ("betavae", "factorvae"):
                    scores.setdefault(f"{m} {mode}", []).append(res[m].values[m])
            print(f"{Path(path).name} seed {seed}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()),
                  flush=True)
        print(f"\n{Path(path).name}: {args.seeds} seeds, {time.perf_counter() - t0:.0f} s, "
              f"{memo.encoded} images encoded for the fresh votes")
        print(f"{'score':<12}{'fresh mean':>11}{'fresh sd':>10}{'pool mean':>11}{'pool sd':>9}{'pool bias':>11}{'sd ratio':>10}")
        for m in ("betavae", "factorvae"):
            fr, po = np.array(scores[f"{m} fresh"]), np.array(scores[f"{m} pool"])
            ratio = po.std(ddof=1) / fr.std(ddof=1) if fr.std(ddof=1) > 0 else float("nan")
            print(f"{m:<12}{fr.mean():>11.4f}{fr.std(ddof=1):>10.4f}{po.mean():>11.4f}{po.std(ddof=1):>9.4f}"
                  f"{po.mean() - fr.mean():>+11.4f}{ratio:>10.2f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
