"""QApplication, theme, exception hook and ``main()`` for ``latentlab gui``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from latentlab.ui.safe_text import plain_rich

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0002


def apply_theme(app: QApplication, style_sheet: bool = True) -> None:
    """A dark Fusion palette: images read better on a dark surround. ``style_sheet=False`` leaves the style
    sheet to a later ``apply_style_sheet``: set before the window is built, it is applied to every widget as
    it is made; set after, once to the finished window (a faster start)."""
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor("#1d2024"), QColor("#25292e"), QColor("#e3e6ea")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, window)
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor("#30353b"))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor("#2d3238"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor("#3d7bd9"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#7c848d"))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7178"))
    app.setPalette(p)
    if style_sheet:
        apply_style_sheet(app)


def apply_style_sheet(app: QApplication) -> None:
    from latentlab.core.resources import read_resource_text, resource_path

    icons = resource_path("icons").as_posix()  # the sheet names its images relative to the icon folder
    app.setStyleSheet(read_resource_text("style.qss").replace("@ICONS@", icons))


def install_excepthook(window_getter) -> None:
    """Unexpected errors go to the log and a dialog; the app keeps running."""

    def hook(exc_type, exc, tb):
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error\n%s", text)
        win = window_getter()
        if win is not None:
            win.show_message("error", f"Unexpected error: {exc_type.__name__}: {exc} (details in the log)")
        else:
            QMessageBox.critical(None, "latentlab", plain_rich(f"{exc_type.__name__}: {exc}"))

    sys.excepthook = hook


def open_from_event(window, event) -> bool:
    """A file the desktop hands to the running app (macOS Finder: double-clicking a .llab or a checkpoint,
    dropping one on the Dock icon) is opened as if dropped on the window."""
    if event.type() != QEvent.Type.FileOpen or not event.file():
        return False
    window.drop_paths([event.file()])
    return True


class LatentlabApplication(QApplication):
    """The application object, for the events sent to it alone (an event filter would see every event)."""

    window = None

    def event(self, event) -> bool:
        if self.window is not None and open_from_event(self.window, event):
            return True
        return super().event(event)


def make_app(argv: list[str] | None = None, style_sheet: bool = True) -> QApplication:
    # Only macOS hands files to a running app as events; elsewhere they come on the command line.
    cls = LatentlabApplication if sys.platform == "darwin" else QApplication
    app = QApplication.instance() or cls(argv or sys.argv[:1])
    app.setApplicationName("latentlab")
    app.setOrganizationName("latentlab")
    # Matches the installed latentlab.desktop: Wayland compositors and docks group the window under its icon.
    app.setDesktopFileName("latentlab")
    apply_theme(app, style_sheet)
    from latentlab.ui.icons import icon

    app.setWindowIcon(icon("latentlab"))
    from latentlab.ui.gc_guard import collect_on_gui_thread

    collect_on_gui_thread()
    # The render thread needs the GIL only to enter and leave a decode, but when the GUI thread is busy in
    # Python it waits up to the switch interval (5 ms by default) each time; a shorter one keeps that wait
    # well below a frame.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return app


SESSION_SUFFIX = ".llab"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="latentlab gui", description="Open the explorer.")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="checkpoints to open, or a .llab session to restore (what a file manager passes)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--trust", action="store_true", help="trust the given files (they may carry code)")
    parser.add_argument("--trust-sha256", metavar="HEX", help="trust the given file only if it has this SHA-256")
    parser.add_argument("--session", help="a .llab session file to restore")
    parser.add_argument("--exit-after-frame", nargs="?", const="", default=None, metavar="PNG",
                        help="install check: quit once the first frame is painted (saved to PNG if given), "
                             "printing a JSON report; exit 1 if a model fails to open")
    args = parser.parse_args(argv)
    sessions = [f for f in args.files if f.lower().endswith(SESSION_SUFFIX)]
    args.checkpoints = [f for f in args.files if not f.lower().endswith(SESSION_SUFFIX)]
    if sessions:
        if args.session or len(sessions) > 1:
            parser.error("give one .llab session at a time")
        args.session = sessions[0]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    check = args.exit_after_frame is not None
    from latentlab.core.paths import clean_leftovers

    clean_leftovers()  # .part files a killed run left (only ours, only where no live writer holds them)

    from latentlab.ui.startup import StartupProgress

    app = make_app(style_sheet=False)
    startup = StartupProgress(app)
    startup.step("Loading the explorer")
    from latentlab.ui.main_window import MainWindow

    startup.step("Building the window")
    # Built without torch: the window is up in about a second, showing that PyTorch and the models are loading;
    # finish_startup imports torch on the next turn of the event loop, once the window has been painted.
    window = MainWindow(device=None)
    apply_style_sheet(app)  # once, to the finished window: set earlier, every widget would be styled as made
    install_excepthook(lambda: window)
    if isinstance(app, LatentlabApplication):
        app.window = window
    window.show()
    startup.finish(window)
    if check:
        from latentlab.ui.startup import FirstFrameCheck

        window.frame_check = FirstFrameCheck(window, Path(args.exit_after_frame) if args.exit_after_frame else None,
                                             startup)
    when_painted(window, lambda: finish_startup(window, args, startup))
    return app.exec()


EXPOSE_WAIT_S = 2.0  # a window the platform never exposes (minimised, another workspace) waits no longer


def when_painted(window, call, deadline: float | None = None) -> None:
    """Run ``call`` on a later turn of the event loop, once ``window`` is exposed (so it has painted: Qt paints a
    window as it is exposed). Importing torch blocks the GUI thread for seconds: the window must be on screen,
    showing its loading state, before that starts. Polls, without a fixed delay: offscreen, at once."""
    deadline = time.monotonic() + EXPOSE_WAIT_S if deadline is None else deadline
    handle = window.windowHandle()
    if handle is not None and not handle.isExposed() and time.monotonic() < deadline:
        QTimer.singleShot(10, lambda: when_painted(window, call, deadline))
        return
    QTimer.singleShot(0, call)  # one more turn: the paint of the expose comes first


def finish_startup(window, args: argparse.Namespace, startup=None) -> None:
    """Start-up's second half, with the window on screen: torch, the device, then the models asked for (the
    command line's files, a session, a crashed session's recovery, or the demo models)."""
    from latentlab.core.device import DeviceError, resolve_device

    check = args.exit_after_frame is not None
    try:
        device = str(resolve_device(args.device))
    except DeviceError as exc:
        log.warning("%s; using the CPU", exc)
        device = "cpu"
    window.finish_startup(device)
    if not window.started:
        return  # the window was closed while torch loaded
    if startup is not None:
        startup.step("PyTorch loaded")
    if not args.session and not args.checkpoints:
        # Declining to restore a crashed session still leaves the user something to look at.
        window.sessions.declined.connect(window.open_demo_models)
    recoveries = window.sessions.begin(ask=not args.session and not check)
    if args.session:
        window.sessions.open(Path(args.session))
    if args.checkpoints:
        from latentlab.core.checkpoints import Trust

        window.open_paths(args.checkpoints, trust=Trust.of(args.trust_sha256) if args.trust_sha256 else args.trust)
    elif not args.session and (check or not recoveries):
        window.open_demo_models()


if __name__ == "__main__":
    sys.exit(main())
