"""Formats that are programs: TorchScript archives and pickled model objects. Loaded only when trusted.

Both run code stored in the file the moment they are deserialised (a TorchScript module's ``__setstate__``,
a pickle's reduce calls), so nothing here is reached without a ``Trust`` that ``read_source`` checked
against the very bytes handed to the loader: they are read from memory, never from the path again.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import torch
from torch import nn

from latentlab.core.checkpoints.naming import display_name
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError, UntrustedFile
from latentlab.core.model import ModelInfo

log = logging.getLogger(__name__)

TRUST_HINT = ("if you trust where it came from: --trust (CLI), trust=True (API) or confirm in the app's dialog; "
              "better, convert it once to .safetensors with `latentlab convert`")


def refuse(src: Source, what: str, kind: str) -> UntrustedFile:
    """The error that asks the user to trust exactly these bytes (it carries their SHA-256)."""
    return UntrustedFile(src.path, f"refused: {what}. latentlab never runs code from a file you have not trusted",
                         TRUST_HINT, sha256=src.sha256, kind=kind, device_inode=src.device_inode)


class ScriptedDecoder(nn.Module):
    """A TorchScript archive exposing ``decode`` behind the LatentModel contract."""

    architecture = "torchscript"

    def __init__(self, scripted: torch.jit.ScriptModule, info: ModelInfo):
        super().__init__()
        self.scripted = scripted
        self.info = info
        self.hparams: dict[str, Any] = {}
        self._device = torch.device("cpu")

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device):
        self.scripted = self.scripted.to(device)
        self._device = torch.device(device)
        return self

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.scripted.decode(z).clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self._device)


class ScriptedAutoencoder(ScriptedDecoder):
    def encode(self, x: torch.Tensor):
        from latentlab.core.model import Posterior

        out = self.scripted.encode(x)
        if isinstance(out, (tuple, list)):
            return Posterior(mean=out[0], logvar=out[1] if len(out) > 1 else None)
        return Posterior(mean=out)


def load_torchscript(src: Source, trusted: bool) -> tuple[nn.Module, dict[str, Any]]:
    if not trusted:
        raise refuse(src, "a TorchScript archive is a program (its decode() is code stored in the file)",
                     "torchscript")
    extra = {"latentlab.json": ""}
    log.warning("running the TorchScript program in %s, which the user trusted", src.path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still widely shipped
            scripted = torch.jit.load(io.BytesIO(src.data), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise CheckpointError(src.path, f"corrupt TorchScript archive ({str(exc).splitlines()[0][:200]})") from None
    if not hasattr(scripted, "decode"):
        raise CheckpointError(src.path, "this TorchScript archive has no decode() method")
    meta = _extra_meta(src, extra["latentlab.json"])
    latent_dim = meta.get("latent_dim", getattr(scripted, "latent_dim", None))
    if not isinstance(latent_dim, int) or not 1 <= latent_dim <= 1 << 20:
        raise CheckpointError(
            src.path, "cannot tell its latent size: give the module an int attribute 'latent_dim' or save it with "
            "_extra_files={'latentlab.json': '{\"latent_dim\": D}'}")
    try:
        with torch.inference_mode():
            probe = scripted.decode(torch.zeros(1, latent_dim))
    except Exception as exc:
        raise CheckpointError(src.path, f"decode() failed on a zero latent of size {latent_dim} ({exc})") from None
    if not isinstance(probe, torch.Tensor) or probe.ndim != 4 or probe.shape[0] != 1:
        raise CheckpointError(src.path, "decode() must return a (B, C, H, W) tensor")
    try:
        info = ModelInfo(name=str(meta.get("name", display_name(src.path)))[:256], latent_dim=latent_dim,
                         image_shape=tuple(probe.shape[1:]),  # type: ignore[arg-type]
                         prior=str(meta.get("prior", "normal")), dataset=meta.get("dataset"),
                         factor_names=tuple(map(str, meta["factor_names"])) if meta.get("factor_names") else None)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(src.path, f"its latentlab.json does not describe a usable model ({exc})") from None
    cls = ScriptedAutoencoder if hasattr(scripted, "encode") else ScriptedDecoder
    return cls(scripted, info), {"architecture": "torchscript", "info": info.to_dict(), **meta}


def _extra_meta(src: Source, text: str) -> dict[str, Any]:
    if not text:
        return {}
    from latentlab.core.checkpoints.card import parse_card

    try:
        return parse_card(src.path, text if isinstance(text, str) else text.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(src.path, "its latentlab.json is not text") from None


def load_pickled_model(src: Source, trusted: bool, foreign: list[str]) -> Any:
    """The file's objects restored by running the classes it names (``torch.save(model)`` and the like)."""
    if not trusted:
        names = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        raise refuse(src, f"it holds pickled Python objects ({names}) that only running code can restore",
                     "pickle")
    log.warning("unpickling %s with full trust, as the user asked", src.path)
    try:
        return torch.load(io.BytesIO(src.data), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(src.path, f"could not be unpickled even with trust ({str(exc)[:200]})") from None


__all__ = ["ScriptedAutoencoder", "ScriptedDecoder", "load_pickled_model", "load_torchscript", "refuse"]
