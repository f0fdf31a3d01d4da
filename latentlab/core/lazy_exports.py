"""A package whose names are imported on first use (PEP 562), for packages whose submodules pull torch.

    __getattr__, __dir__ = lazy_exports(__name__, {"open_checkpoint": "open", ...})

``where`` maps each exported name to the submodule (relative to the package) that defines it; a name is looked
up there once and then kept in the package, so later uses cost what any attribute does.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's module-level ``__getattr__`` and ``__dir__``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
