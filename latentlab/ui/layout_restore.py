"""Putting back a window layout saved in a session, which may come from anyone: check it, or keep the default.

A session stores ``QMainWindow.saveGeometry()`` and ``saveState()`` as opaque bytes. Restored blindly, a
hostile (or just stale) one can place the window off every screen, make it larger than any screen, hide
every dock, or leave a floating dock where nobody can reach it; garbage bytes make Qt refuse the whole
thing, and bytes changed a little crash Qt's parser (so each part is first tried in a throw-away process,
``layout_probe``). Each part is restored, then checked against the screens the app actually has; a part that fails
the check is undone (the layout from before stays) and the reason is logged and returned for the user.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from typing import Any

from PySide6.QtCore import QByteArray, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow

from latentlab.ui.layout_probe import stand_in_of, survives

log = logging.getLogger(__name__)

MAX_LAYOUT_BYTES = 256 * 1024  # Qt's geometry is ~70 bytes and a state with a dozen docks ~2 KB
MIN_VISIBLE_PX = 64  # of the window (or a floating dock) that must lie on some screen to be reachable
MIN_SIZE = (200, 150)


def _decode(text: str | None, what: str) -> tuple[QByteArray | None, str | None]:
    if not text:
        return None, None
    if not isinstance(text, str) or len(text) > 2 * MAX_LAYOUT_BYTES:
        return None, f"the saved {what} is too large"
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None, f"the saved {what} is not base64"
    if len(raw) > MAX_LAYOUT_BYTES:
        return None, f"the saved {what} is too large"
    return QByteArray(raw), None


def _screens() -> list[QRect]:
    return [s.availableGeometry() for s in QGuiApplication.screens()]


def _reachable(rect: QRect, screens: list[QRect]) -> bool:
    """Enough of ``rect`` lies on one screen for the user to grab it."""
    for s in screens:
        inter = rect.intersected(s)
        if inter.width() >= min(MIN_VISIBLE_PX, rect.width()) and inter.height() >= min(MIN_VISIBLE_PX, rect.height()):
            return True
    return False


def _fits(rect: QRect, screens: list[QRect], allowed: QSize | None = None) -> bool:
    """Not larger than the union of the screens (a maximised window is exactly one screen), nor than
    ``allowed`` (the app's own size before the restore) where that is larger."""
    if not screens:
        return True
    union = screens[0]
    for s in screens[1:]:
        union = union.united(s)
    w, h = union.width(), union.height()
    if allowed is not None:
        w, h = max(w, allowed.width()), max(h, allowed.height())
    return rect.width() <= w + 64 and rect.height() <= h + 64


def _geometry_problem(window: QMainWindow, before: QSize) -> str | None:
    screens = _screens()
    frame = window.frameGeometry()
    if window.width() < MIN_SIZE[0] or window.height() < MIN_SIZE[1]:
        return f"the saved window size {window.width()}x{window.height()} is too small to use"
    if not _fits(frame, screens, before):
        return f"the saved window size {frame.width()}x{frame.height()} is larger than the screens"
    if screens and not _reachable(frame, screens):
        return f"the saved window position ({frame.x()}, {frame.y()}) is off every screen"
    return None


def _state_problem(window: QMainWindow) -> str | None:
    docks = [d for d in window.findChildren(QDockWidget) if d.parent() is window]
    if docks and all(d.isHidden() for d in docks):
        return "the saved layout hides every panel"
    screens = _screens()
    for d in docks:
        if d.isFloating() and not d.isHidden():
            g = d.frameGeometry()
            if not _fits(g, screens) or (screens and not _reachable(g, screens)):
                return f"the saved layout puts the floating panel {d.windowTitle()!r} off the screens"
    central = window.centralWidget()
    if central is not None and central.isHidden():
        return "the saved layout hides the preview"
    return None


def restore_window_layout(window: QMainWindow, geometry: str | None, state: str | None) -> list[str]:
    """Restore a session's geometry and dock state onto ``window``; returns why any part was not used."""
    problems: list[str] = []
    geo, why = _decode(geometry, "window geometry")
    if why:
        problems.append(why)
    elif geo is not None:
        rect, flags, size = window.geometry(), window.windowState(), window.frameGeometry().size()
        ok, crash = survives("geometry", bytes(geo), stand_in_of(window))
        if not ok:
            problems.append(f"the saved window geometry was not used: {crash}")
        elif not window.restoreGeometry(geo):  # Qt checked the bytes and changed nothing
            problems.append("the saved window geometry is not one Qt can read")
        else:
            why = _geometry_problem(window, size)
            if why:
                # Put back exactly what was there (restoring a saved copy would be fitted to the screen anew).
                window.setWindowState(flags)
                if not flags & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
                    window.setGeometry(rect)
                problems.append(why)
    st, why = _decode(state, "panel layout")
    if why:
        problems.append(why)
    elif st is not None:
        before = window.saveState()
        ok, crash = survives("state", bytes(st), stand_in_of(window))
        if not ok:
            problems.append(f"the saved panel layout was not used: {crash}")
        elif not window.restoreState(st):  # Qt reads the whole state before applying any of it
            problems.append("the saved panel layout is not one Qt can read")
        else:
            why = _state_problem(window)
            if why:
                window.restoreState(before)
                problems.append(why)
    # Neither is part of a saved state, but nothing from a file may leave the app without its menus.
    for bar in (window.menuBar(), window.statusBar()):
        if bar.isHidden():
            bar.show()
    for p in problems:
        log.warning("session layout: %s; using the current layout instead", p)
    return [f"{p}; the current layout is kept" for p in problems]


# --- the view settings a session stores beside the layout ------------------------------------------------------

def number(value: Any, lo: float, hi: float) -> float | None:
    """A finite real number in [lo, hi], else None (booleans and text are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) and lo <= v <= hi else None


def integer(value: Any, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi], else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if lo <= value <= hi else None
