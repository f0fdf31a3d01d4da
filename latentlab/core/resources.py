"""Files that ship inside the package: icons, the style sheet, desktop-integration files and the demo models.

They are found through ``importlib.resources``, so a source checkout, an installed wheel and a PyInstaller
bundle all resolve them the same way (relative to the imported ``latentlab`` package, never to the current
directory or the source tree). ``LATENTLAB_MODELS`` points the demo-model folder somewhere else.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from functools import cache
from importlib import resources
from pathlib import Path

from latentlab.core.errors import FileError

MODELS_ENV = "LATENTLAB_MODELS"

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


@cache
def _package_dir(name: str) -> Path:
    """A real directory for ``latentlab/<name>`` (extracted once, for the day the package is zipped)."""
    traversable = resources.files("latentlab").joinpath(name)
    if isinstance(traversable, Path):
        return traversable
    return _extracted.enter_context(resources.as_file(traversable))


def resource_path(*parts: str) -> Path:
    """``latentlab/resources/<parts>``; raises FileError when this installation lacks it."""
    path = _package_dir("resources").joinpath(*parts)
    if not path.exists():
        raise FileError(path, "not part of this latentlab installation",
                        hint="reinstall latentlab: its package data is missing")
    return path


def read_resource_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")


def shipped_models_dir() -> Path:
    """The demo models inside the package (``LATENTLAB_MODELS`` not consulted)."""
    return _package_dir("models")


def demo_models_dir() -> Path:
    """Where the app looks for demo models: ``$LATENTLAB_MODELS`` if set, else the ones in the package."""
    override = os.environ.get(MODELS_ENV)
    return Path(override).expanduser() if override else shipped_models_dir()


def is_sidecar(path: Path) -> bool:
    """Directions and flows files are safetensors too, but they belong to a checkpoint: not models of their own.

    Told apart by the header key each writes into the file's metadata, not by the file's name.
    """
    from safetensors import safe_open

    from latentlab.core.sidecars import DIRECTIONS_HEADER_KEY as DIRECTIONS_KEY
    from latentlab.core.sidecars import FLOWS_CARD_KEY as FLOWS_KEY

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
    except Exception:  # noqa: BLE001 - a broken file is listed; opening it then says what is wrong with it
        return False
    return DIRECTIONS_KEY in meta or FLOWS_KEY in meta


def demo_model_paths() -> list[Path]:
    """The demo checkpoints: every ``*.safetensors`` in the folder except directions and flows, sorted by name."""
    folder = demo_models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file() and not is_sidecar(p))
