"""Model plugins: built-in readers of other code bases' files, and third-party ones (entry points).

Built-in readers (``latentlab.core.formats``) are handed the ``Source`` (bytes in memory, read inertly)
and answer from its content; they never run code from the file.

Third-party plugins (entry-point group ``latentlab.models``) are installed code latentlab cannot vouch for,
so they are *probed* with the file's first 64 KiB and its name only: ``sniff(head: bytes, name: str)``. A
plugin that only has the older ``can_open(path)`` is asked about trusted files only. A plugin then opens the
file with ``open(path, trust)``; when the user trusted the file, the path it gets is a private copy of the
exact bytes whose SHA-256 was checked, so what the plugin reads is what the user trusted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError, LatentlabError

log = logging.getLogger(__name__)

SNIFF_BYTES = 64 * 1024


def entry_point_plugins() -> list[Any]:
    """Plugins registered under the entry-point group ``latentlab.models`` (a broken one is skipped, logged)."""
    from importlib.metadata import entry_points

    found: list[Any] = []
    for ep in entry_points(group="latentlab.models"):
        try:
            obj = ep.load()
            found.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:  # a broken plugin must not stop the app from opening anything else
            log.warning("model plugin %s failed to load: %s", ep.name, exc)
    return found


def plugins() -> list[Any]:
    """Built-in third-party readers, then installed plugins, in the order they are asked."""
    from latentlab.core.formats import builtin_plugins

    return [*builtin_plugins(), *entry_point_plugins()]


def names_of(plugin: Any) -> tuple[str, ...]:
    return tuple(getattr(plugin, "names", (getattr(plugin, "name", None),)))


def plugin_for_architecture(name: str | None) -> Any:
    if not name:
        return None
    return next((p for p in plugins() if name in names_of(p)), None)


class _PrivateCopy:
    """The trusted bytes in a file only this user can read, made on first use, removed afterwards."""

    def __init__(self, src: Source):
        self.src = src
        self.folder: str | None = None

    def path(self) -> Path:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="latentlab-trusted-")
            fd = os.open(Path(self.folder) / self.src.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.src.data)
        return Path(self.folder) / self.src.name

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _external_claims(plugin: Any, src: Source, copy: _PrivateCopy | None) -> bool:
    try:
        if hasattr(plugin, "sniff"):
            return bool(plugin.sniff(src.head(SNIFF_BYTES), src.name))
        if copy is not None and hasattr(plugin, "can_open"):
            return bool(plugin.can_open(copy.path()))
    except Exception as exc:  # a plugin's probe failing means "not mine", not a crash of the app
        log.warning("model plugin %s failed probing %s: %s", getattr(plugin, "name", plugin), src.path, exc)
    return False


def open_with_plugin(src: Source, arch: str | None, trusted: bool) -> tuple[Any, str] | None:
    """(model, plugin name) from the first plugin that claims the file (or is named by ``arch``), else None."""
    from latentlab.core.formats import builtin_plugins

    for plugin in builtin_plugins():
        named = arch is not None and arch in names_of(plugin)
        if (arch is None or named) and plugin.can_open(src):
            return _guarded(plugin, src, lambda p=plugin: p.open(src, trust=trusted, arch=arch)), plugin.name
    copy = _PrivateCopy(src) if trusted else None
    try:
        for plugin in entry_point_plugins():
            named = arch is not None and arch in names_of(plugin)
            if named or (arch is None and _external_claims(plugin, src, copy)):
                where = copy.path() if copy is not None else src.path
                return _guarded(plugin, src, lambda p=plugin, w=where: p.open(w, trust=trusted)), plugin.name
    finally:
        if copy is not None:
            copy.remove()
    return None


def _guarded(plugin: Any, src: Source, call) -> Any:
    try:
        return call()
    except LatentlabError:
        raise
    except Exception as exc:
        raise CheckpointError(src.path, f"the {getattr(plugin, 'name', plugin)!r} plugin could not open it "
                                        f"({type(exc).__name__}: {str(exc)[:200]})") from None


def arch_names(include_installed: bool = True) -> tuple[str, ...]:
    """Every value ``--arch`` (``open_checkpoint(arch=...)``) accepts: the zoo's archs and networks, and the
    names of the built-in readers (and, with ``include_installed``, of installed plugins)."""
    from latentlab.core.formats import builtin_plugins
    from latentlab.core.zoo import ARCHS, NETWORKS

    names = set(ARCHS) | set(NETWORKS)
    for plugin in (*builtin_plugins(), *(entry_point_plugins() if include_installed else ())):
        names.update(n for n in names_of(plugin) if isinstance(n, str) and n)
    return tuple(sorted(names))
