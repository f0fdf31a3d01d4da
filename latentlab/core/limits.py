"""Sane ceilings for sizes and counts a user (or a file) asks for, and the checks that apply them.

Each ceiling is far above what any real use needs and far below what would exhaust memory: a request past
one is a typo or an attack, and is refused with a ``BadInput`` naming the value before anything is
allocated. The command line applies the same ceilings as argument types (``latentlab.commands.common``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from latentlab.core.errors import BadInput

MAX_LATENT_DIM = 4096  # StyleGAN's w is 512; the zoo's models have 4 to 64
# A latent a view of a model may hold: W+ of a 1024 px StyleGAN2 is 18 x 512 = 9,216 values; 32 ws of 2048 fit.
MAX_VIEW_LATENT = 32 * 2048
MAX_IMAGE_SIDE = 4096  # pixels on the longer side of an exported panel
MAX_PIXELS = 1 << 26  # one output frame or grid image: 64 Mpx (192 MiB in RGB)
MAX_FRAMES = 100_000  # 55 minutes at 30 fps
MAX_FPS = 240.0
MAX_SECONDS = 3600.0
MAX_LATENT_VALUES = 1 << 25  # frames x latent size floats one plan holds (128 MiB)
MAX_GRID_STEPS = 256  # columns of a traversal grid
MAX_GRID_CELLS = 16384  # cells of one grid (rows x columns x models)
MAX_TRAJECTORY = 10_000  # steps of one flow path (a strip, an evaluation, a training horizon)
MAX_STEPS = 10_000_000  # optimisation steps (training, flows, classifiers, inversion)
MAX_BATCH = 65536
MAX_SAMPLES = 10_000_000  # dataset points a job encodes
MAX_COUNT = 1024  # potentials, directions, restarts, probes, repeats
MAX_HIDDEN = 65536  # width of a network layer
MAX_SEED = 2**32 - 1  # numpy's and torch's generators both take any seed in 0..2**32-1
MAX_THREADS = 1024
MAX_PADDING = 1024  # pixels between grid cells or compared panels


def _number_name(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


def check_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int if it is an integer in [lo, hi]; else ``BadInput`` naming ``name``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadInput(f"{name} must be an integer, got {_number_name(value)} {value!r}"[:300])
    as_int = int(value)
    if (lo is not None and as_int < lo) or (hi is not None and as_int > hi):
        raise BadInput(f"{name} must be {describe_range(lo, hi)}, got {value}")
    return as_int


def check_float(value: Any, name: str, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False) -> float:
    """``value`` as a finite float in [lo, hi] (``lo_open``: strictly above lo); else ``BadInput``."""
    if isinstance(value, bool):
        raise BadInput(f"{name} must be a number, got a boolean")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a number, got {value!r}"[:300]) from None
    if not math.isfinite(v):
        raise BadInput(f"{name} must be a finite number, got {v}")
    if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
        raise BadInput(f"{name} must be {describe_range(lo, hi, lo_open)}, got {v:g}")
    return v


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def describe_range(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    """'from 1 to 8', 'above 0 and at most 240', 'at least 2': the range in words, for messages."""
    if lo is not None and hi is not None:
        return f"{'above' if lo_open else 'from'} {_num(lo)} {'and at most' if lo_open else 'to'} {_num(hi)}"
    if lo is not None:
        return f"{'above' if lo_open else 'at least'} {_num(lo)}"
    assert hi is not None  # a range with neither end is not described (its callers check first)
    return f"at most {_num(hi)}"


def check_seed(value: Any, name: str = "seed") -> int:
    return check_int(value, name, 0, MAX_SEED)


__all__ = [name for name in dir() if name.startswith("MAX_")] + ["check_float", "check_int", "check_seed", "describe_range"]
