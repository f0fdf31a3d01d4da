"""Icons from the package's resources/icons (SVG), looked up once."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from latentlab.core.errors import FileError
from latentlab.core.resources import resource_path


@cache
def icon(name: str) -> QIcon:
    try:
        return QIcon(str(resource_path("icons", f"{name}.svg")))
    except FileError:
        return QIcon()


def broken_icons() -> list[str]:
    """Shipped icons that do not draw (an installation or bundle without Qt's SVG plugins): for install checks."""
    folder = resource_path("icons")
    return [p.stem for p in sorted(folder.glob("*.svg")) if icon(p.stem).pixmap(32, 32).isNull()]
