"""The system libraries Qt's platform plugins load, by Debian package: what ``packaging/ensure-sysdeps.sh``
installs and ``latentlab doctor`` checks (a test keeps the two lists the same).

Found with ``ldconfig -p`` (the dynamic linker's cache), as the shell script does, and with ``ldd`` on the
platform plugins themselves, which also names libraries missing from this table.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

# soname -> Debian package. OFFSCREEN: what the offscreen platform (tests, headless use) needs.
OFFSCREEN = {
    "libEGL.so.1": "libegl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
# What the xcb platform (an X11 desktop, or XWayland) needs on top; since Qt 6.5 it will not start without
# libxcb-cursor0.
DESKTOP = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
}
TIMEOUT_S = 30


def linker_cache() -> str | None:
    """``ldconfig -p`` output, or None where there is no ldconfig (not Linux, or a minimal image)."""
    exe = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if exe is None:
        return None
    try:
        return subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None


def missing_packages(table: dict[str, str], cache: str) -> list[str]:
    """Debian packages whose library is not in the linker cache (the same substring test as the script)."""
    return [pkg for soname, pkg in table.items() if soname not in cache]


def unresolved_libraries(binary: Path) -> list[str]:
    """Libraries ``ldd`` cannot find for ``binary`` (a Qt plugin); empty when ldd is unavailable."""
    exe = shutil.which("ldd")
    if exe is None or not binary.is_file():
        return []
    try:
        out = subprocess.run([exe, str(binary)], capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def package_for(soname: str) -> str | None:
    return {**OFFSCREEN, **DESKTOP}.get(soname)
