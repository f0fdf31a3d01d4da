"""Settings the user makes outside the latent: evented dataclasses (``obj.events.<field>.connect(...)``).

Views bind to these fields and write them back; nothing reads a widget to learn a setting. Each validates
its values on the way in (``__post_init__`` and ``update``), so a session or a script cannot set nonsense.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from psygnal import evented

from latentlab.core.errors import BadInput

MAP_METHODS = ("PCA", "t-SNE")
EXPORT_FORMATS = ("mp4", "gif", "png", "grid")
EXPORT_KINDS = ("dims", "keyframes", "compare", "source")


def _number(value: Any, lo: float, hi: float, name: str, integer: bool = False) -> float:
    """``value`` if it is a (finite) number in [lo, hi] (an integer where ``integer``), else ``BadInput``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise BadInput(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r:.40}")
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise BadInput(f"{name} must lie in [{lo:g}, {hi:g}], got {v:g}")
    return v


class _Updatable:
    if TYPE_CHECKING:
        # What @dataclass and @evented add to each subclass; psygnal builds one signal per field at run time,
        # which no static type describes (``events.<field>`` is a SignalInstance).
        __dataclass_fields__: ClassVar[dict[str, Any]]
        events: ClassVar[Any]

        def checked(self, key: str, value: Any) -> Any: ...

    def update(self, values: dict[str, Any]) -> list[str]:
        """Set the known fields of ``values`` (a session's); returns the names of those refused (kept as they were)."""
        refused = []
        names = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in names:
                continue  # a setting of another version: nothing to do with it
            try:
                setattr(self, key, self.checked(key, value))
            except BadInput:
                refused.append(key)
        order = [f.name for f in fields(self)]
        return sorted(refused, key=order.index)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@evented
@dataclass
class ViewSettings(_Updatable):
    """How the explorer shows a model: slider range, grid, passive latents, latent map."""

    range_std: float = 3.0
    grid_dims: str = ""  # "" = the most active dimensions
    grid_steps: int = 9
    show_passive: bool = False
    map_method: str = "PCA"

    def checked(self, key: str, value: Any) -> Any:
        if key == "range_std":
            return _number(value, 0.5, 10.0, "the slider range")
        if key == "grid_steps":
            return int(_number(value, 2, 25, "grid steps", integer=True))
        if key == "grid_dims":
            if not isinstance(value, str) or len(value) > 200:
                raise BadInput("grid dimensions must be short text such as 0,2,5-7")
            return value
        if key == "show_passive":
            if not isinstance(value, bool):
                raise BadInput("show_passive must be true or false")
            return value
        if key == "map_method":
            if value not in MAP_METHODS:
                raise BadInput(f"the latent map method must be one of {', '.join(MAP_METHODS)}")
            return value
        return value


@evented
@dataclass
class ExportSettings(_Updatable):
    """The export dialog's choices, kept between exports and in sessions."""

    kind: str = "dims"
    format: str = "mp4"
    dims: str = ""
    fps: int = 30
    seconds: float = 4.0
    size: int = 256
    steps: int = 9
    labels: bool = False
    interp: str = "slerp"
    easing: str = "linear"
    out: str = ""

    def checked(self, key: str, value: Any) -> Any:
        if key in ("fps", "size", "steps"):
            lo, hi = {"fps": (1, 60), "size": (32, 2048), "steps": (2, 25)}[key]
            return int(_number(value, lo, hi, key, integer=True))
        if key == "seconds":
            return _number(value, 0.5, 120.0, "duration")
        if key == "labels" and not isinstance(value, bool):
            raise BadInput("labels must be true or false")
        if key == "format" and value not in EXPORT_FORMATS:
            raise BadInput(f"the export format must be one of {', '.join(EXPORT_FORMATS)}")
        if key == "labels":
            return bool(value)
        if key in ("kind", "dims", "interp", "easing", "out"):
            if not isinstance(value, str) or len(value) > 4096:
                raise BadInput(f"{key} must be text")
        return value
