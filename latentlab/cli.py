"""``latentlab`` command line: parse, call the core, print. Subcommands register themselves below."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    UsageError,
    arch_arg,
    device_arg,
    echo,
    finite_float,
    int_arg,
    json_arg,
    latent_dim_int,
    learning_rate,
    parse_kv,
    positive_int,
    print_json,
    raise_usage,
    seed_arg,
    steps_int,
    threads_arg,
    trust_arg,
    trust_of,
)
from latentlab.core.limits import MAX_BATCH, MAX_STEPS
from latentlab.core.text import printable

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


# --- gui ----------------------------------------------------------------------------------------------------

def cmd_gui(args: argparse.Namespace) -> int:
    from latentlab.ui.app import main as gui_main

    argv = [str(c) for c in args.checkpoints]
    if args.exit_after_frame is not None:
        argv += ["--exit-after-frame", args.exit_after_frame]
    if args.device:
        argv += ["--device", args.device]
    if args.session:
        argv += ["--session", args.session]
    if args.trust:
        argv.append("--trust")
    if args.trust_sha256:
        argv += ["--trust-sha256", args.trust_sha256]
    return gui_main(argv)


# --- info -----------------------------------------------------------------------------------------------------

def cmd_info(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import file_sha256, format_card, open_checkpoint, read_card, sniff_format

    path = Path(args.file)
    fmt = sniff_format(path) if path.is_file() and path.stat().st_size else None
    card = read_card(path) if fmt == "safetensors" and not args.arch else None
    if card:
        out = {"file": str(path), "sha256": file_sha256(path), "format": "safetensors", "card": card}
    else:  # a card-less file is opened: the refusal names the architectures that fit it
        ck = open_checkpoint(path, arch=args.arch, trust=trust_of(args), device="cpu")
        out = {"file": str(path), "sha256": ck.sha256, "format": ck.format, "card": ck.card}
    if args.json:
        print_json(out)
    else:
        echo(f"file: {printable(out['file'])}\nformat: {out['format']}\nsha256: {out['sha256']}")
        echo(format_card(out["card"]))
    return 0


# --- train -----------------------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from latentlab.core.jobs import JobCancelled, JobContext, TextProgress
    from latentlab.core.train import TrainConfig, train_to_file
    from latentlab.core.train_state import resume_path

    if args.grid:
        from latentlab.commands.sweep_train import cmd_sweep_train

        args.config = args.grid
        return cmd_sweep_train(args)
    if not args.arch or not args.out:
        raise_usage("--arch NAME and --out DIR are required (or --grid CONFIG.toml for a whole grid)")
    objective = parse_kv(args.set)
    for key in ("beta", "gamma"):
        if getattr(args, key) is not None:
            objective[key] = getattr(args, key)
    config = TrainConfig(
        arch=args.arch, dataset=args.dataset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, latent_dim=args.latent_dim, device=args.device, name=args.name, objective=objective,
        network=parse_kv(args.net), threads=args.threads,
    )
    recipe = "latentlab " + " ".join(shlex.quote(a) for a in args.argv) if args.record_recipe else None
    bar = TextProgress(label=f"train {args.arch}")
    state = resume_path(args.out)
    if args.resume:
        print(f"resume state: {state}" + (" (continuing)" if state.exists() else " (new run)"), file=sys.stderr)
    stop = _StopOnSignal() if args.resume else None
    ctx = JobContext(progress=bar, should_stop=stop) if stop else JobContext(progress=bar)
    try:
        path = train_to_file(config, args.out, ctx, recipe=recipe, resume=args.resume,
                             snapshot_every=args.snapshot_every, save_every=args.save_every)
    except JobCancelled:
        print(f"\nlatentlab train: stopped; run the same command to continue from {state}", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        if stop:
            stop.uninstall()
    bar.done()
    echo(f"wrote {path}")
    return 0


class _StopOnSignal:
    """A resumable run stops at the next step boundary on Ctrl+C or SIGTERM and keeps its state; a second
    Ctrl+C interrupts at once."""

    def __init__(self) -> None:
        import signal

        self.requested = False
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __call__(self) -> bool:
        return self.requested

    def uninstall(self) -> None:
        import signal

        for s, handler in self._old.items():
            signal.signal(s, handler)


# --- parser -----------------------------------------------------------------------------------------------------

class _ParseError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error comes back to ``main`` (which returns 2) instead of exiting the process,
    so scripts and tests calling ``main`` get the exit status like any other error. Subcommands inherit it."""

    def error(self, message: str):  # type: ignore[override]
        raise _ParseError(self, message)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | None:
    try:
        return parser.parse_args(argv)
    except _ParseError as exc:
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {printable(exc.message)}", file=sys.stderr)
        return None


