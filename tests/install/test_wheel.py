"""The wheel and sdist ``python -m build`` makes: built from this checkout, installed into a fresh virtual
environment, and run from a folder outside the checkout with nothing of the checkout on the path.

The new environment sees the test environment's packages (torch, PySide6, ...) through a ``.pth`` file, so
nothing is downloaded; latentlab itself comes only from the wheel. Prints how long each stage took.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlab import __version__
from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.resources import is_sidecar
from tests.conftest import ROOT
from tests.ui.conftest import decoded

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def clean_env() -> dict[str, str]:
    """The environment without anything that would put the checkout (or its egg-info) on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LATENTLAB_MODELS")}


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, **kw)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def package_data() -> set[str]:
    """Every file the installed package must carry besides its modules."""
    out = set()
    for folder in ("resources", "models"):
        for path in (ROOT / "latentlab" / folder).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                out.add(path.relative_to(ROOT).as_posix())
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    times = {}
    tmp = tmp_path_factory.mktemp("wheel")
    t0 = time.perf_counter()
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(ROOT)])
    times["build"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    wheel = next((tmp / "dist").glob("*.whl"))
    run([sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "install", "-q",
         "--no-deps", "--no-index", "--ignore-installed", str(wheel)], env=clean_env(), cwd=tmp)
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       env=clean_env(), cwd=tmp).stdout.strip())
    # torch, PySide6 and the rest from the test environment: its site folders, never the checkout.
    outer = [p for p in [*site.getsitepackages(), site.getusersitepackages()]
             if Path(p).is_dir() and Path(p).resolve() != ROOT.resolve()]
    (purelib / "zz_test_environment.pth").write_text("\n".join(outer) + "\n")
    times["install"] = time.perf_counter() - t0

    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = clean_env()
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", LATENTLAB_HOME=str(tmp / "home"),
               QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp / "xdg"))
    yield {"tmp": tmp, "wheel": wheel, "sdist": next((tmp / "dist").glob("*.tar.gz")), "bin": python.parent,
           "purelib": purelib, "cwd": elsewhere, "env": env, "times": times}


def test_the_wheel_and_the_sdist_carry_the_resources_models_and_licence(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
    assert package_data() <= names, sorted(package_data() - names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.endswith("render_traversal.py") for n in names)
    with tarfile.open(installed["sdist"]) as sdist:
        inside = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "pyproject.toml", "packaging/latentlab.spec", "tests/install/test_wheel.py"} <= inside
    assert package_data() <= inside


def test_the_installed_app_runs_from_outside_the_checkout(installed, capsys):
    t0 = time.perf_counter()
    exe, cwd, env = str(installed["bin"] / "latentlab"), installed["cwd"], installed["env"]
    site_dir = installed["purelib"]
    assert run([exe, "--version"], cwd=cwd, env=env).stdout.strip() == f"latentlab {__version__}"

    doctor = json.loads(run([exe, "doctor", "--json"], cwd=cwd, env=env).stdout)["sections"]
    assert doctor["latentlab"]["kind"] == "installed package"
    assert Path(doctor["latentlab"]["package"]) == site_dir / "latentlab"
    assert doctor["qt"]["status"] == "ok"
    models = Path(doctor["demo_models"]["folder"])
    assert models == site_dir / "latentlab" / "models"
    shipped = sorted(p.name for p in (ROOT / "latentlab" / "models").glob("*.safetensors") if not is_sidecar(p))
    # The flagship's series travels with the wheel: the sweep and the series panel read it from there.
    series = sorted(p.name for p in (ROOT / "latentlab" / "models").glob("*.series/*.safetensors"))
    assert series and sorted(p.name for p in models.glob("*.series/*.safetensors")) == series
    assert [m["file"] for m in doctor["demo_models"]["models"]] == shipped

    card = json.loads(run([exe, "info", str(models / shipped[0]), "--json"], cwd=cwd, env=env).stdout)
    assert card["format"] == "safetensors" and card["card"]["architecture"]

    png = installed["tmp"] / "frame.png"
    shown = json.loads(run([exe, "gui", "--exit-after-frame", str(png)], cwd=cwd, env=env).stdout.splitlines()[-1])
    assert Path(shown["package"]) == site_dir / "latentlab"
    path = Path(shown["path"])
    assert path.parent == models and path.name == shipped[0]
    assert shown["icons_broken"] == []
    ready = next(s for s in shown["startup"] if s["step"] == "ready")
    assert not ready["torch_loaded"], "the window must come up before torch is imported"
    original = ROOT / "latentlab" / "models" / path.name
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(original.read_bytes()).digest()
    expected = decoded(open_checkpoint(original, device="cpu").model, np.array(shown["latent"], np.float32))
    frame = np.asarray(Image.open(png))
    assert frame.shape == expected.shape and np.abs(frame.astype(int) - expected).max() <= 1

    out = run([exe, "install-desktop"], cwd=cwd, env=env).stdout
    entry = (installed["tmp"] / "xdg" / "applications" / "latentlab.desktop").read_text()
    assert f"Exec={exe} gui %F" in entry.splitlines(), out
    times = installed["times"]
    times["checks"] = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nwheel test: build {times['build']:.1f} s, venv + install {times['install']:.1f} s, "
              f"version/doctor/info/gui/install-desktop {times['checks']:.1f} s, total {sum(times.values()):.1f} s")
