"""Trying a saved window layout in a throw-away process before the app's own window reads it.

Qt parses ``QMainWindow.restoreState`` bytes without checking them: a saved state with a few bytes changed
(a corrupt or hostile session file) crashes the whole process inside Qt (found by
``tests/security/test_input_layout.py``'s fuzzing). There is no Qt call that only checks the bytes, so a
child process with a stand-in window -- the same docks and toolbars by object name, in the layout the real
window has now -- restores them first. Only bytes the child survived are given to the real window; a crash
there costs a short-lived process, and the user keeps the layout they have.

The child imports PySide6 alone (no torch, no pyqtgraph) and starts in about half a second; bytes that
passed once in this process are not tried again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

PROBE_ENV = "LATENTLAB_LAYOUT_PROBE"  # set for the child: the bundle's launcher runs the probe instead of the app
TIMEOUT_S = 20.0
_passed: set[str] = set()  # digests of (window, bytes) the child survived, this process


@dataclass(frozen=True)
class StandIn:
    """What the stand-in window needs of the real one: object names of its docks and toolbars, its layout."""

    docks: tuple[str, ...]
    toolbars: tuple[str, ...]
    current_state: bytes
    current_geometry: bytes
    size: tuple[int, int] = (1280, 800)  # the window's size now: some states crash only at some sizes


def survives(kind: str, data: bytes, stand_in: StandIn) -> tuple[bool, str | None]:
    """Whether restoring ``data`` (``kind`` "state" or "geometry") leaves a stand-in window alive.

    Returns (True, None) or (False, why); a probe that cannot be run at all also refuses the bytes.
    """
    request = {"kind": kind, "data": base64.b64encode(data).decode(), "docks": list(stand_in.docks),
               "toolbars": list(stand_in.toolbars), "state": base64.b64encode(stand_in.current_state).decode(),
               "geometry": base64.b64encode(stand_in.current_geometry).decode(), "size": list(stand_in.size)}
    payload = json.dumps(request, sort_keys=True).encode()
    key = hashlib.sha256(payload).hexdigest()
    if key in _passed:
        return True, None
    env = {**os.environ, PROBE_ENV: "1", "QT_QPA_PLATFORM": "offscreen", **_heap_checks()}
    try:
        done = subprocess.run(_command(), input=payload, capture_output=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return False, "Qt did not finish reading it"
    except OSError as exc:
        return False, f"it could not be checked ({exc.strerror or exc})"
    if done.returncode == 0 and done.stdout.strip() == b"ok":
        _passed.add(key)
        return True, None
    if done.returncode < 0 or done.returncode > 128:  # a signal: Qt crashed on these bytes
        return False, "Qt crashes reading it"
    log.debug("layout probe failed: rc %s, %s", done.returncode, done.stderr[-400:])
    return False, "it could not be checked"


MALLOC_DEBUG = ("/lib/x86_64-linux-gnu/libc_malloc_debug.so.0", "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0",
                "/lib/aarch64-linux-gnu/libc_malloc_debug.so.0", "/usr/lib64/libc_malloc_debug.so.0")


def _heap_checks() -> dict[str, str]:
    """glibc's checking allocator for the child (where it exists): some corrupt states do not crash Qt while it
    reads them but overwrite the heap, and the process aborts later, when the layout is freed. With the checks,
    the child aborts at the first bad write or free instead of passing bytes that would break the app later."""
    lib = next((p for p in MALLOC_DEBUG if os.path.exists(p)), None)
    if lib is None or sys.platform != "linux":
        return {}
    preload = " ".join(x for x in (os.environ.get("LD_PRELOAD", ""), lib) if x)
    return {"LD_PRELOAD": preload, "GLIBC_TUNABLES": "glibc.malloc.check=3"}


def _command() -> list[str]:
    if getattr(sys, "frozen", False):  # the PyInstaller bundle: its launcher sees PROBE_ENV and runs main()
        return [sys.executable]
    return [sys.executable, "-c", "from latentlab.ui.layout_probe import main; main()"]


def main() -> None:
    """The child: read the request from stdin, restore it into a stand-in window, print ok."""
    from PySide6.QtCore import QByteArray, QEvent
    from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QToolBar, QWidget

    request = json.loads(sys.stdin.buffer.read())
    app = QApplication.instance() or QApplication(["latentlab-layout-probe"])
    window = QMainWindow()
    window.setObjectName("LatentlabWindow")
    window.setCentralWidget(QWidget())
    for name in request["toolbars"]:
        bar = QToolBar(name)
        bar.setObjectName(name)
        window.addToolBar(bar)
    for name in request["docks"]:
        dock = QDockWidget(name)
        dock.setObjectName(name)
        dock.setWidget(QWidget())
        window.addDockWidget(_right(), dock)
    window.restoreGeometry(QByteArray(base64.b64decode(request["geometry"])))
    window.restoreState(QByteArray(base64.b64decode(request["state"])))
    width, height = request.get("size", [1280, 800])
    window.resize(int(width), int(height))
    window.show()
    app.processEvents()
    data = QByteArray(base64.b64decode(request["data"]))
    if request["kind"] == "geometry":
        window.restoreGeometry(data)
    else:
        window.restoreState(data)
    app.processEvents()
    window.grab()  # lays out and paints every dock and tab bar the restore built, as the real window will
    window.saveState()  # writing it back walks every item the restore built
    window.saveGeometry()
    for dock in window.findChildren(QDockWidget):  # the app raises and shows docks after a restore
        dock.show()
        dock.raise_()
    app.processEvents()
    window.grab()
    # The real window goes on living: it restores another layout later and frees this one when it closes.
    # A corrupt state can overwrite the heap without crashing the read; freeing the items the restore built
    # is where that shows (glibc aborts), so the stand-in does both before it answers.
    window.restoreState(QByteArray(base64.b64decode(request["state"])))
    app.processEvents()
    window.grab()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    sys.stdout.write("ok\n")
    sys.stdout.flush()
    os._exit(0)  # no teardown: the answer is out, and a stand-in window has nothing to save


def _right():
    from PySide6.QtCore import Qt

    return Qt.DockWidgetArea.RightDockWidgetArea


def stand_in_of(window) -> StandIn:
    """The stand-in for ``window`` (a QMainWindow): its docks' and toolbars' object names, its layout now."""
    from PySide6.QtWidgets import QDockWidget, QToolBar

    docks = tuple(d.objectName() for d in window.findChildren(QDockWidget) if d.objectName())
    bars = tuple(b.objectName() for b in window.findChildren(QToolBar) if b.objectName())
    return StandIn(docks, bars, bytes(window.saveState()), bytes(window.saveGeometry()),
                   (window.width(), window.height()))
