"""CLI subcommands beyond gui/info/train, one module each; each module defines ``register(subparsers)``.

Keeping them apart lets each feature own its command-line surface while ``cli.py`` stays a thin
dispatcher.
"""

MODULES = ("metrics", "directions", "flows", "export", "mix", "probe", "concepts", "encode", "bench", "sweep", "sweep_train", "desktop", "doctor")
