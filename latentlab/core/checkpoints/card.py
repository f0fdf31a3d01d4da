"""The model card: a JSON object in a .safetensors file's metadata that says what the weights are.

A card is text anyone may have written: it is parsed with bounded size and depth, every field used is
type-checked, and nothing sized from it is trusted over the tensors themselves (``build.py``).
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

from latentlab import __version__
from latentlab.core.errors import CheckpointError
from latentlab.core.model import ModelInfo
from latentlab.core.text import printable

CARD_KEY = "latentlab.card"
FORMAT_VERSION = 1
MAX_CARD_BYTES = 4 * 1024 * 1024
MAX_CARD_DEPTH = 32
MAX_HEADER = 100 * 1024 * 1024
MAX_NAME = 256
MAX_LATENT_DIM = 1 << 20
MAX_SIDE = 16384


def make_card(model: Any, **extra: Any) -> dict[str, Any]:
    """The model card saved with a zoo model: enough to rebuild it and to say where it came from."""
    card: dict[str, Any] = {
        "format": "latentlab-checkpoint",
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "architecture": getattr(model, "architecture", type(model).__name__),
        "hparams": dict(getattr(model, "hparams", {})),
        "info": model.info.to_dict(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    card.update(extra)
    return card


def validate_card(path: Path, card: dict[str, Any]) -> None:
    """The card's sections have the types the loaders read them as."""
    for key, kind in (("architecture", str), ("hparams", dict), ("info", dict)):
        if key in card and not isinstance(card[key], kind):
            raise CheckpointError(path, f"its model card's {key!r} is a {type(card[key]).__name__}, "
                                        f"not a {kind.__name__}")


def parse_card(path: Path, raw: Any) -> dict[str, Any]:
    """A card given as JSON text (e.g. a TorchScript archive's latentlab.json), parsed and checked."""
    from latentlab.core.checkpoints import card_file

    card = card_file.card_in(path, {CARD_KEY: raw}, CARD_KEY, "model card", CheckpointError,
                             max_bytes=MAX_CARD_BYTES, max_depth=MAX_CARD_DEPTH)
    validate_card(path, card or {})
    return card or {}


def card_of(path: Path, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(card, raw metadata) of a .safetensors file's bytes; the card is {} when the file has none."""
    from latentlab.core.checkpoints import card_file

    meta = card_file.metadata(path, data, CheckpointError)
    card = card_file.card_in(path, meta, CARD_KEY, "model card", CheckpointError, max_bytes=MAX_CARD_BYTES,
                             max_depth=MAX_CARD_DEPTH)
    if card:
        validate_card(path, card)
    return card or {}, meta


def _names(path: Path, value: Any, field: str, count: int | None = None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= MAX_NAME for v in value):
        raise CheckpointError(path, f"its card's {field} are not a list of short names")
    if count is not None and len(value) != count:
        raise CheckpointError(path, f"its card gives {len(value)} {field} for {count} latent dimensions")
    if len(value) > 4096:
        raise CheckpointError(path, f"its card lists {len(value)} {field}")
    return tuple(value)


def info_from_card(path: Path, section: Any) -> ModelInfo:
    """A ModelInfo from a card's ``info`` section, every field type- and range-checked."""
    if not isinstance(section, dict):
        raise CheckpointError(path, "its model card's 'info' is not an object")
    name, dim, shape = section.get("name"), section.get("latent_dim"), section.get("image_shape")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise CheckpointError(path, "its card's info.name is not a short text")
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_LATENT_DIM:
        raise CheckpointError(path, f"its card's info.latent_dim is not a size from 1 to {MAX_LATENT_DIM}")
    if (not isinstance(shape, list) or len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool)
                                                                  for s in shape)
            or shape[0] not in (1, 3) or not all(1 <= s <= MAX_SIDE for s in shape[1:])):
        raise CheckpointError(path, "its card's info.image_shape is not [1 or 3, height, width] of sane sizes")
    dataset = section.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or len(dataset) > 4096):
        raise CheckpointError(path, "its card's info.dataset is not a short text")
    prior = section.get("prior", "normal")
    try:
        return ModelInfo(name=name, latent_dim=dim, image_shape=tuple(shape),
                         latent_names=_names(path, section.get("latent_names"), "latent names", dim),
                         prior=prior if isinstance(prior, str) else "?", dataset=dataset,
                         factor_names=_names(path, section.get("factor_names"), "factor names"))
    except ValueError as exc:
        raise CheckpointError(path, f"its card's info section is invalid ({exc})") from None


def check_card_value(path: Path, key: str, value: Any) -> Any:
    """A network setting taken from a card: a plain, finite, bounded value (or a CheckpointError)."""
    def ok(v: Any) -> bool:
        if v is None or isinstance(v, bool):
            return True
        if isinstance(v, int):
            return abs(v) <= 1 << 24
        if isinstance(v, float):
            return math.isfinite(v) and abs(v) <= 1e6
        if isinstance(v, str):
            return len(v) <= 64
        return False

    if ok(value) or (isinstance(value, list) and len(value) <= 64 and all(ok(v) for v in value)):
        return value
    raise CheckpointError(path, f"its card's setting {key} = {printable(repr(value))[:60]} is not a plain value "
                                "in a sane range")


def format_card(card: dict[str, Any]) -> str:
    """A model card as readable text (what ``latentlab info`` prints), control characters escaped."""
    lines: list[str] = []

    def emit(key: Any, value: Any, indent: int) -> None:
        pad = "  " * indent
        if isinstance(value, dict) and indent < 8:
            lines.append(f"{pad}{printable(key)}:")
            for k, v in value.items():
                emit(k, v, indent + 1)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{printable(key)}: {printable(', '.join(str(v) for v in value), 2000)}")
        else:
            lines.append(f"{pad}{printable(key)}: {printable(value, 2000)}")

    for k, v in card.items():
        emit(k, v, 0)
    return "\n".join(lines)
