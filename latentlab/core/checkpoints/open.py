"""``open_checkpoint``: any checkpoint latentlab knows, from its bytes, with code run only when trusted."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from latentlab.core.checkpoints.code_formats import load_pickled_model, load_torchscript
from latentlab.core.checkpoints.native import load_native, state_dict_model
from latentlab.core.checkpoints.plugins import open_with_plugin
from latentlab.core.checkpoints.sniff import TORCH_KINDS
from latentlab.core.checkpoints.source import Source, Trust, read_source
from latentlab.core.device import resolve_device
from latentlab.core.errors import CheckpointError
from latentlab.core.model import LatentModel, ModelInfo

_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "params")
_MAX_NESTING = 8


@dataclass
class Checkpoint:
    path: Path
    sha256: str  # of exactly the bytes the model was built from
    format: str  # safetensors | state_dict | torchscript | pickle | plugin:<name>
    card: dict[str, Any]
    model: LatentModel
    notes: list[str] = field(default_factory=list)

    @property
    def info(self) -> ModelInfo:
        return self.model.info


def extract_state(obj: Any, depth: int = 0) -> dict[str, torch.Tensor] | None:
    """The state_dict in a loaded file: the object itself or one nested under a usual key."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, dict) and depth < _MAX_NESTING:
        for k in _NESTED_KEYS:
            if k in obj:
                found = extract_state(obj[k], depth + 1)
                if found is not None:
                    return found
    return None


def _open_torch(src: Source, arch: str | None, trusted: bool) -> tuple[Any, dict[str, Any], str]:
    content = src.torch_content()
    obj = content.obj
    state = extract_state(obj)
    if state is None and content.foreign:
        # What is readable without running code holds no weights: only the file's own objects would tell.
        obj = load_pickled_model(src, trusted, content.foreign)
        if isinstance(obj, nn.Module) and hasattr(obj, "decode") and hasattr(obj, "info"):
            return obj, {"architecture": type(obj).__name__}, "pickle"
        state = extract_state(obj)
    if state is None:
        what = getattr(obj, "name", type(obj).__name__)
        raise CheckpointError(src.path, f"a PyTorch file, but it holds a {what}, not model weights")
    if arch is None:
        from latentlab.core.checkpoints.arch_hints import state_dict_hint

        raise CheckpointError(src.path, f"a plain state_dict ({len(state)} tensors) does not say which network it "
                                        f"belongs to; {state_dict_hint(state)}")
    model = state_dict_model(src.path, state, arch)
    card = {"architecture": getattr(model, "architecture", arch), "hparams": getattr(model, "hparams", {}),
            "info": model.info.to_dict()}
    return model, card, "state_dict"


def _open_source(src: Source, arch: str | None, trusted: bool) -> tuple[Any, str, dict[str, Any], list[str]]:
    found = open_with_plugin(src, arch, trusted)
    if found is not None:
        model, name = found
        card = dict(getattr(model, "card", {}) or {"architecture": name})
        return model, f"plugin:{name}", card, list(getattr(model, "load_notes", []))
    kind = src.kind
    if kind == "safetensors":
        model, card, notes = load_native(src, arch)
        return model, "safetensors", card, notes
    if kind == "torchscript":
        model, card = load_torchscript(src, trusted)
        return model, "torchscript", card, []
    if kind in TORCH_KINDS:
        model, card, fmt = _open_torch(src, arch, trusted)
        return model, fmt, card, []
    if kind == "tensorflow-pickle":
        raise CheckpointError(src.path, "an original TensorFlow StyleGAN/StyleGAN2 pickle; convert it to a "
                                        "StyleGAN2-ADA PyTorch pickle with NVIDIA's legacy.py first")
    if kind == "corrupt-zip":
        raise CheckpointError(src.path, "corrupt or truncated archive (the zip directory cannot be read)")
    if kind == "tar":
        raise CheckpointError(src.path, "a PyTorch file from before version 0.4 (tar format); load and re-save it "
                                        "with a current PyTorch first")
    raise CheckpointError(src.path, "not a checkpoint format latentlab knows (.safetensors, a PyTorch state_dict, "
                                    "a TorchScript archive, or a format an installed plugin registers)")


def open_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    trust: bool | str | Trust | None = False,
    device: str | torch.device | None = "cpu",
) -> Checkpoint:
    """Open any checkpoint latentlab knows and return the model on ``device`` (``auto`` picks CUDA).

    ``trust`` allows code stored in the file to run (TorchScript, pickled objects): ``True`` for whatever the
    file holds now, or the SHA-256 (or ``Trust``) the user confirmed, which must be that of the bytes loaded.
    ``path`` may also be a results folder (disentangling-vae's: ``model.pt`` + ``specs.json``).
    Raises ``CheckpointError``; ``UntrustedFile`` (with the refused bytes' ``sha256``) when trust is needed,
    ``TrustMismatch`` when the file is not the one trusted.
    """
    grant = Trust.of(trust)
    dev = resolve_device(device)
    src = read_source(checkpoint_file(Path(path)), grant)
    model, fmt, card, notes = _open_source(src, arch, grant is not None)
    if not isinstance(model, LatentModel):
        raise CheckpointError(src.path, f"the loaded object ({type(model).__name__}) does not provide "
                                        "decode/sample_prior/info")
    if isinstance(model, nn.Module):
        model.eval()
        for prm in model.parameters():
            prm.requires_grad_(False)
    model = model.to(dev)
    return Checkpoint(path=src.path, sha256=src.sha256, format=fmt, card=card, model=model, notes=notes)


def checkpoint_file(path: Path) -> Path:
    """``path``; for a results folder, the checkpoint in it a reader names (disentangling-vae's ``model.pt``)."""
    if not path.is_dir():
        return path
    from latentlab.core.formats import builtin_plugins

    names = [name for plugin in builtin_plugins() for name in getattr(plugin, "folder_files", ())]
    for name in names:
        if os.path.lexists(path / name):
            return path / name  # read_source refuses it if it is no regular file (a FIFO, a folder, ...)
    raise CheckpointError(path, f"is a folder without a checkpoint latentlab knows in it (a results folder holds "
                                f"{' or '.join(names)}); give the checkpoint file")


def load_model(path: str | os.PathLike, **kwargs: Any) -> LatentModel:
    """Shorthand for ``open_checkpoint(path, **kwargs).model``."""
    return open_checkpoint(path, **kwargs).model
