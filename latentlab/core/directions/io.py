"""Direction files: one ``.safetensors`` file, tensors plus a JSON header in its metadata.

Header (metadata key ``latentlab.directions``)::

    {"format": "latentlab-directions", "format_version": 1, "library_version": ..., "created": ...,
     "latent_dim": D, "source_sha256": <checkpoint SHA-256 or null>, "source_name": ..., "meta": {...},
     "directions": [{"name", "method", "params", "kind": "vector" | "field", "field": {<spec>}}, ...]}

Tensors: ``d<i>.vector`` (D,) float32 for vectors; ``d<i>.field.<name>`` for a field's weights (a GradCtrl
field's classifiers). Loading rebuilds fields only from kinds this library knows, from the spec and the
weights: nothing in a file is ever executed.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab import __version__
from latentlab.core.directions.base import Direction, DirectionSet
from latentlab.core.errors import FileError
from latentlab.core.paths import AtomicPath

HEADER_KEY = "latentlab.directions"
FORMAT = "latentlab-directions"
FORMAT_VERSION = 1
# Field kinds a file may name, and the class that rebuilds them from a spec and tensors.
FIELD_KINDS = {"gradctrl": ("latentlab.core.directions.gradctrl", "GradCtrlField")}
_MAX_HEADER = 100 * 1024 * 1024


class DirectionFileError(FileError):
    """A direction file could not be read; the message names the file and says why."""


def save_directions(directions: DirectionSet, path: str | os.PathLike) -> Path:
    """Write ``directions`` to ``path`` atomically (a crash leaves the old file, never half a new one)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    entries = []
    for i, d in enumerate(directions):
        entry: dict[str, Any] = {"name": d.name, "method": d.method, "params": d.params, "kind": d.kind}
        if d.vector is not None:
            tensors[f"d{i}.vector"] = torch.from_numpy(np.ascontiguousarray(d.vector, dtype=np.float32))
        else:
            kind = getattr(d.field, "kind", None)
            if kind not in FIELD_KINDS or not hasattr(d.field, "spec"):
                raise ValueError(f"direction {d.name!r}: this kind of field cannot be saved (only {', '.join(FIELD_KINDS)})")
            entry["field"] = d.field.spec()
            for k, v in d.field.tensors().items():
                tensors[f"d{i}.field.{k}"] = v.detach().to("cpu", torch.float32).contiguous()
        entries.append(entry)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
              "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "latent_dim": directions.latent_dim,
              "source_sha256": directions.source_sha256, "source_name": directions.source_name,
              "meta": directions.meta, "directions": entries}
    target = Path(path)
    with AtomicPath(target) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: json.dumps(header, allow_nan=False), "format": "pt"})
    return target


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a direction file, without loading its tensors."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise DirectionFileError(p, "no such file")
    with open(p, "rb") as fh:
        head = fh.read(9)
    size = p.stat().st_size
    if len(head) < 9 or not (1 < struct.unpack("<Q", head[:8])[0] <= min(_MAX_HEADER, size - 8)) or head[8:9] != b"{":
        raise DirectionFileError(p, "not a .safetensors direction file")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own types for corrupt files
        raise DirectionFileError(p, f"corrupt or truncated .safetensors file ({exc})") from None
    raw = meta.get(HEADER_KEY)
    if raw is None:
        raise DirectionFileError(p, "a .safetensors file without a directions header (is it a checkpoint?)")
    try:
        header = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DirectionFileError(p, f"its header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DirectionFileError(p, "its header is not a latentlab directions header")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DirectionFileError(p, f"format version {version!r} is newer than this latentlab ({FORMAT_VERSION}); update it")
    return header


def _field_class(kind: str) -> Any:
    module, name = FIELD_KINDS[kind]
    return getattr(importlib.import_module(module), name)


def load_directions(path: str | os.PathLike) -> DirectionSet:
    """Read a direction file written by ``save_directions``; every part is checked before use."""
    from safetensors.torch import load_file

    p = Path(path)
    header = read_header(p)
    try:
        tensors = load_file(str(p), device="cpu")
    except Exception as exc:
        raise DirectionFileError(p, f"corrupt or truncated .safetensors file ({exc})") from None
    dim = header.get("latent_dim")
    entries = header.get("directions")
    if not isinstance(dim, int) or dim < 1 or not isinstance(entries, list):
        raise DirectionFileError(p, "its header lacks a valid latent_dim or directions list")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("method"), str) \
                or not isinstance(e.get("params", {}), dict):
            raise DirectionFileError(p, f"direction {i}: malformed entry")
        where = f"direction {i} ({e['name']!r})"
        kind = e.get("kind")
        if kind == "vector":
            v = tensors.get(f"d{i}.vector")
            if v is None or tuple(v.shape) != (dim,):
                raise DirectionFileError(p, f"{where}: missing vector or wrong shape (expected ({dim},))")
            v = v.float().numpy()
            norm = float(np.linalg.norm(v))
            if not np.isfinite(v).all() or abs(norm - 1.0) > 1e-3:
                raise DirectionFileError(p, f"{where}: not a finite unit vector (norm {norm:.4g})")
            out.append(Direction(e["name"], e["method"], e.get("params", {}), vector=v))
        elif kind == "field":
            spec = e.get("field")
            if not isinstance(spec, dict) or spec.get("type") not in FIELD_KINDS:
                raise DirectionFileError(p, f"{where}: unknown field type {spec.get('type') if isinstance(spec, dict) else spec!r}")
            prefix = f"d{i}.field."
            sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                fld = _field_class(spec["type"]).from_spec(spec, sub)
            except (KeyError, TypeError, ValueError) as exc:
                raise DirectionFileError(p, f"{where}: cannot rebuild its field ({exc})") from None
            if fld.latent_dim != dim:
                raise DirectionFileError(p, f"{where}: field is {fld.latent_dim}-dimensional, the file says {dim}")
            out.append(Direction(e["name"], e["method"], e.get("params", {}), field=fld))
        else:
            raise DirectionFileError(p, f"{where}: unknown kind {kind!r}")
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise DirectionFileError(p, "direction names are not unique")
    sha = header.get("source_sha256")
    return DirectionSet(dim, out, sha if isinstance(sha, str) else None,
                        header.get("source_name") if isinstance(header.get("source_name"), str) else None,
                        header.get("meta") if isinstance(header.get("meta"), dict) else {})
