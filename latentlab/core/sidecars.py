"""Files that travel with a checkpoint: its potential flows, its direction sets and its checkpoint series.

Beside ``run.safetensors``: ``run.flows.safetensors`` (``latentlab flows train``), ``run.directions.safetensors``
(``latentlab directions``) and the folder ``run.series/`` of training snapshots (``latentlab train
--snapshot-every``). The app opens them with the checkpoint. A flows or direction file is only offered when
its card names this very checkpoint (by SHA-256): on another model's latents it would mean nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from latentlab.core.errors import LatentlabError

log = logging.getLogger(__name__)

FLOWS_SUFFIX = ".flows.safetensors"
DIRECTIONS_SUFFIX = ".directions.safetensors"
SERIES_SUFFIX = ".series"
# The metadata key a directions / flows file is recognised by (its own modules pull torch; ``resources`` tells
# demo models from sidecars before torch is loaded).
DIRECTIONS_HEADER_KEY = "latentlab.directions"
FLOWS_CARD_KEY = "latentlab.flows"


def _stem(path: Path) -> str:
    return path.name[: -len(".safetensors")] if path.name.endswith(".safetensors") else path.stem


def directions_sidecar(checkpoint: str | os.PathLike) -> Path:
    """The direction file that opens with ``checkpoint`` (``run.safetensors`` -> ``run.directions.safetensors``)."""
    path = Path(checkpoint)
    return path.with_name(_stem(path) + DIRECTIONS_SUFFIX)


def is_sidecar(path: str | os.PathLike) -> bool:
    """A flows or direction file (named as a sidecar), not a model checkpoint."""
    name = Path(path).name
    return name.endswith(FLOWS_SUFFIX) or name.endswith(DIRECTIONS_SUFFIX)


@dataclass
class Sidecars:
    flows: Path | None = None
    directions: Path | None = None
    series: list[Path] = field(default_factory=list)  # snapshots, in training order
    notes: list[str] = field(default_factory=list)  # sidecars found but not usable, and why

    def __bool__(self) -> bool:
        return bool(self.flows or self.directions or self.series)


def _belongs(path: Path, sha256: str | None, kind: str, notes: list[str]) -> bool:
    """Whether the flows / direction file at ``path`` names the checkpoint ``sha256``."""
    try:
        if kind == "flows":
            from latentlab.core.flows.io import read_flows_card

            owner = read_flows_card(path).get("checkpoint", {}).get("sha256")
        else:
            from latentlab.core.directions.io import read_header

            owner = read_header(path).get("source_sha256")
    except (LatentlabError, OSError, ValueError) as exc:
        notes.append(f"{path.name}: not used ({exc})")
        return False
    if sha256 and owner and owner != sha256:
        notes.append(f"{path.name}: made for another checkpoint (sha256 {str(owner)[:12]}...), not used")
        return False
    return True


def find_sidecars(checkpoint: str | os.PathLike, sha256: str | None = None) -> Sidecars:
    """The sidecar files beside ``checkpoint`` that belong to it (``sha256``: the checkpoint's digest)."""
    path = Path(checkpoint)
    stem = _stem(path)
    out = Sidecars()
    flows = path.with_name(stem + FLOWS_SUFFIX)
    if flows.is_file() and _belongs(flows, sha256, "flows", out.notes):
        out.flows = flows
    directions = directions_sidecar(path)
    if directions.is_file() and _belongs(directions, sha256, "directions", out.notes):
        out.directions = directions
    folder = path.with_name(stem + SERIES_SUFFIX)
    if folder.is_dir():

        try:
            out.series = _series(path, folder)
        except (LatentlabError, OSError, ValueError) as exc:
            out.notes.append(f"{folder.name}: not used ({exc})")
    for note in out.notes:
        log.info("%s", note)
    return out


def _series(path: Path, folder: Path) -> list[Path]:
    """The snapshots in training order, ending with the checkpoint itself when no snapshot has its step (a run's
    last snapshot would repeat the checkpoint's weights, so a shipped series may leave it out)."""
    from latentlab.core.checkpoint import read_card
    from latentlab.core.compare import card_step, checkpoint_series

    snapshots = checkpoint_series(sorted(p for p in folder.glob("*.safetensors") if not is_sidecar(p)), by="step")
    final = card_step(read_card(path)) if path.is_file() else None
    if final is not None and all(e.step != final for e in snapshots) and all(e.step is not None and e.step < final for e in snapshots):
        snapshots = checkpoint_series([*(e.path for e in snapshots), path], by="step")
    return [e.path for e in snapshots] if len(snapshots) > 1 else []