def build_parser() -> argparse.ArgumentParser:
    from latentlab import __version__

    parser = _Parser(
        prog="latentlab", description="A laboratory for the latent spaces of trained generative models.",
    )
    parser.add_argument("--version", action="version", version=f"latentlab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _gui_parser(sub)
    _info_parser(sub)
    _train_parser(sub)
    _register_commands(sub)
    return parser


def _gui_parser(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the app (on the shipped demo models when no checkpoint is given)")
    p.add_argument("checkpoints", nargs="*", metavar="FILE", help="checkpoints to open, or a .llab session")
    p.add_argument("--session", help="a .llab session file to restore")
    p.add_argument("--exit-after-frame", nargs="?", const="", metavar="PNG",
                   help="install check: quit once the first frame is painted (saved to PNG if given)")
    trust_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_gui)


def _info_parser(sub: Any) -> None:
    p = sub.add_parser("info", help="print a checkpoint's model card")
    p.add_argument("file")
    arch_arg(p, "architecture, for plain state_dict files")
    trust_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_info)


def _train_parser(sub: Any) -> None:
    from latentlab.core.data import BUILTIN
    from latentlab.core.zoo import ARCHS

    p = sub.add_parser("train", help="train a zoo model on a factor dataset",
                       description="Archs: " + "; ".join(f"{a.name}: {a.summary}" for a in ARCHS.values()))
    p.add_argument("--arch", choices=sorted(ARCHS), help="required unless --grid")
    p.add_argument("--dataset", default="dsprites", help=f"{', '.join(BUILTIN)}, or a .npz/.h5 original file")
    p.add_argument("--steps", type=steps_int, default=10000)
    p.add_argument("--batch-size", type=int_arg(2, MAX_BATCH), default=64)
    p.add_argument("--lr", type=learning_rate, help="learning rate (default: the arch's)")
    p.add_argument("--latent-dim", type=latent_dim_int, default=10)
    p.add_argument("--beta", type=finite_float(0.0, 1e6), help="KL / TC weight for the archs that have one")
    p.add_argument("--gamma", type=finite_float(0.0, 1e6), help="gamma for FactorVAE / annealed VAE")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other objective hyper-parameter")
    p.add_argument("--net", action="append", metavar="KEY=VALUE", help="network hyper-parameter (base, hidden, ...)")
    seed_arg(p)
    p.add_argument("--name", help="model name shown in the app")
    threads_arg(p)
    p.add_argument("--resume", action="store_true",
                   help="keep a resume state beside --out (<out>.resume) and continue from it if it exists; "
                        "Ctrl+C or SIGTERM then stops at the next step and keeps it")
    p.add_argument("--save-every", type=positive_int(MAX_STEPS), default=1000, metavar="N",
                   help="with --resume: write the resume state every N steps (default 1000)")
    p.add_argument("--snapshot-every", type=positive_int(MAX_STEPS), metavar="N",
                   help="also write a checkpoint every N steps (and at the end) into <out stem>.series/, "
                        "a series the compare panel steps through")
    p.add_argument("--no-recipe", dest="record_recipe", action="store_false",
                   help="do not store this command line in the card")
    p.add_argument("--out", help="output .safetensors file (required unless --grid)")
    device_arg(p)
    p.add_argument("--grid", metavar="CONFIG.toml", help="train a whole grid instead, like `latentlab sweep-train`")
    from latentlab.commands.sweep_train import add_grid_args

    add_grid_args(p)
    p.set_defaults(func=cmd_train)


