"""State_dicts of other code bases recognised by their parameter names, wherever in the file they sit.

A training framework files a network's tensors under the attribute that held it: PyTorch-VAE's Lightning
module keeps its VAE in ``self.model`` (``model.encoder...``), disent in ``self._model``, other projects use
``vae.``, ``net.``, ``model.model.`` or DDP's ``module.``. The prefix is not looked up in a list: it is found
from the tensors, as the longest prefix under which every tensor of a layout's signature is present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from latentlab.core.checkpoints.build import build_zoo as _build_zoo
from latentlab.core.checkpoints.card import make_card
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError
from latentlab.core.formats import is_torch_file, load_torch_file
from latentlab.core.formats.inert_pickle import Record, find_state_dict, plain
from latentlab.core.model import ModelInfo
from latentlab.core.text import printable


@dataclass(frozen=True)
class Layout:
    """One network of a code base: the tensors that identify it (after the prefix) and its top-level modules."""

    network: str  # ours, in latentlab.core.zoo
    model: str  # the code base's class, for the card
    signature: tuple[str, ...]
    top_level: tuple[str, ...]  # the network's own modules; other tensors under the prefix are set aside


def find_prefix(state: dict[str, torch.Tensor], signature: tuple[str, ...]) -> str | None:
    """The longest prefix ("" included) under which every name in ``signature`` is a tensor of ``state``.

    A prefix ends at a module boundary (it is empty or ends with a dot), so ``encoder.0.weight`` never
    matches inside ``decoder.encoder.0.weight``'s name by accident of spelling.
    """
    first = signature[0]
    candidates = {k[: len(k) - len(first)] for k in state if k.endswith(first)}
    for prefix in sorted((c for c in candidates if c == "" or c.endswith(".")), key=len, reverse=True):
        if all(prefix + name in state for name in signature):
            return prefix
    return None


@dataclass
class Match:
    obj: Any  # the whole file, as read inertly
    layout: Layout
    prefix: str
    state: dict[str, torch.Tensor]  # every tensor under the prefix, prefix removed
    outside: int  # tensors of the file's state_dict outside the prefix


def _small_json(obj: Any, limit: int = 2000) -> Any:
    """Hyper-parameters for the card: plain values only, and only if they stay small."""
    value = plain(obj, depth=3)
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else text[:limit] + "..."


class LayoutPlugin:
    """A torch file whose state_dict holds one of ``layouts`` under some prefix, mapped onto our network."""

    builtin = True
    name = ""
    names: tuple[str, ...] = ()
    code_base = ""
    layouts: tuple[Layout, ...] = ()  # asked in order: a layout whose signature extends another's comes first

    def match(self, src: Source) -> Match | None:
        if not is_torch_file(src):
            return None
        obj = load_torch_file(src)
        state = find_state_dict(obj)
        if state is None:
            return None
        for layout in self.layouts:
            prefix = find_prefix(state, layout.signature)
            if prefix is not None:
                mine = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                return Match(obj, layout, prefix, mine, len(state) - len(mine))
        return None

    def can_open(self, src: Source) -> bool:
        return self.match(src) is not None

    def options(self, found: Match, arch: str | None, src: Source) -> tuple[dict[str, Any], list[str]]:
        """Hyper-parameters the shapes cannot tell, and notes on how they were chosen."""
        return {}, []

    def variant_options(self, arch: str | None) -> tuple[dict[str, Any], list[str]] | None:
        """What ``--arch`` variant name ``arch`` (e.g. ``pytorch_vae-symmetric``) sets, or None if it sets nothing.

        Also applied to a converted .safetensors file of this code base's network, so the hint a note gives
        ("reopen with --arch ...") works on the converted file too.
        """
        return None

    def finish(self, model: Any, found: Match, src: Source, notes: list[str]) -> dict[str, Any] | None:
        """What a code base adds to the opened model (its dataset, notes); returns more for the card's source."""
        return None

    def open(self, src: Source, trust: bool = False, arch: str | None = None):
        path = src.path
        found = self.match(src)
        if found is None:
            sigs = "; ".join(", ".join(lay.signature[:3]) for lay in self.layouts)
            raise CheckpointError(path, f"not a {self.code_base} checkpoint (no tensors named like {sigs})")
        layout = found.layout
        mine = {k: v for k, v in found.state.items() if k.split(".", 1)[0] in layout.top_level}
        notes = []
        extra = found.outside + len(found.state) - len(mine)
        if extra:
            others = sorted(k for k in found.state if k not in mine)[:3] or ["(outside the prefix)"]
            notes.append(f"set aside {extra} tensor(s) that are not part of the network, e.g. {', '.join(others)}")
        if found.prefix:
            notes.append(f"the network's tensors are under {printable(found.prefix)!r} in this file")
        options, more = self.options(found, arch, src)
        notes += more
        model = _build_zoo(path, layout.network, mine, options, None)
        model.info = ModelInfo(display_name(path), model.info.latent_dim, model.info.image_shape, prior="normal")
        more_source = self.finish(model, found, src, notes) or {}
        source: dict[str, Any] = {"code_base": self.code_base, "model": layout.model, "file": path.name}
        if found.prefix:
            source["prefix"] = found.prefix[:200]
        obj = found.obj
        if isinstance(obj, dict):
            for key in ("pytorch-lightning_version", "epoch", "global_step"):
                if key in obj and isinstance(obj[key], (str, int, float)):
                    source[key] = obj[key]
            if "hyper_parameters" in obj:
                source["hyper_parameters"] = _small_json(obj["hyper_parameters"])
        source.update(more_source)
        model.card = make_card(model, source=source, notes=notes)
        model.load_notes = notes
        return model


def find_key(obj: Any, key: str, depth: int = 0) -> Any:
    """The first value stored under ``key`` anywhere in nested dicts and inert records."""
    if depth > 8:
        return None
    if isinstance(obj, Record):
        obj = obj.as_dict()
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            if isinstance(v, (dict, Record)):
                found = find_key(v, key, depth + 1)
                if found is not None:
                    return found
    return None
