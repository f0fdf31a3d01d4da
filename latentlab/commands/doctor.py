"""``latentlab doctor``: Python, torch, GPUs, Qt, system libraries, folders, store and demo models, in one report."""

from __future__ import annotations

import argparse
import json

from latentlab.commands.common import json_arg, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="check this installation (paste its output into bug reports)",
        description="Prints the versions of Python, torch (and its CPU/CUDA build), the GPUs torch sees, "
                    "PySide6/Qt and whether its platform plugin starts, missing system libraries, the data "
                    "and cache folders, the results store and the demo models. Exit status 1 when it found "
                    "a problem.")
    p.add_argument("--qt-probe", action="store_true", help=argparse.SUPPRESS)
    json_arg(p)
    p.set_defaults(func=cmd_doctor)


def qt_probe() -> int:
    """Run in a child process by the doctor: start a QGuiApplication and say what it found."""
    import PySide6
    from PySide6.QtCore import QLibraryInfo, qVersion
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(["latentlab-doctor"])
    screens = [{"name": s.name(), "size": [s.size().width(), s.size().height()]} for s in app.screens()]
    print(json.dumps({"pyside6": PySide6.__version__, "qt": qVersion(), "platform": app.platformName(),
                      "plugins": QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), "screens": screens}),
          flush=True)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.qt_probe:
        return qt_probe()
    from latentlab.core.doctor import diagnose, format_report

    report = diagnose()
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 1 if report["problems"] else 0
