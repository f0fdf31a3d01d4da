"""Argument helpers shared by every subcommand."""

from __future__ import annotations

import argparse
import json
from typing import Any


class UsageError(Exception):
    """Bad command-line input; printed without a traceback, exit status 2."""


def raise_usage(msg: str) -> None:
    raise UsageError(msg)


def device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N")


def json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def trust_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", action="store_true",
                   help="allow files that carry code (TorchScript, full pickles); only for files you trust")
    p.add_argument("--trust-sha256", metavar="HEX",
                   help="like --trust, but only if the file's bytes have exactly this SHA-256 (what a refusal prints)")


def trust_of(args: argparse.Namespace):
    """What ``open_checkpoint(trust=...)`` gets from --trust / --trust-sha256 (the digest binds the bytes)."""
    digest = getattr(args, "trust_sha256", None)
    if digest:
        from latentlab.core.checkpoints import Trust

        try:
            return Trust.of(digest)
        except ValueError as exc:
            raise_usage(str(exc))
    return bool(getattr(args, "trust", False))


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def parse_kv(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise_usage(f"expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


