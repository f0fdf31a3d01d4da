"""``latentlab install-desktop``: the menu entry, icon and file types on a Linux desktop (and ``--uninstall``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from latentlab.commands.common import json_arg, print_json, raise_usage


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install-desktop", help="add latentlab to the desktop's menu and file types (Linux)",
        description="Writes latentlab.desktop, its icon and the MIME types of .llab sessions and .safetensors "
                    "checkpoints into $XDG_DATA_HOME (default ~/.local/share), then refreshes the desktop and "
                    "MIME databases. Double-clicking a .llab file then restores that session. The menu entry "
                    "runs this very latentlab (this virtual environment, or this bundle).")
    p.add_argument("--uninstall", action="store_true", help="remove exactly what an earlier install wrote")
    p.add_argument("--data-home", type=Path, help="XDG data directory to use (default: $XDG_DATA_HOME)")
    p.add_argument("--force", action="store_true", help="replace files of the same name latentlab did not write")
    json_arg(p)
    p.set_defaults(func=cmd_install_desktop)


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from latentlab.core.desktop import install, uninstall

    if sys.platform in ("win32", "darwin"):
        raise_usage("install-desktop is for Linux desktops; packaging/README.md describes the macOS and "
                    "Windows bundles")
    if args.uninstall and args.force:
        raise_usage("--force only applies to an install")
    report = uninstall(args.data_home) if args.uninstall else install(args.data_home, force=args.force)
    if args.json:
        print_json(report.to_dict())
        return 0
    if args.uninstall:
        print(f"removed {len(report.removed)} files from {report.data_home}")
        for path in report.removed:
            print(f"  - {path}")
        for path in report.kept:
            print(f"  kept {path} (changed since it was installed)")
        if not report.removed and not report.kept:
            print("  (nothing was installed there by latentlab install-desktop)")
    else:
        print(f"installed into {report.data_home}:")
        for path in report.written:
            print(f"  + {path}")
        print(f"menu entry runs: {report.exec_line}")
    if report.tools:
        print(f"refreshed with {', '.join(report.tools)}")
    else:
        print("no update-desktop-database / update-mime-database here; the desktop picks the files up on its "
              "next scan")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