def _register_commands(sub: Any) -> None:
    """The subcommands in ``latentlab.commands`` (those this build has) add their parsers."""
    import importlib

    from latentlab.commands import MODULES

    for name in MODULES:
        try:
            module = importlib.import_module(f"latentlab.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"latentlab.commands.{name}":
                raise
            continue  # that feature is not part of this build
        module.register(sub)


def gui_argv(argv: list[str]) -> list[str] | None:
    """The app's arguments when this command line just opens it, else None.

    ``latentlab``, ``latentlab gui ...`` and ``latentlab FILE ...`` (what a file manager runs) go straight to
    the app without building the full parser, which imports torch: the splash screen then shows at once.
    A first argument with a suffix or a directory in it is a file; subcommand names have neither.
    """
    if not argv:
        return []
    if argv[0] == "gui":
        return argv[1:]
    first = Path(argv[0])
    if not argv[0].startswith("-") and (first.suffix or len(first.parts) > 1):
        return argv
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    early = _without_parser(argv)
    if early is not None:
        return early
    args = _parse_command_line(argv)
    if args is None:
        return EXIT_USAGE
    return _run(args)


def _without_parser(argv: list[str]) -> int | None:
    """The exit status of a command line answered without the full parser (which imports torch), else None."""
    if argv == ["--version"]:  # without the full parser, which imports torch
        from latentlab import __version__

        print(f"latentlab {__version__}")
        return 0
    if argv == ["doctor", "--qt-probe"]:  # the doctor's child process: Qt only
        from latentlab.commands.doctor import qt_probe

        return qt_probe()
    direct = gui_argv(argv)
    if direct is not None and "-h" not in direct and "--help" not in direct:
        from latentlab.ui.app import main as gui_main

        return gui_main(direct)
    return None


def _parse_command_line(argv: list[str]) -> argparse.Namespace | None:
    """The parsed arguments (no subcommand: those of ``gui``), logging set up; None after a usage error."""
    parser = build_parser()
    args = _parse(parser, argv)
    if args is None:
        return None
    args.argv = argv
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        args = _parse(parser, ["gui", *argv])
        if args is None:
            return None
        args.argv = argv
    return args


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand; an error becomes one line on stderr and an exit status."""
    from latentlab.core.errors import LatentlabError, UntrustedFile
    from latentlab.core.jobs import JobCancelled, end_progress_line, release_worker_processes
    from latentlab.core.paths import clean_leftovers

    clean_leftovers()  # .part files a killed run left (only ours, only where no live writer holds them)

    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        end_progress_line()
        # One line whatever the message holds (a name from a file may carry newlines or escapes).
        print(f"latentlab {args.command}: {printable(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except UntrustedFile as exc:
        end_progress_line()
        print(f"latentlab {args.command}: error: {exc}", file=sys.stderr)
        if exc.sha256:
            print(f"latentlab {args.command}: to trust exactly this file: --trust-sha256 {exc.sha256}",
                  file=sys.stderr)
        return EXIT_ERROR
    except (LatentlabError, ValueError) as exc:
        end_progress_line()
        print(f"latentlab {args.command}: error: {printable(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # an output folder that cannot be written, a file that vanished, ...
        end_progress_line()
        where = f"{printable(exc.filename)}: " if exc.filename else ""
        print(f"latentlab {args.command}: error: {where}{printable(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, JobCancelled):
        echo(f"\nlatentlab {args.command}: cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        release_worker_processes()


if __name__ == "__main__":
    sys.exit(main())
