"""Which factors each latent of a demo model carries: the normalised mutual information I(z_j; f_k) / H(f_k)
between each latent's posterior mean and each ground-truth factor (20 bins, as MIG computes it), the
latent's activity label, and the factor it carries most. Usage:

    python models/latent_factors.py models/beta-tcvae-shapes3d.safetensors [--n 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from latentlab.core.metrics import evaluate

LABELS = ("active", "mixed", "passive")


def latent_factor_table(path: str, n: int = 10000, seed: int = 0) -> str:
    res = evaluate(path, None, ["mig", "activity"], n=n, seed=seed, store=False, device="cpu")
    mig, act = res["mig"], res["activity"]
    nmi = mig.arrays["mi"] / np.maximum(mig.arrays["factor_entropy"][None, :], 1e-12)  # latents x factors
    factors = mig.factor_names
    width = max(8, *(len(f) for f in factors)) + 1
    lines = [f"{'latent':<8}{'activity':<9}" + "".join(f"{f:>{width}}" for f in factors) + "   carries"]
    for j, name in enumerate(mig.latent_names):
        row = nmi[j]
        top = int(np.argmax(row))
        carries = f"{factors[top]} ({row[top]:.2f})" if row[top] >= 0.1 else "-"
        lines.append(f"{name:<8}{LABELS[int(act.arrays['labels'][j])]:<9}"
                     + "".join(f"{v:>{width}.2f}" for v in row) + f"   {carries}")
    lines.append(f"MIG {mig.values['mig']:.3f} on {n} points (seed {seed}); cells: I(z; factor) / H(factor)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(latent_factor_table(args.checkpoint, args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
