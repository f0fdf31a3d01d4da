"""Argument helpers shared by every subcommand."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

from latentlab.core import limits
from latentlab.core.errors import BadInput
from latentlab.core.limits import describe_range
from latentlab.core.safe_json import loads_bounded
from latentlab.core.text import printable, printable_multiline

_ECHO_LIMIT = 10_000_000


class UsageError(Exception):
    """Bad command-line input; printed without a traceback, exit status 2."""


def raise_usage(msg: str) -> None:
    raise UsageError(msg)


# --- numeric argument types: argparse turns ArgumentTypeError into "argument --x: ..." and exit status 2 ----------

def int_arg(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:  # also digit strings past Python's conversion limit
            raise argparse.ArgumentTypeError(f"expected an integer {describe_range(lo, hi)}, got {printable(text, 60)!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected an integer {describe_range(lo, hi)}, got {printable(text, 60)}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_int(hi: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer from 1 to ``hi``."""
    return int_arg(1, hi)


def finite_float(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in [lo, hi] (``lo_open``: strictly above lo); no inf, no nan."""
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {describe_range(lo, hi, lo_open)}, got {printable(text, 60)!r}") from None
        if not math.isfinite(value) or (lo is not None and (value < lo or (lo_open and value == lo))) \
                or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected a finite number {describe_range(lo, hi, lo_open)}, got {printable(text, 60)}")
        return value

    parse.__name__ = "number"
    return parse


seed_int = int_arg(0, limits.MAX_SEED)
threads_int = positive_int(limits.MAX_THREADS)
steps_int = positive_int(limits.MAX_STEPS)
batch_int = positive_int(limits.MAX_BATCH)
samples_int = positive_int(limits.MAX_SAMPLES)
count_int = positive_int(limits.MAX_COUNT)
latent_dim_int = positive_int(limits.MAX_LATENT_DIM)
hidden_int = positive_int(limits.MAX_HIDDEN)
learning_rate = finite_float(0.0, 10.0, lo_open=True)


def seed_arg(p: argparse.ArgumentParser, default: int | None = 0, help: str | None = None) -> None:
    p.add_argument("--seed", type=seed_int, default=default,
                   help=help or f"random seed, 0..{limits.MAX_SEED} (default {default})")


def threads_arg(p: argparse.ArgumentParser, help: str = "CPU threads for torch") -> None:
    p.add_argument("--threads", type=threads_int, help=help)


# --- the rest ---------------------------------------------------------------------------------------------------

def device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N")


def arch_name(text: str) -> str:
    """An ``--arch`` value: a zoo arch or network, or a reader's or plugin's name (``plugins.arch_names``)."""
    from latentlab.core.checkpoints.plugins import arch_names

    names = arch_names()
    if text not in names:
        import difflib

        close = difflib.get_close_matches(text[:80], names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; --help lists them"
        raise argparse.ArgumentTypeError(f"expected an architecture latentlab knows, got {printable(text, 40)!r}{hint}")
    return text


def arch_arg(p: argparse.ArgumentParser, help: str = "architecture or reader, for files that do not say "
             "(plain state_dicts)") -> None:
    from latentlab.core.checkpoints.plugins import arch_names

    # Installed plugins' names are accepted too; listing only the built-in ones keeps --help from importing them.
    p.add_argument("--arch", type=arch_name, metavar="NAME",
                   help=f"{help}; one of {', '.join(arch_names(include_installed=False))} or a plugin's name")


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


def echo(text: object = "", **kwargs: Any) -> None:
    """``print`` for output that may hold text from files: every control character but the line breaks of
    the output itself is escaped, so no ANSI sequence reaches the terminal. A name put inside one line goes
    through ``printable`` first, so a newline in it cannot forge a line of output."""
    print(printable_multiline(text, limit=_ECHO_LIMIT), **kwargs)


def print_json(obj: Any) -> None:
    # json.dumps escapes every control character (ensure_ascii), so JSON output is safe as it is.
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def parse_kv(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is read as JSON when it is JSON (numbers, true, lists), else kept as text."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise_usage(f"expected KEY=VALUE, got {printable(item, 200)!r}")
        k, v = item.split("=", 1)
        if v.lstrip()[:1] in ("[", "{"):  # meant as JSON: it must be valid, and small
            try:
                out[k] = loads_bounded(v, f"the value of {printable(k, 60)}", max_depth=8, max_bytes=65536,
                                       allow_nan=False)
            except BadInput as exc:
                raise_usage(str(exc))
            continue
        try:
            value = json.loads(v, parse_constant=lambda c: c)
        except ValueError:
            value = v
        if isinstance(value, float) and not math.isfinite(value):
            raise_usage(f"{printable(k, 60)}={printable(v, 60)}: not a finite number")
        out[k] = value
    return out


# --- style generators (StyleGAN2 / SWAGAN / StyleGAN3): how they decode -----------------------------------------

def style_args(p: argparse.ArgumentParser) -> None:
    """The Generator panel's settings as options (StyleGAN2 / SWAGAN / StyleGAN3 only)."""
    g = p.add_argument_group("style generators (StyleGAN2, SWAGAN, StyleGAN3)")
    g.add_argument("--space", choices=("z", "w", "w+"), help="latent space that latents and directions are in")
    g.add_argument("--class", dest="class_index", type=int_arg(0, 1 << 20), metavar="N",
                   help="class of a class-conditional generator (default 0)")
    g.add_argument("--class-blend", type=int_arg(0, 1 << 20), metavar="M", help="blend the class towards class M ...")
    g.add_argument("--class-t", type=finite_float(0.0, 1.0), metavar="T", help="... by T in [0, 1] (default 0.5)")
    g.add_argument("--truncation", type=finite_float(0.0, 1.0), metavar="PSI", help="truncation psi in [0, 1]")
    g.add_argument("--truncation-cutoff", type=int_arg(0, 1 << 10), metavar="N", help="truncate the first N ws only")
    g.add_argument("--noise", choices=("const", "random", "none"), help="noise inputs: stored maps, from --noise-seed, off")
    g.add_argument("--noise-strength", type=finite_float(0.0, 100.0), metavar="X", help="multiply the noise strengths")
    g.add_argument("--noise-seed", type=int_arg(0, 2**31 - 1), metavar="S", help="seed of --noise random")


# option attribute -> (StyleSettings field, the flag as typed)
_STYLE_OPTIONS = {"space": ("space", "--space"), "class_index": ("class_index", "--class"),
                  "class_blend": ("class_blend", "--class-blend"), "class_t": ("class_t", "--class-t"),
                  "truncation": ("psi", "--truncation"), "truncation_cutoff": ("cutoff", "--truncation-cutoff"),
                  "noise": ("noise_mode", "--noise"), "noise_strength": ("noise_strength", "--noise-strength"),
                  "noise_seed": ("noise_seed", "--noise-seed")}


def styled(model: Any, args: argparse.Namespace) -> Any:
    """``model`` decoded with the style options given (unchanged when none is); a usage error names an option
    given to a model that is not a style generator, or a value that does not fit it."""
    from latentlab.core.style_edit import is_style_generator, settings_of, view_of

    given = {f: getattr(args, opt) for opt, (f, _) in _STYLE_OPTIONS.items() if getattr(args, opt, None) is not None}
    if not given:
        return model
    if not is_style_generator(model):
        flags = ", ".join(flag for opt, (f, flag) in _STYLE_OPTIONS.items() if f in given)
        raise_usage(f"{flags}: only StyleGAN2, SWAGAN and StyleGAN3 generators take these; "
                    f"{printable(model.info.name, 80)} is not one")
    if "class_blend" in given and "class_t" not in given:
        given["class_t"] = 0.5
    try:
        view = view_of(model, settings_of(model).replace(**given))
    except BadInput as exc:
        raise_usage(str(exc))
    return view
