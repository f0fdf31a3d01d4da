"""How long the factor-dataset replicas take to render 10,000 random images (cold and warm).

    python benchmarks/dataset_render.py [--n 10000] [--repeats 5]

dSprites is rendered analytically on demand; 3D Shapes ray-casts each of its 480 geometries once (cached in
the user cache folder), so its first run on a machine is slower than the rest.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from latentlab.core.data import get_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name in ("dsprites", "shapes3d", "xyobject"):
        ds = get_dataset(name)
        times = []
        for r in range(args.repeats + 1):
            f = ds.sample_factors(args.n, np.random.default_rng(r))
            t0 = time.perf_counter()
            ds.images(f)
            times.append(time.perf_counter() - t0)
        warm = times[1:]
        print(f"{name:9s} {args.n} images: first {times[0]:.3f} s, then median {np.median(warm):.3f} s "
              f"(min {min(warm):.3f} s) over {len(warm)} runs")


if __name__ == "__main__":
    main()
