"""rosinality/stylegan2-pytorch checkpoints: ``torch.save({"g": ..., "d": ..., "g_ema": ..., "args": ...})``
from its train.py (StyleGAN2, or SWAGAN with ``--arch swagan``), or ``{"g_ema": ..., "latent_avg": ...}`` from
its convert_weight.py. The EMA generator's state_dict loads into our ``StyleGAN2Generator`` or, when it
carries the wavelet transforms (``iwt.ll``), our ``SWAGANGenerator`` as is (same names); the ``args``
Namespace and optimizer states are read inertly and ignored."""

from __future__ import annotations

from typing import Any

import torch

from latentlab.core.checkpoints.build import build_zoo as _build_zoo
from latentlab.core.checkpoints.card import make_card
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError
from latentlab.core.formats import is_torch_file, load_torch_file
from latentlab.core.formats.inert_pickle import Record, plain
from latentlab.core.model import ModelInfo

SIGNATURE = ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight")


def _is_state(obj: Any) -> bool:
    return isinstance(obj, dict) and all(k in obj for k in SIGNATURE) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


class RosinalityPlugin:
    builtin = True
    name = "rosinality-stylegan2"
    names = ("rosinality-stylegan2", "stylegan2", "stylegan2-w", "swagan", "swagan-w")

    def match(self, src: Source) -> tuple[Any, dict[str, torch.Tensor], str] | None:
        if not is_torch_file(src):
            return None
        obj = load_torch_file(src)
        if _is_state(obj):
            return obj, dict(obj), "state_dict"
        if isinstance(obj, dict):
            for key in ("g_ema", "g"):
                if _is_state(obj.get(key)):
                    return obj, dict(obj[key]), key
        return None

    def can_open(self, src: Source) -> bool:
        return self.match(src) is not None

    def open(self, src: Source, trust: bool = False, arch: str | None = None):
        path = src.path
        found = self.match(src)
        if found is None:
            raise CheckpointError(path, "not a rosinality StyleGAN2 checkpoint (no g_ema state_dict with "
                                        f"{', '.join(SIGNATURE[:3])})")
        obj, state, where = found
        notes = []
        if where == "g":
            notes.append("no g_ema in the file: using the raw generator g (usually worse than its EMA)")
        avg = obj.get("latent_avg") if isinstance(obj, dict) else None
        if isinstance(avg, torch.Tensor):
            state["latent_avg"] = avg.reshape(-1).float()
        else:
            notes.append("no latent_avg stored: the average w was estimated from 4096 seeded samples")
        options: dict[str, Any] = {"lr_mlp": 0.01, "latent_space": "w" if arch in ("stylegan2-w", "swagan-w") else "z"}
        network = "swagan" if "iwt.ll" in state else "stylegan2"
        model = _build_zoo(path, network, state, options, None)
        model.info = ModelInfo(display_name(path) if model.latent_space == "z" else f"{display_name(path)} (w)",
                               model.info.latent_dim, model.info.image_shape)
        source: dict[str, Any] = {"code_base": "rosinality/stylegan2-pytorch", "file": path.name, "weights": where,
                                  "network": "swagan.py" if network == "swagan" else "model.py"}
        args = obj.get("args") if isinstance(obj, dict) else None
        if isinstance(args, Record):
            source["args"] = {k: v for k, v in plain(args).items() if isinstance(v, (str, int, float, bool))}
        model.card = make_card(model, source=source, notes=notes)
        model.load_notes = notes
        return model
