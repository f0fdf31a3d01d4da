"""Bookmarks: named latents of one checkpoint (by its SHA-256), compared by identity, not by value."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)  # two bookmarks with the same name and latent are still two bookmarks
class Bookmark:
    name: str
    z: np.ndarray
    model_sha: str
    created: float = field(default_factory=time.time)
    note: str = ""
    space: str | None = None  # a style generator's space the latent lies in (z, w, w+); None: the model's only one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "z": self.z.tolist(), "model_sha": self.model_sha, "created": self.created,
                "note": self.note, "space": self.space}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bookmark:
        return cls(str(d["name"]), np.asarray(d["z"], dtype=np.float32), str(d.get("model_sha", "")),
                   float(d.get("created", time.time())), str(d.get("note", "")),
                   d.get("space") if d.get("space") in ("z", "w", "w+", "s") else None)
