"""Smoke test of the PyInstaller bundle (run by ``make bundle``): the bundled executable, started from a
folder outside the checkout with a fresh data folder and no Python path, prints its version, reads a demo
model's card, passes ``latentlab doctor``, opens the app offscreen on the demo models, renders one frame and
exits 0. Prints the bundle's size and its largest parts.

    python packaging/smoke_test.py dist/latentlab
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT_S = 300


def run(exe: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    print(f"  latentlab {' '.join(args)}: exit {proc.returncode} in {time.perf_counter() - t0:.1f} s")
    if proc.returncode != 0:
        sys.exit(f"bundle smoke test failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def report_size(bundle: Path) -> None:
    internal = bundle / "_internal"
    parts = sorted(((tree_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in internal.iterdir()),
                   reverse=True)
    total = tree_size(bundle)
    print(f"bundle size: {total / 1e6:.0f} MB in {sum(1 for _ in bundle.rglob('*'))} files ({bundle})")
    print("largest parts: " + ", ".join(f"{name} {size / 1e6:.0f} MB" for size, name in parts[:8]))


def main() -> int:
    bundle = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/latentlab").resolve()
    exe = bundle / ("latentlab.exe" if sys.platform == "win32" else "latentlab")
    if not exe.is_file():
        sys.exit(f"{exe}: no bundle there; build it with `make bundle`")
    with tempfile.TemporaryDirectory(prefix="latentlab-bundle-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "LATENTLAB_MODELS")}
        env.update(LATENTLAB_HOME=str(tmp / "home"), QT_QPA_PLATFORM="offscreen")
        print(f"smoke test of {exe}")
        version = run(exe, "--version", cwd=tmp, env=env).stdout.strip()
        doctor = json.loads(run(exe, "doctor", "--json", cwd=tmp, env=env).stdout)
        models = doctor["sections"]["demo_models"]
        if doctor["sections"]["latentlab"]["kind"] != "bundle" or not models["models"]:
            sys.exit(f"the bundle does not see itself as one, or has no demo models: {doctor['sections']}")
        first = Path(models["folder"]) / models["models"][0]["file"]
        card = json.loads(run(exe, "info", str(first), "--json", cwd=tmp, env=env).stdout)
        frame = tmp / "frame.png"
        shown = json.loads(run(exe, "gui", "--exit-after-frame", str(frame), cwd=tmp, env=env).stdout.splitlines()[-1])
        if not frame.is_file() or not Path(shown["path"]).is_relative_to(bundle) or shown["icons_broken"]:
            sys.exit(f"no frame, a model from outside the bundle, or icons that do not draw: {shown}")
        print(f"  {version}; {len(models['models'])} demo models; {card['card']['architecture']} card read; "
              f"frame {shown['shape']} of {Path(shown['path']).name}; every icon draws")
    report_size(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
