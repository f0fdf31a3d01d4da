"""``latentlab doctor``: what a bug report needs to know about this installation, and what is wrong with it.

Each check returns a section: ``status`` ("ok", "warning" or "problem"), a one-line ``summary`` and its
details. Qt is examined in a child process (``latentlab doctor --qt-probe``): this module never imports Qt,
and a platform plugin that cannot load aborts the process that tried, which must not be this one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentlab import __version__
from latentlab.core import sysdeps
from latentlab.core.text import printable

OK, WARNING, PROBLEM = "ok", "warning", "problem"
QT_PROBE_TIMEOUT_S = 90
# The platform plugins a user of the app ends up on: headless, X11, Wayland.
PLATFORMS_USED = {"libqoffscreen.so", "libqxcb.so", "libqwayland.so", "libqwayland-egl.so", "libqwayland-generic.so"}
Section = dict[str, Any]


def _section(status: str, summary: str, **details: Any) -> Section:
    return {"status": status, "summary": summary, **details}


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.1f} GB"


# --- the interpreter and the package -------------------------------------------------------------------------

def install_kind(package_dir: Path) -> str:
    if getattr(sys, "frozen", False):
        return "bundle"
    if {"site-packages", "dist-packages"} & set(package_dir.parts):
        return "installed package"
    return "source checkout"


def check_latentlab() -> Section:
    import latentlab

    package = Path(latentlab.__file__).resolve().parent
    kind = install_kind(package)
    return _section(OK, f"{__version__} ({kind}, {package})", version=__version__, kind=kind, package=str(package))


def check_python() -> Section:
    return _section(OK, f"{platform.python_version()} ({sys.executable}) on {platform.system()} {platform.machine()}",
                    version=platform.python_version(), executable=sys.executable, platform=platform.platform())


# --- torch and the accelerators --------------------------------------------------------------------------------

def check_torch() -> Section:
    try:
        import torch
    except ImportError as exc:
        return _section(PROBLEM, f"cannot import torch ({exc})")
    hip = getattr(torch.version, "hip", None)
    build = ("CUDA " + torch.version.cuda) if torch.version.cuda else ("ROCm " + hip) if hip else "CPU"
    return _section(OK, f"{torch.__version__}, {build} build, {torch.get_num_threads()} CPU threads",
                    version=torch.__version__, build=build, cuda_build=torch.version.cuda,
                    threads=torch.get_num_threads())


def check_accelerators() -> Section:
    try:
        import torch
    except ImportError:
        return _section(WARNING, "torch missing: no accelerator check")
    devices: list[dict[str, Any]] = []
    available = torch.cuda.is_available()
    for i in range(torch.cuda.device_count() if available else 0):
        props = torch.cuda.get_device_properties(i)
        devices.append({"index": i, "name": props.name, "memory": props.total_memory,
                        "capability": f"{props.major}.{props.minor}"})
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if devices:
        names = ", ".join(f"cuda:{d['index']} {d['name']} ({_mb(d['memory'])})" for d in devices)
        summary = f"CUDA available: {names}"
    elif torch.version.cuda:
        summary = "CUDA build, but no usable GPU (driver missing, or CUDA_VISIBLE_DEVICES hides it); using the CPU"
    else:
        summary = "CPU-only torch build: models run on the CPU" + ("; Apple MPS available" if mps else "")
    return _section(OK, summary, cuda_available=available, devices=devices, mps_available=mps,
                    cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))


# --- Qt ------------------------------------------------------------------------------------------------------------

def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def probe_command() -> list[str]:
    """This same latentlab (the bundle's executable, or this interpreter on this package), asked to probe Qt."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "latentlab"]
    return [*base, "doctor", "--qt-probe"]  # latentlab.cli.main runs it without importing torch


def run_qt_probe(platform_name: str | None = None) -> dict[str, Any]:
    """Start a QGuiApplication in a child process; its JSON report, or ``{"error": ...}`` when it failed."""
    env = dict(os.environ)
    if platform_name:
        env["QT_QPA_PLATFORM"] = platform_name
    try:
        proc = subprocess.run(probe_command(), capture_output=True, text=True, env=env, timeout=QT_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"the Qt probe did not run ({exc})"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    reason = next((ln for ln in lines if "could not" in ln.lower() or "cannot" in ln.lower()), None)
    return {"error": reason or (lines[-1] if lines else f"exit status {proc.returncode}")}


def _platform_plugins(probe: dict[str, Any]) -> Path | None:
    if probe.get("plugins"):
        return Path(probe["plugins"]) / "platforms"
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"


def check_qt(probe: Callable[[str | None], dict[str, Any]] = run_qt_probe) -> Section:
    import importlib.util

    # A bundle carries PySide6 without its distribution metadata: then the probe says which version it is.
    pyside = _dist_version("PySide6-Essentials", "PySide6")
    if pyside is None and importlib.util.find_spec("PySide6") is None:
        return _section(PROBLEM, "PySide6 is not installed: the app cannot start")
    asked = os.environ.get("QT_QPA_PLATFORM")
    result = probe(None)
    if "error" not in result:
        how = "QT_QPA_PLATFORM" if asked else "Qt's default"
        return _section(OK, f"PySide6 {result.get('pyside6', pyside)}, Qt {result.get('qt')}; platform plugin "
                            f"'{result.get('platform')}' ({how}) starts", pyside6=pyside, probe=result)
    fallback = probe("offscreen") if asked != "offscreen" else result
    headless = "error" not in fallback
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    status = PROBLEM if display or asked or not headless else WARNING
    summary = f"PySide6 {pyside or fallback.get('pyside6', '?')}: the {asked or 'default'} platform plugin does not start: {result['error']}"
    if headless and not asked:
        summary += "; 'offscreen' does (no display here: the GUI needs one, scripts and tests run headless)"
    return _section(status, summary, pyside6=pyside, probe=result, offscreen=fallback, display=display)


def check_system_libraries(plugins: Path | None) -> Section:
    cache = sysdeps.linker_cache() if sys.platform.startswith("linux") else None
    if cache is None:
        return _section(OK, "not checked (no ldconfig: not a glibc Linux)")
    missing_offscreen = sysdeps.missing_packages(sysdeps.OFFSCREEN, cache)
    missing_desktop = sysdeps.missing_packages(sysdeps.DESKTOP, cache)
    unresolved = {}
    if plugins is not None:
        for lib in sorted(p for p in plugins.glob("libq*.so") if p.name in PLATFORMS_USED):
            libs = sysdeps.unresolved_libraries(lib)
            if libs:
                unresolved[lib.name] = libs
    missing = missing_offscreen + missing_desktop
    details = {"missing_packages": missing, "unresolved": unresolved, "plugins": str(plugins) if plugins else None}
    if not missing and not unresolved:
        return _section(OK, "every library Qt's offscreen and xcb platforms load is present", **details)
    parts = []
    if missing:
        parts.append(f"missing {' '.join(missing)} (sudo apt-get install {' '.join(missing)})")
    for plugin, libs in unresolved.items():
        parts.append(f"{plugin} cannot find {', '.join(libs)}")
    status = PROBLEM if missing_offscreen or "libqoffscreen.so" in unresolved else WARNING
    return _section(status, "; ".join(parts), **details)


# --- files ------------------------------------------------------------------------------------------------------

def check_dir(get: Callable[[], Path], what: str) -> Section:
    try:
        path = get()
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return _section(PROBLEM, f"{what} is not writable ({exc})")
    free = shutil.disk_usage(path).free
    return _section(OK if free > 200e6 else WARNING, f"{path} (writable, {_mb(free)} free)", path=str(path),
                    free_bytes=free)


def store_path() -> Path:
    from latentlab.core.paths import data_dir

    return data_dir() / "results.sqlite3"  # ResultStore's default (a test holds the two together)


def _read_store(path: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM results").fetchone()[0] if version else 0
        return version, rows, integrity
    finally:
        conn.close()


def check_store(path: Path | None = None) -> Section:
    from latentlab.core.store import SCHEMA_VERSION, ResultStore

    path = path or store_path()
    if not path.exists():
        return _section(OK, f"{path}: not created yet (the first metric run creates it)", path=str(path), exists=False)
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    try:
        version, rows, integrity = _read_store(path)
    except sqlite3.Error as exc:
        return _section(PROBLEM, f"{path}: not a usable results store ({exc})", path=str(path), exists=True, size=size)
    details = {"path": str(path), "exists": True, "size": size, "schema": version, "results": rows,
               "integrity": integrity}
    if integrity != "ok":
        return _section(PROBLEM, f"{path}: damaged ({integrity})", **details)
    if version > SCHEMA_VERSION:
        return _section(PROBLEM, f"{path}: schema {version} is from a newer latentlab (this one reads "
                                 f"{SCHEMA_VERSION})", **details)
    try:
        ResultStore(path)
    except Exception as exc:  # noqa: BLE001 - whatever stops the store from opening is the finding
        return _section(PROBLEM, f"{path}: does not open ({exc})", **details)
    return _section(OK, f"{path}: schema {version}, {rows} results, {_mb(size)}, opens", **details)


def check_demo_models() -> Section:
    from latentlab.core.checkpoint import read_card
    from latentlab.core.resources import MODELS_ENV, demo_model_paths, demo_models_dir

    folder = demo_models_dir()
    models: list[dict[str, Any]] = []
    broken: list[str] = []
    for path in demo_model_paths():
        try:
            info = read_card(path).get("info")
            name = info.get("name") if isinstance(info, dict) and info.get("name") else path.stem
        except Exception as exc:  # noqa: BLE001 - a broken demo file is reported, not raised
            broken.append(f"{path.name}: {exc}")
            continue
        models.append({"file": path.name, "name": printable(str(name)), "size": path.stat().st_size})
    details = {"folder": str(folder), "override": os.environ.get(MODELS_ENV), "models": models, "broken": broken}
    if broken:
        return _section(PROBLEM, f"{len(broken)} of the demo models in {folder} do not read: {'; '.join(broken)}",
                        **details)
    if not models:
        return _section(WARNING, f"no demo models in {folder}", **details)
    return _section(OK, f"{len(models)} in {folder}: {', '.join(m['file'] for m in models)}", **details)


# --- the report -------------------------------------------------------------------------------------------------

def diagnose(qt_probe: Callable[[str | None], dict[str, Any]] = run_qt_probe) -> dict[str, Any]:
    from latentlab.core.paths import cache_dir, data_dir

    qt = check_qt(qt_probe)
    sections = {
        "latentlab": check_latentlab(), "python": check_python(), "torch": check_torch(),
        "accelerators": check_accelerators(), "qt": qt,
        "system_libraries": check_system_libraries(_platform_plugins(qt.get("probe", {}))),
        "data_dir": check_dir(data_dir, "the data folder"), "cache_dir": check_dir(cache_dir, "the cache folder"),
        "store": check_store(), "demo_models": check_demo_models(),
    }
    env = {k: os.environ[k] for k in ("LATENTLAB_HOME", "LATENTLAB_MODELS", "QT_QPA_PLATFORM", "XDG_DATA_HOME")
           if k in os.environ}
    return {"sections": sections, "environment": env,
            "problems": [f"{k}: {s['summary']}" for k, s in sections.items() if s["status"] == PROBLEM],
            "warnings": [f"{k}: {s['summary']}" for k, s in sections.items() if s["status"] == WARNING]}


LABELS = {"latentlab": "latentlab", "python": "Python", "torch": "torch", "accelerators": "GPU",
          "qt": "Qt", "system_libraries": "system libs", "data_dir": "data dir", "cache_dir": "cache dir",
          "store": "results store", "demo_models": "demo models"}
MARKS = {OK: " ", WARNING: "!", PROBLEM: "✗"}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"latentlab doctor ({MARKS[WARNING]} warning, {MARKS[PROBLEM]} problem)"]
    for key, section in report["sections"].items():
        lines.append(f"{MARKS[section['status']]} {LABELS.get(key, key):<14}{section['summary']}")
    for key, value in report["environment"].items():
        lines.append(f"  {'env':<14}{key}={value}")
    n = len(report["problems"])
    lines.append("no problems found" if not n else f"{n} problem{'s' if n > 1 else ''} found")
    return "\n".join(lines)
