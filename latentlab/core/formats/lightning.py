"""Loaders for Lightning .ckpt files (and plain torch files) of VAE code bases: AntixK/PyTorch-VAE and disent
keep the weights under ``state_dict`` with the LightningModule's attribute as a prefix (``model.`` and
``_model.``); 1Konny/Beta-VAE saves ``{"model_states": {"net": ...}}``. The architecture is recognised by
its parameter names and sized from the shapes.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from latentlab.core.checkpoints.build import build_zoo as _build_zoo
from latentlab.core.checkpoints.card import make_card
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError
from latentlab.core.formats import is_torch_file, load_torch_file
from latentlab.core.formats.inert_pickle import Record, find_state_dict, plain
from latentlab.core.model import ModelInfo

_PREFIXES = ("", "model.", "_model.", "module.", "model.module.", "net.")


def _find_key(obj: Any, key: str, depth: int = 0) -> Any:
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
                found = _find_key(v, key, depth + 1)
                if found is not None:
                    return found
    return None


def _small_json(obj: Any, limit: int = 2000) -> Any:
    """Hyper-parameters for the card: plain values only, and only if they stay small."""
    value = plain(obj, depth=3)
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else text[:limit] + "..."


class LayoutPlugin:
    """A torch file whose state_dict has a known layout, mapped onto one of our networks."""

    builtin = True
    name = ""
    names: tuple[str, ...] = ()
    network = ""
    code_base = ""
    signature: tuple[str, ...] = ()  # parameter names that identify the layout (after the prefix)
    top_level: tuple[str, ...] = ()  # the network's own top-level modules; other tensors are set aside

    def match(self, src: Source) -> tuple[Any, dict[str, torch.Tensor]] | None:
        if not is_torch_file(src):
            return None
        obj = load_torch_file(src)
        state = find_state_dict(obj)
        if state is None:
            return None
        for prefix in _PREFIXES:
            if all(prefix + k in state for k in self.signature):
                return obj, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        return None

    def can_open(self, src: Source) -> bool:
        return self.match(src) is not None

    def options(self, obj: Any, arch: str | None) -> tuple[dict[str, Any], list[str]]:
        """Hyper-parameters the shapes cannot tell, and notes on how they were chosen."""
        return {}, []

    def open(self, src: Source, trust: bool = False, arch: str | None = None):
        path = src.path
        found = self.match(src)
        if found is None:
            raise CheckpointError(path, f"not a {self.code_base} checkpoint (no tensors named like "
                                        f"{', '.join(self.signature[:3])})")
        obj, state = found
        mine = {k: v for k, v in state.items() if k.split(".", 1)[0] in self.top_level}
        notes = []
        if len(mine) < len(state):
            extra = sorted(set(state) - set(mine))
            notes.append(f"set aside {len(extra)} tensor(s) that are not part of the VAE, e.g. {', '.join(extra[:3])}")
        options, more = self.options(obj, arch)
        notes += more
        model = _build_zoo(path, self.network, mine, options, None)
        model.info = ModelInfo(path.stem, model.info.latent_dim, model.info.image_shape, prior="normal")
        source = {"code_base": self.code_base, "file": path.name}
        if isinstance(obj, dict):
            for key in ("pytorch-lightning_version", "epoch", "global_step"):
                if key in obj and isinstance(obj[key], (str, int, float)):
                    source[key] = obj[key]
            if "hyper_parameters" in obj:
                source["hyper_parameters"] = _small_json(obj["hyper_parameters"])
        model.card = make_card(model, source=source, notes=notes)
        model.load_notes = notes
        return model


class PyTorchVAEPlugin(LayoutPlugin):
    name = "pytorch-vae"
    names = ("pytorch-vae", "pytorch_vae", "pytorch_vae-unit", "pytorch_vae-symmetric")
    network = "pytorch_vae"
    code_base = "AntixK/PyTorch-VAE"
    signature = ("encoder.0.0.weight", "fc_mu.weight", "fc_var.weight", "decoder_input.weight", "final_layer.3.weight")
    top_level = ("encoder", "fc_mu", "fc_var", "decoder_input", "decoder", "final_layer")

    def options(self, obj, arch):
        if arch in ("pytorch_vae-unit", "pytorch_vae-symmetric"):
            rng = arch.split("-")[1]
            return {"data_range": rng}, [f"data range {rng} (chosen with --arch {arch})"]
        version = obj.get("pytorch-lightning_version") if isinstance(obj, dict) else None
        old = _version_tuple(version) < (1, 5) if version else False
        rng = "symmetric" if old else "unit"
        why = (f"saved by Lightning {version}" if version else "no Lightning version recorded")
        return {"data_range": rng}, [
            f"images taken as {'[-1, 1]' if old else '[0, 1]'} ({why}; PyTorch-VAE moved to [0, 1] data with "
            "Lightning 1.5); if reconstructions look wrong, reopen with --arch pytorch_vae-"
            + ("unit" if old else "symmetric")
        ]


class DisentPlugin(LayoutPlugin):
    name = "disent"
    names = ("disent", "disent_conv64", "disent-sigmoid", "disent-linear")
    network = "disent_conv64"
    code_base = "disent (EncoderConv64/DecoderConv64)"
    signature = ("_encoder.model.0.weight", "_encoder.model.11.weight", "_decoder.model.0.weight",
                 "_decoder.model.11.weight")
    top_level = ("_encoder", "_decoder")

    def options(self, obj, arch):
        if arch in ("disent-sigmoid", "disent-linear"):
            out = arch.split("-")[1]
            return {"output": out}, [f"decoder output {out} (chosen with --arch {arch})"]
        loss = _find_key(obj, "recon_loss")
        if isinstance(loss, str):
            out = "sigmoid" if any(s in loss for s in ("bce", "bernoulli")) else "linear"
            return {"output": out}, [f"decoder output {out}: the framework's recon_loss is {loss!r}"]
        # disent's default reconstruction loss is mse, on an unbounded decoder output.
        return {"output": "linear"}, ["recon_loss not recorded; assumed disent's default (mse, linear output); "
                                      "reopen with --arch disent-sigmoid for a BCE-trained model"]


class KonnyPlugin(LayoutPlugin):
    name = "beta-vae-konny"
    names = ("beta-vae-konny", "beta_vae_konny")
    network = "beta_vae_konny"
    code_base = "1Konny/Beta-VAE (BetaVAE_H / BetaVAE_B)"
    signature = ("encoder.0.weight", "encoder.6.weight", "decoder.0.weight")
    top_level = ("encoder", "decoder")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
