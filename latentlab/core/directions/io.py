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
import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from latentlab import __version__
from latentlab.core import limits
from latentlab.core.checkpoints import card_file
from latentlab.core.directions.base import Direction, DirectionSet, SavableField
from latentlab.core.errors import FileError
from latentlab.core.safe_json import JSONFieldError, describe, expect, field
from latentlab.core.sidecars import DIRECTIONS_HEADER_KEY
from latentlab.core.text import printable

HEADER_KEY = DIRECTIONS_HEADER_KEY
FORMAT = "latentlab-directions"
FORMAT_VERSION = 1
# Field kinds a file may name, and the class that rebuilds them from a spec and tensors.
FIELD_KINDS = {"gradctrl": ("latentlab.core.directions.gradctrl", "GradCtrlField"),
               "adatrans": ("latentlab.core.directions.adatrans", "AdaTransField")}
_MAX_HEADER = 100 * 1024 * 1024
_MAX_JSON = 16 * 1024 * 1024  # the header's JSON: names, methods, parameters and field specs
_MAX_DIRECTIONS = 4096


class DirectionFileError(FileError):
    """A direction file could not be read; the message names the file and says why."""


def save_directions(directions: DirectionSet, path: str | os.PathLike) -> Path:
    """Write ``directions`` to ``path`` atomically (a crash leaves the old file, never half a new one)."""
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
            saved = cast(SavableField, d.field)  # a known kind: one of ours, which all save
            entry["field"] = saved.spec()
            for k, v in saved.tensors().items():
                tensors[f"d{i}.field.{k}"] = v.detach().to("cpu", torch.float32).contiguous()
        entries.append(entry)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
              "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "latent_dim": directions.latent_dim,
              "source_sha256": directions.source_sha256, "source_name": directions.source_name,
              "meta": directions.meta, "directions": entries}
    return card_file.write(path, tensors, HEADER_KEY, header, allow_nan=False)


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a direction file, without loading its tensors."""
    p = Path(path)
    meta = card_file.metadata(p, card_file.read_head(p, "a direction file", DirectionFileError), DirectionFileError)
    header = card_file.card_in(p, meta, HEADER_KEY, "directions header", DirectionFileError, max_bytes=_MAX_JSON)
    if header is None:
        raise DirectionFileError(p, "a .safetensors file without a directions header (is it a checkpoint?)")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DirectionFileError(p, "its header is not a latentlab directions header")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DirectionFileError(p, f"header.format_version: expected a positive integer, got {describe(version)}")
    if version > FORMAT_VERSION:
        raise DirectionFileError(p, f"format version {version} is newer than this latentlab ({FORMAT_VERSION}); update it")
    return header


def _field_class(kind: str) -> Any:
    module, name = FIELD_KINDS[kind]
    return getattr(importlib.import_module(module), name)


def load_directions(path: str | os.PathLike) -> DirectionSet:
    """Read a direction file written by ``save_directions``; every part is checked before use."""
    p = Path(path)
    header = read_header(p)
    tensors = card_file.load_tensors(p, DirectionFileError)
    try:
        dim = field(header, "latent_dim", "int", "header", lo=1, hi=limits.MAX_VIEW_LATENT)
        entries = field(header, "directions", "list", "header", hi=_MAX_DIRECTIONS)
        sha = field(header, "source_sha256", "string", "header", default=None, optional=True, hi=64)
        source_name = field(header, "source_name", "string", "header", default=None, optional=True, hi=1000)
        meta = field(header, "meta", "object", "header", default={})
        out = [_direction(p, i, e, dim, tensors) for i, e in enumerate(entries)]
    except JSONFieldError as exc:
        raise DirectionFileError(p, exc.message) from None
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise DirectionFileError(p, "direction names are not unique")
    return DirectionSet(dim, out, sha, source_name, meta)


def _direction(p: Path, i: int, e: Any, dim: int, tensors: dict[str, torch.Tensor]) -> Direction:
    """Entry ``i`` of a direction file's header, checked field by field against the file's tensors."""
    where = f"header.directions[{i}]"
    e = expect(e, "object", where)
    name = field(e, "name", "string", where, lo=1, hi=1000)
    method = field(e, "method", "string", where, hi=1000)
    params = field(e, "params", "object", where, default={})
    kind = field(e, "kind", "string", where)
    where = f"direction {i} ({printable(name, 80)!r})"
    if kind == "vector":
        v = tensors.get(f"d{i}.vector")
        if v is None or tuple(v.shape) != (dim,):
            raise DirectionFileError(p, f"{where}: missing vector or wrong shape (expected ({dim},))")
        if not v.is_floating_point():
            raise DirectionFileError(p, f"{where}: its vector holds {v.dtype} values, not floating-point numbers")
        vec = v.float().numpy()
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(vec).all() or abs(norm - 1.0) > 1e-3:
            raise DirectionFileError(p, f"{where}: not a finite unit vector (norm {norm:.4g})")
        return Direction(name, method, params, vector=vec)
    if kind == "field":
        spec = field(e, "field", "object", f"header.directions[{i}]")
        if not isinstance(spec.get("type"), str) or spec["type"] not in FIELD_KINDS:
            raise DirectionFileError(p, f"{where}: unknown field type {printable(spec.get('type'), 80)!r}")
        prefix = f"d{i}.field."
        sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            fld = _field_class(spec["type"]).from_spec(spec, sub)
        except (KeyError, TypeError, ValueError) as exc:  # JSONFieldError is a ValueError
            raise DirectionFileError(p, f"{where}: cannot rebuild its field ({exc})") from None
        if fld.latent_dim != dim:
            raise DirectionFileError(p, f"{where}: field is {fld.latent_dim}-dimensional, the file says {dim}")
        return Direction(name, method, params, field=fld)
    raise DirectionFileError(p, f"{where}: unknown kind {printable(kind, 80)!r}")
