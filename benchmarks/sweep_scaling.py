"""The same 8-checkpoint evaluation in turn, then on a local Ray with 1 and 2 workers; prints the speed-ups.

Eight zoo β-VAEs at the demo models' size (random weights, seeds 0-7), metrics MIG, SAP, Modularity and
InfoMEC on ``--n`` points each: three tasks per checkpoint (the sweep's metric groups), 24 in all. Nothing
is read from or written to a results store, so every configuration computes everything. Each Ray cluster is
started and its workers warmed (latentlab and torch imported) before the clock starts; that start-up is
printed on its own. The figures of every configuration are checked to be identical.

    python benchmarks/sweep_scaling.py [--n 2000] [--checkpoints 8]

Target (issue 19): at least 1.7x with 2 workers against the sequential run, on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ["mig", "sap", "modularity", "infomec"]


def make_checkpoints(folder: Path, count: int) -> list[str]:
    import torch

    from latentlab.core.checkpoint import make_card, save_checkpoint
    from latentlab.core.model import ModelInfo
    from latentlab.core.zoo import build_network

    files = []
    for seed in range(count):
        torch.manual_seed(seed)
        model = build_network("beta_vae", latent_dim=10, channels=1)
        model.info = ModelInfo(f"beta-vae seed {seed}", 10, (1, 64, 64), dataset="dsprites",
                               factor_names=("shape", "scale", "orientation", "posX", "posY"))
        files.append(str(save_checkpoint(model.eval(), folder / f"seed{seed}.safetensors", make_card(model))))
    return files


def _warm() -> int:
    import torch  # noqa: F401

    import latentlab.core.sweep.tasks  # noqa: F401  (what the first real task would import)

    return os.getpid()


def busy_elsewhere() -> str:
    """Other processes using the CPU right now (this machine is shared), from two /proc samples 1 s apart."""
    def sample() -> dict[int, tuple[str, int]]:
        out = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    name = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                out[int(pid)] = (name[:90], int(fields[11]) + int(fields[12]))
        return out

    a = sample()
    time.sleep(1.0)
    b = sample()
    tick = os.sysconf("SC_CLK_TCK")
    busy = sorted(((b[p][1] - a[p][1]) / tick, b[p][0]) for p in b if p in a and p != os.getpid())
    busy = [(cpu, name) for cpu, name in busy if cpu > 0.05][::-1][:4]
    return "; ".join(f"{100 * cpu:.0f}% {name}" for cpu, name in busy) or "nothing"


def run(files: list[str], n: int, backend) -> tuple[float, dict]:
    from latentlab.core.sweep.evaluate import SweepOptions, run_sweep
    from latentlab.core.sweep.tasks import EvalSettings

    opts = SweepOptions(metrics=list(METRICS), settings=EvalSettings(dataset="dsprites", n=n, device="cpu"))
    t0 = time.perf_counter()
    report = run_sweep(files, opts, backend, store=False)
    seconds = time.perf_counter() - t0
    assert not report.summary.failed, report.summary.failed
    return seconds, {r.file: r.values for r in report.rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="training points per checkpoint (default 2000)")
    ap.add_argument("--checkpoints", type=int, default=8)
    args = ap.parse_args()

    import ray
    import torch

    from latentlab.core.sweep.engine import RayBackend, SequentialBackend

    print(f"load average before: {os.getloadavg()}; busy besides this script: {busy_elsewhere()}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_checkpoints(Path(tmp), args.checkpoints)
        _warm()
        seq, reference = run(files, args.n, SequentialBackend())
        print(f"sequential (this process, torch's default {torch.get_num_threads()} threads): {seq:.1f} s for "
              f"{len(files)} checkpoints x {len(METRICS)} metrics, n={args.n}")
        default_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what a Ray worker with one CPU gets (Ray sets OMP_NUM_THREADS to its CPUs)
        seq1, values = run(files, args.n, SequentialBackend())
        torch.set_num_threads(default_threads)
        assert values == reference, "one thread gave other figures"
        print(f"sequential, torch on 1 thread: {seq1:.1f} s")
        times = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            ray.get([ray.remote(_warm).remote() for _ in range(workers)])
            start_up = time.perf_counter() - t0
            backend = RayBackend()
            try:
                times[workers], values = run(files, args.n, backend)
            finally:
                backend.close()
                ray.shutdown()
            assert values == reference, "Ray's figures differ from the sequential ones"
            print(f"Ray, {workers} worker(s): {times[workers]:.1f} s (cluster start and worker warm-up {start_up:.1f} s, "
                  f"not counted); speed-up {seq / times[workers]:.2f}x against sequential")
    print(f"2 workers against 1: {times[1] / times[2]:.2f}x; against sequential: {seq / times[2]:.2f}x "
          f"(target >= 1.7x), against sequential on 1 thread: {seq1 / times[2]:.2f}x; figures identical in every run")
    print(f"load average after: {os.getloadavg()}; busy besides this script: {busy_elsewhere()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
