"""Desktop integration on Linux (freedesktop.org): menu entry, icon, and MIME types for sessions and checkpoints.

``install`` writes into the XDG data directory (``$XDG_DATA_HOME``, default ``~/.local/share``):

    applications/latentlab.desktop                                   the menu entry; Exec passes the files (%F)
    icons/hicolor/scalable/apps/latentlab.svg                         its icon
    icons/hicolor/scalable/mimetypes/application-x-latentlab-session.svg
    mime/packages/latentlab.xml                                       .llab sessions, .safetensors checkpoints

and a manifest (``latentlab/desktop-install.json``) of what it wrote, with each file's SHA-256 and the folders
it had to create. ``uninstall`` removes exactly those files (one changed since is kept, and named), the
folders it created once they are empty again, and refreshes the desktop and MIME databases when the tools
(``update-desktop-database``, ``update-mime-database``) exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from latentlab.core.errors import FileError, UnsafeOutput
from latentlab.core.paths import atomic_write_bytes
from latentlab.core.resources import resource_path

log = logging.getLogger(__name__)

DESKTOP_ID = "latentlab.desktop"
MANIFEST = Path("latentlab") / "desktop-install.json"
SESSION_MIME = "application/x-latentlab-session"
CHECKPOINT_MIME = "application/x-safetensors"
# Characters that make the desktop-entry spec want an Exec argument quoted.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
TOOL_TIMEOUT_S = 60


@dataclass
class DesktopReport:
    data_home: Path
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # changed since install, so not ours to delete
    tools: list[str] = field(default_factory=list)  # the database tools that ran
    warnings: list[str] = field(default_factory=list)
    exec_line: str = ""

    def to_dict(self) -> dict:
        return {"data_home": str(self.data_home), "written": [str(p) for p in self.written],
                "removed": [str(p) for p in self.removed], "kept": [str(p) for p in self.kept],
                "tools": self.tools, "warnings": self.warnings, "exec": self.exec_line}


def xdg_data_home(env: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` when it is an absolute path (the spec ignores relative ones), else ``~/.local/share``."""
    value = (os.environ if env is None else env).get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this very latentlab: the bundle's executable, the console script beside this
    interpreter (a virtual environment's bin/), or ``python -m latentlab``."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    bindir = Path(sys.executable).parent
    for name in ("latentlab", "latentlab.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [str(Path(sys.executable)), "-m", "latentlab"]


def _quote_arg(arg: str) -> str:
    if arg and not (set(arg) & _RESERVED):
        return arg.replace("%", "%%")
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg).replace("%", "%%")
    return f'"{inner}"'


def exec_line(command: list[str]) -> str:
    """``Exec=`` value running ``command gui`` on the files a file manager passes (%F), quoted per the spec.

    The value is also a desktop-entry string, whose own escape for a backslash is a second backslash.
    """
    return " ".join(_quote_arg(a) for a in [*command, "gui"]).replace("\\", "\\\\") + " %F"


def desktop_entry(command: list[str]) -> str:
    """The shipped latentlab.desktop with its Exec (and TryExec) pointing at ``command``."""
    lines = []
    for line in resource_path(DESKTOP_ID).read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            lines.append(f"TryExec={command[0]}".replace("\\", "\\\\"))
            line = f"Exec={exec_line(command)}"
        elif line.startswith("TryExec="):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _payload(command: list[str]) -> dict[Path, bytes]:
    icons = Path("icons") / "hicolor" / "scalable"
    return {
        Path("applications") / DESKTOP_ID: desktop_entry(command).encode(),
        icons / "apps" / "latentlab.svg": resource_path("icons", "latentlab.svg").read_bytes(),
        icons / "mimetypes" / "application-x-latentlab-session.svg":
            resource_path("icons", "application-x-latentlab-session.svg").read_bytes(),
        Path("mime") / "packages" / "latentlab.xml": resource_path("latentlab-mime.xml").read_bytes(),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(home: Path) -> dict:
    path = home / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"files": {}, "created_dirs": []}
    except (OSError, ValueError) as exc:
        raise FileError(path, f"unreadable install manifest ({exc})", hint="remove it to start over") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise FileError(path, "not an install manifest written by latentlab", hint="remove it to start over")
    manifest.setdefault("created_dirs", [])
    return manifest


def _missing_dirs(home: Path, rel: Path) -> list[str]:
    """The folders above ``home/rel`` that do not exist yet, outermost first (relative to ``home``)."""
    out = []
    for parent in reversed(rel.parents):
        if str(parent) != "." and not (home / parent).exists():
            out.append(parent.as_posix())
    return out


def _run_tool(name: str, args: list[str], report: DesktopReport) -> None:
    exe = shutil.which(name)
    if exe is None:
        return
    try:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        report.warnings.append(f"{name} did not run: {exc}")
        return
    report.tools.append(name)
    if proc.returncode != 0:
        report.warnings.append(f"{name} failed: {(proc.stderr or proc.stdout).strip()[:300]}")


def _refresh(home: Path, report: DesktopReport) -> None:
    if (home / "applications").is_dir():
        _run_tool("update-desktop-database", [str(home / "applications")], report)
    if (home / "mime" / "packages").is_dir():
        _run_tool("update-mime-database", [str(home / "mime")], report)
    hicolor = home / "icons" / "hicolor"
    if (hicolor / "icon-theme.cache").exists():  # a stale cache would hide the new icon
        _run_tool("gtk-update-icon-cache", ["-f", "-t", str(hicolor)], report)


def install(data_home: Path | None = None, command: list[str] | None = None, force: bool = False) -> DesktopReport:
    """Write the entry, icons and MIME types; refuse to replace a file latentlab did not write unless ``force``."""
    home = data_home or xdg_data_home()
    command = command or launcher_command()
    report = DesktopReport(home, exec_line=exec_line(command))
    manifest = _read_manifest(home)
    payload = _payload(command)
    for rel, data in payload.items():
        target = home / rel
        ours = rel.as_posix() in manifest["files"]
        if target.exists() and not ours and not force and target.read_bytes() != data:
            raise UnsafeOutput(f"{target} exists and was not written by latentlab install-desktop",
                               hint="move it away, or pass --force to replace it")
    created = list(manifest["created_dirs"])
    for rel, data in payload.items():
        created += [d for d in _missing_dirs(home, rel) if d not in created]
        atomic_write_bytes(home / rel, data)
        manifest["files"][rel.as_posix()] = _sha(data)
        report.written.append(home / rel)
    created += [d for d in _missing_dirs(home, MANIFEST) if d not in created]
    manifest["created_dirs"] = created
    atomic_write_bytes(home / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    _refresh(home, report)
    return report


def _drop_generated(home: Path, created: set[str]) -> None:
    """Database files the tools generated in folders we created, once nothing of anyone else's is left there."""
    mime = home / "mime"
    if "mime" in created and mime.is_dir() and not any((mime / "packages").glob("*")):
        shutil.rmtree(mime)
    apps = home / "applications"
    if "applications" in created and apps.is_dir() and not any(apps.glob("*.desktop")):
        (apps / "mimeinfo.cache").unlink(missing_ok=True)


def uninstall(data_home: Path | None = None) -> DesktopReport:
    """Remove what ``install`` wrote (and only that)."""
    home = data_home or xdg_data_home()
    report = DesktopReport(home)
    manifest = _read_manifest(home)
    for rel, sha in sorted(manifest["files"].items()):
        target = home / rel
        if not target.is_file():
            continue
        if _sha(target.read_bytes()) != sha:
            report.kept.append(target)
            continue
        target.unlink()
        report.removed.append(target)
    (home / MANIFEST).unlink(missing_ok=True)
    created = set(manifest["created_dirs"])
    _refresh(home, report)
    _drop_generated(home, created)
    for rel in sorted(created, key=lambda d: d.count("/"), reverse=True):
        try:
            (home / rel).rmdir()
        except OSError:
            pass  # not empty (someone else's files), or already gone
    return report
