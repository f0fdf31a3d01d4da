"""QApplication, theme, exception hook and ``main()`` for ``latentlab gui``."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from latentlab.ui.safe_text import plain_rich

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0002


def apply_theme(app: QApplication) -> None:
    """A dark Fusion palette: images read better on a dark surround."""
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
    app.setStyleSheet("QDockWidget::title { padding: 4px; background: #2b3036; } "
                      "QToolTip { border: 1px solid #444; }")


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


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("latentlab")
    app.setOrganizationName("latentlab")
    apply_theme(app)
    from latentlab.ui.icons import icon

    app.setWindowIcon(icon("latentlab"))
    from latentlab.ui.gc_guard import collect_on_gui_thread

    collect_on_gui_thread()
    # The render thread needs the GIL only to enter and leave a decode, but when the GUI thread is busy in
    # Python it waits up to the switch interval (5 ms by default) each time; a shorter one keeps that wait
    # well below a frame.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latentlab gui")
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--trust", action="store_true", help="trust the given files (they may carry code)")
    parser.add_argument("--trust-sha256", metavar="HEX", help="trust the given file only if it has this SHA-256")
    parser.add_argument("--session", help="a .llab session file to restore")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from latentlab.core.device import DeviceError, resolve_device
    from latentlab.core.paths import clean_leftovers

    clean_leftovers()  # .part files a killed run left (only ours, only where no live writer holds them)

    app = make_app()
    try:
        device = str(resolve_device(args.device))
    except DeviceError as exc:
        log.warning("%s; using the CPU", exc)
        device = "cpu"
    from latentlab.ui.main_window import MainWindow

    window = MainWindow(device=device)
    install_excepthook(lambda: window)
    window.show()
    if not args.session and not args.checkpoints:
        # Declining to restore a crashed session still leaves the user something to look at.
        window.sessions.declined.connect(window.open_demo_models)
    recoveries = window.sessions.begin(ask=not args.session)
    if args.session:
        window.sessions.open(Path(args.session))
    elif args.checkpoints:
        from latentlab.core.checkpoints import Trust

        window.open_paths(args.checkpoints, trust=Trust.of(args.trust_sha256) if args.trust_sha256 else args.trust)
    elif not recoveries:
        window.open_demo_models()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
