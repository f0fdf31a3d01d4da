"""JSON from files, read within bounds: a size limit, a nesting limit checked without recursion, typed errors.

``json.loads`` recurses once per nesting level, so ``[[[[...]]]]`` a few thousand levels deep raises
``RecursionError`` (a traceback, not a message), and nothing stops a file from asking for gigabytes. Every
JSON text latentlab reads from a file (direction headers, flows cards, sessions, model cards, app state) goes
through ``loads_bounded``; the fields read from the result go through ``field`` / ``expect``, which name the
field that has the wrong type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from latentlab.core.errors import BadInput, FileError
from latentlab.core.limits import describe_range

DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_CONTAINERS = 1_000_000

_CHUNK = 1 << 20
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_STEP = _OPEN.copy()
_STEP[[ord("]"), ord("}")]] = -1


class JSONFieldError(BadInput):
    """A field of a JSON document is missing or has the wrong type; the message names the field."""


def _nesting(data: bytes) -> tuple[int, int]:
    """(deepest nesting, number of arrays and objects) of a JSON text, by counting brackets outside strings."""
    # Brackets inside strings nest nothing. Escaped backslashes go first, then escaped quotes; every quote left
    # opens or closes a string, so every other piece between quotes is outside the strings.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    stripped = b"".join(unescaped.split(b'"')[::2])
    depth = deepest = containers = 0
    for start in range(0, len(stripped), _CHUNK):
        codes = np.frombuffer(stripped, np.uint8, count=min(_CHUNK, len(stripped) - start), offset=start)
        running = np.cumsum(_STEP[codes], dtype=np.int64) + depth
        if len(running):
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
        containers += int(_OPEN[codes].sum(dtype=np.int64))
    return deepest, containers


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"the number {text[:40]} is out of range")
    return v


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_bounded(text: str | bytes | bytearray, what: str = "JSON", *, max_depth: int = DEFAULT_MAX_DEPTH,
                  max_bytes: int = DEFAULT_MAX_BYTES, max_containers: int = DEFAULT_MAX_CONTAINERS,
                  allow_nan: bool = True, path: Any = None,
                  error: Callable[[str], Exception] | None = None) -> Any:
    """Parse ``text`` as JSON, refusing what is too large or too deeply nested before parsing it.

    ``what`` names the document in messages ("model card", "session"). Errors: ``error(reason)`` when given
    (the caller's own type), else ``FileError(path, reason)`` with a ``path``, else ``BadInput``. Every
    failure, including ones ``json`` itself would raise as ``RecursionError`` or ``MemoryError``, comes out as
    that one typed error. ``allow_nan=False`` also refuses ``NaN``/``Infinity`` and numbers that overflow.
    """
    def fail(reason: str) -> Exception:
        if error is not None:
            return error(reason)
        if path is not None:
            return FileError(path, reason)
        return BadInput(reason)

    if isinstance(text, str):
        if len(text) > max_bytes:  # a character is at least one byte: refuse before encoding a huge text
            raise fail(f"{what} is too large ({len(text)} characters; at most {max_bytes} bytes are read)")
        data = text.encode("utf-8", "surrogatepass")
    elif isinstance(text, (bytes, bytearray)):
        data = bytes(text)
    else:
        raise fail(f"{what} is not text (got {type(text).__name__})")
    if len(data) > max_bytes:
        raise fail(f"{what} is too large ({len(data)} bytes; the limit is {max_bytes})")
    if not data.strip():
        raise fail(f"{what} is empty")
    try:
        decoded = text if isinstance(text, str) else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} is not UTF-8 text (byte {exc.start})") from None
    deepest, containers = _nesting(data)
    if deepest > max_depth:
        raise fail(f"{what} nests {deepest} levels deep; at most {max_depth} are accepted")
    if containers > max_containers:
        raise fail(f"{what} holds {containers} arrays and objects; at most {max_containers} are accepted")
    extra: dict[str, Any] = {} if allow_nan else {"parse_float": _finite_float, "parse_constant": _no_constant}
    try:
        return json.loads(decoded, **extra)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # Integers past Python's digit limit, a refused constant, or a parser limit this check did not foresee.
        raise fail(f"{what} is not usable JSON ({type(exc).__name__}: {str(exc)[:200]})") from None


# --- typed fields ---------------------------------------------------------------------------------------------

_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "object": ("an object", lambda v: isinstance(v, dict)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "string": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a finite number",
               lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
}
_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}
_MISSING = object()


def describe(value: Any) -> str:
    """What a JSON value is, for a message ("a string", "null", ...)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def expect(value: Any, kind: str, where: str, *, lo: float | None = None, hi: float | None = None,
           optional: bool = False) -> Any:
    """``value`` if it is of ``kind`` (object, list, string, int, number, bool) and within [lo, hi].

    ``optional`` lets ``None`` through. Numbers are bounded by ``lo``/``hi``, strings and lists by length.
    Raises ``JSONFieldError`` naming ``where``.
    """
    if value is None and optional:
        return None
    name, ok = _KINDS[kind]
    if not ok(value):
        raise JSONFieldError(f"{where}: expected {name}, got {describe(value)}")
    measure = len(value) if kind in ("string", "list") else value if kind in ("int", "number") else None
    if measure is not None and ((lo is not None and measure < lo) or (hi is not None and measure > hi)):
        what = "length" if kind in ("string", "list") else "value"
        shown = measure if isinstance(measure, int) else f"{measure:g}"
        raise JSONFieldError(f"{where}: {what} {shown} is out of range ({describe_range(lo, hi)})")
    return value


def field(obj: dict[str, Any], key: str, kind: str, where: str, *, default: Any = _MISSING,
          lo: float | None = None, hi: float | None = None, optional: bool = False) -> Any:
    """``obj[key]`` checked by ``expect``; a missing key gives ``default`` (an error when there is none)."""
    if key not in obj:
        if default is _MISSING:
            raise JSONFieldError(f"{where}: missing {key!r}")
        return default
    return expect(obj[key], kind, f"{where}.{key}" if where else key, lo=lo, hi=hi, optional=optional)


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_CONTAINERS", "DEFAULT_MAX_DEPTH", "JSONFieldError", "describe",
           "expect", "field", "loads_bounded"]
