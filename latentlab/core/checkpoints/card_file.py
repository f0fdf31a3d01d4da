"""The one reader and writer of latentlab's "safetensors + JSON card" files: checkpoints, directions, flows.

Each kind keeps its card under its own metadata key (``latentlab.card``, ``latentlab.directions``,
``latentlab.flows``); everything else about reading one is the same and lives here: the file must be a
regular file; the header is read alone (a card can be shown without loading gigabytes of tensors) and
parsed within bounds; the card is parsed within bounds; tensors are loaded by safetensors with its errors
turned into the caller's. Writing is atomic.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

from latentlab.core.errors import FileError
from latentlab.core.input_files import check_regular
from latentlab.core.paths import AtomicPath
from latentlab.core.safe_json import loads_bounded

MAX_HEADER = 100 * 1024 * 1024
HEADER_DEPTH = 34
ErrorFor = type[FileError]  # the caller's own kind of FileError, built from (path, reason)


def is_safetensors_head(head: bytes, size: int) -> bool:
    """The first 9 bytes of a .safetensors file: a sane header length, then the header's opening brace."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 1 < n <= min(MAX_HEADER, size - 8) and head[8:9] == b"{"


def parse_header(path: Path, data: bytes, error: ErrorFor) -> dict[str, Any]:
    """The JSON header of .safetensors bytes (the whole file, or at least its header)."""
    if not is_safetensors_head(data[:9], len(data)):
        raise error(path, "not a .safetensors file (or a truncated one)")
    (n,) = struct.unpack("<Q", data[:8])
    header = loads_bounded(data[8:8 + n], "its .safetensors header", max_depth=HEADER_DEPTH, max_bytes=MAX_HEADER,
                           error=lambda reason: error(path, f"corrupt .safetensors file ({reason})"))
    if not isinstance(header, dict):
        raise error(path, "corrupt .safetensors file (its header is not an object)")
    return header


def read_head(path: str | os.PathLike, what: str, error: ErrorFor) -> bytes:
    """The length prefix and header of a .safetensors file, read without its tensors."""
    p = Path(path)
    size = check_regular(p, what, error=error)
    with open(p, "rb") as fh:
        head = fh.read(9)
        if not is_safetensors_head(head, size):
            raise error(p, f"not a .safetensors file, so not {what}")
        (n,) = struct.unpack("<Q", head[:8])
        return head + fh.read(n - 1)


def metadata(path: Path, data: bytes, error: ErrorFor) -> dict[str, Any]:
    meta = parse_header(path, data, error).get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise error(path, "corrupt .safetensors file (its metadata is not an object)")
    return meta


def card_in(path: Path, meta: dict[str, Any], key: str, what: str, error: ErrorFor, *, max_bytes: int,
            max_depth: int = 32) -> dict[str, Any] | None:
    """The card stored under ``key`` (None when the file has none), parsed within bounds."""
    raw = meta.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise error(path, f"its {what} is not text")
    card = loads_bounded(raw, f"its {what}", max_depth=max_depth, max_bytes=max_bytes,
                         error=lambda reason: error(path, reason))
    if not isinstance(card, dict):
        raise error(path, f"its {what} is not a JSON object")
    return card


def load_tensors(path: Path, error: ErrorFor, data: bytes | None = None) -> dict[str, torch.Tensor]:
    """All tensors of a .safetensors file (from ``data`` when the bytes are already in memory)."""
    from safetensors.torch import load, load_file

    try:
        return load(data) if data is not None else load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for corrupt or truncated files
        raise error(path, f"corrupt or truncated .safetensors file ({str(exc)[:200]})") from None


def write(path: str | os.PathLike, tensors: dict[str, torch.Tensor], key: str, card: dict[str, Any],
          **json_options: Any) -> Path:
    """Write tensors and ``card`` (under ``key``) to one .safetensors file, atomically."""
    from safetensors.torch import save_file

    target = Path(path)
    state: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in tensors.items():
        t = v.detach().to("cpu").contiguous()
        # safetensors refuses tensors that share memory (tied weights, directions sharing one classifier).
        ptr = t.untyped_storage().data_ptr()
        state[k] = t.clone() if ptr in seen and t.numel() else t
        seen.add(ptr)
    with AtomicPath(target) as tmp:
        save_file(state, str(tmp), metadata={key: json.dumps(card, **json_options), "format": "pt"})
    return target
