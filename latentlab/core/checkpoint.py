"""Open and save checkpoints, safely.

The native format is one ``.safetensors`` file: the weights plus a JSON model card in its metadata. Also
opened: plain ``state_dict`` files given an architecture, TorchScript archives and full pickles (both only
when the user trusts the file, since both carry code), and formats that plugins register through the
entry-point group ``latentlab.models``.

Nothing here runs code from a file unless ``trust=True``: pickles go through
``torch.load(weights_only=True)``, and network sizes come from the tensor shapes actually present in the
file (bounded by its size), never from what a card merely claims.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from latentlab import __version__
from latentlab.core.device import resolve_device
from latentlab.core.errors import CheckpointError, UnsupportedLayout, UntrustedFile
from latentlab.core.model import LatentModel, ModelInfo
from latentlab.core.paths import AtomicPath

log = logging.getLogger(__name__)

CARD_KEY = "latentlab.card"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024


class ArchitectureMismatchError(UnsupportedLayout):
    """The weights do not fit the architecture the file (or the user) names."""


UntrustedCheckpointError = UntrustedFile  # the name earlier releases exported


@dataclass
class Checkpoint:
    path: Path
    sha256: str
    format: str  # safetensors | state_dict | torchscript | pickle | plugin:<name>
    card: dict[str, Any]
    model: LatentModel
    notes: list[str] = field(default_factory=list)

    @property
    def info(self) -> ModelInfo:
        return self.model.info


# --- hashing -----------------------------------------------------------------------------------------------

_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes (cached on path, size and modification time)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


# --- sniffing ------------------------------------------------------------------------------------------------

def sniff_format(path: Path) -> str:
    """Guess a file's format from its bytes (never from its name alone)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    size = path.stat().st_size
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 1 < n <= min(_MAX_HEADER, size - 8) and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return "corrupt-zip"
        if any("/code/" in n or n.startswith("code/") for n in names) and any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-zip"
        return "zip"
    if head[:1] == b"\x80":
        return "torch-legacy"
    return "unknown"


# --- hyper-parameters from tensor shapes ---------------------------------------------------------------------

def infer_network_hparams(network: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Rebuild a zoo network's size from the shapes of its weights."""
    from latentlab.core.zoo import NETWORKS

    from_shapes = getattr(NETWORKS.get(network), "hparams_from_shapes", None)
    if from_shapes is not None:
        try:
            return from_shapes(shapes)
        except KeyError as exc:
            raise KeyError(f"missing tensor {exc.args[0]}") from None
    try:
        conv0 = shapes["encoder.conv.0.weight"]  # base, channels, 4, 4
        fc = shapes["encoder.fc.1.weight"]  # hidden, 2*base*side^2
        dec_in = shapes["decoder.fc.0.weight"]  # hidden, latent_dim
    except KeyError as exc:
        raise KeyError(f"missing tensor {exc.args[0]}") from None
    base, channels = conv0[0], conv0[1]
    side2 = fc[1] // (2 * base)
    side = int(round(side2**0.5))
    hp: dict[str, Any] = dict(latent_dim=dec_in[1], channels=channels, image_size=16 * side, base=base, hidden=fc[0])
    if network == "qlae":
        hp["n_values"] = shapes["values"][1]
    return hp


def _check_state(path: Path, model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s), e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
        raise ArchitectureMismatchError(path, f"the weights do not fit {what}: " + "; ".join(parts))
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ArchitectureMismatchError(
                path, f"wrong shape for {k}: the file has {tuple(state[k].shape)}, {what} expects {tuple(v.shape)}"
            )
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(path, f"tensor {k} contains NaN or infinite values; the model cannot be used")


def _build_zoo(path: Path, network: str, state: dict[str, torch.Tensor], claimed: dict[str, Any] | None,
               info: ModelInfo | None) -> nn.Module:
    from latentlab.core.zoo import NETWORK_KEYS, NETWORKS, build_network

    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        hp = infer_network_hparams(network, shapes)
    except (KeyError, IndexError) as exc:
        raise ArchitectureMismatchError(path, f"the weights are not a {network!r} network ({exc})") from None
    for key, value in (claimed or {}).items():
        if key in hp and hp[key] != value:
            raise ArchitectureMismatchError(
                path, f"its card says {key} = {value!r} but the weights have {key} = {hp[key]!r}"
            )
    # What shapes cannot tell (likelihood, output range, truncation, ...) comes from the card.
    for key in NETWORK_KEYS.get(network, ()):
        if key not in hp and claimed and key in claimed:
            hp[key] = claimed[key]
    try:
        model = build_network(network, **hp)
    except (TypeError, ValueError) as exc:
        raise ArchitectureMismatchError(path, f"cannot build a {network} network from it ({exc})") from None
    if info is not None:
        if info.latent_dim != model.info.latent_dim:
            raise ArchitectureMismatchError(
                path, f"its card says latent_dim {info.latent_dim} but the weights have {model.info.latent_dim}"
            )
        model.info = info
    # Some networks can rebuild a missing buffer (StyleGAN2's average w) instead of refusing the file.
    optional = [k for k in getattr(NETWORKS[network], "optional_state", ()) if k not in state]
    if optional:
        own = model.state_dict()
        state = {**state, **{k: own[k] for k in optional}}
    _check_state(path, model, state, f"a {network} network with {model.info.latent_dim} latents")
    model.load_state_dict(state)
    if optional:
        model.fill_missing_state(optional)
    return model


# --- the native format ----------------------------------------------------------------------------------------

def make_card(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The model card saved with a zoo model: enough to rebuild it and to say where it came from."""
    card: dict[str, Any] = {
        "format": "latentlab-checkpoint",
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "architecture": getattr(model, "architecture", type(model).__name__),
        "hparams": {k: v for k, v in getattr(model, "hparams", {}).items()},
        "info": model.info.to_dict(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    card.update(extra)
    return card


def save_checkpoint(model: nn.Module, path: str | os.PathLike, card: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Write ``model`` and its card to one .safetensors file, atomically."""
    from safetensors.torch import save_file

    card = dict(card) if card else make_card(model)
    card.update(extra)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    target = Path(path)
    with AtomicPath(target) as tmp:
        save_file(state, str(tmp), metadata={CARD_KEY: json.dumps(card, sort_keys=True), "format": "pt"})
    return target


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a native checkpoint, without loading the weights."""
    p = _check_file(Path(path))
    if sniff_format(p) != "safetensors":
        raise CheckpointError(p, "not a .safetensors checkpoint, so it has no model card")
    return _safetensors_card(p)[0]


def _safetensors_card(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt or truncated files
        raise CheckpointError(path, f"corrupt or truncated .safetensors file ({exc})") from None
    raw = meta.get(CARD_KEY)
    if raw is None:
        return {}, meta
    try:
        card = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"its model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict):
        raise CheckpointError(path, "its model card is not a JSON object")
    return card, meta


def _load_safetensors(path: Path, arch: str | None) -> tuple[nn.Module, dict[str, Any], list[str]]:
    from safetensors.torch import load_file

    card, _ = _safetensors_card(path)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(path, f"corrupt or truncated .safetensors file ({exc})") from None
    notes: list[str] = []
    if not card:
        if arch is None:
            raise CheckpointError(
                path, "a .safetensors file without a latentlab model card; say which architecture it holds "
                "(--arch NAME, e.g. beta_vae)"
            )
        return _state_dict_model(path, state, arch), {"architecture": arch}, ["no model card: built as " + arch]
    network = card.get("architecture")
    if arch is not None and arch != network:
        from latentlab.core.zoo import network_name

        if network_name(arch) != network:
            raise ArchitectureMismatchError(path, f"its card says architecture {network!r}, not {arch!r}")
    try:
        info = ModelInfo.from_dict(card["info"]) if "info" in card else None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"its model card has an invalid 'info' section ({exc})") from None
    from latentlab.core.zoo import NETWORKS

    if network in NETWORKS:
        model = _build_zoo(path, network, state, card.get("hparams"), info)
        return model, card, notes
    plugin = _plugin_for_architecture(network)
    if plugin is not None and hasattr(plugin, "from_state_dict"):
        return plugin.from_state_dict(state, card), card, notes
    raise CheckpointError(path, f"unknown architecture {network!r} in its card (is the plugin that defines it installed?)")


# --- torch.load based formats --------------------------------------------------------------------------------

_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "params")


def _extract_state(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for k in _NESTED_KEYS:
            if k in obj:
                found = _extract_state(obj[k])
                if found is not None:
                    return found
    return None


def _state_dict_model(path: Path, state: dict[str, torch.Tensor], arch: str) -> nn.Module:
    from latentlab.core.zoo import UnknownArchitecture, network_name

    plugin = _plugin_for_architecture(arch)
    if plugin is not None and hasattr(plugin, "from_state_dict"):
        return plugin.from_state_dict(state, {"architecture": arch})
    try:
        network = network_name(arch)
    except UnknownArchitecture as exc:
        raise CheckpointError(path, str(exc)) from None
    # Strip a wrapper prefix that training frameworks add ("model." from Lightning, "module." from DDP).
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    model = _build_zoo(path, network, state, None, None)
    model.info = ModelInfo(path.stem, model.info.latent_dim, model.info.image_shape, prior=model.info.prior)
    return model


def _refusal(path: Path, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()
    offending = next((ln for ln in detail if "Unsupported global" in ln or "GLOBAL" in ln), detail[0] if detail else "")
    return (
        "refused: it holds pickled Python objects that can only be restored by running code stored in the "
        f"file ({offending.strip()[:200]}). latentlab never does that silently. If you trust where this file "
        "came from, open it with --trust (CLI), trust=True (API) or confirm in the app's dialog; better, "
        "convert it once to .safetensors."
    )


def _torch_load(path: Path, trust: bool) -> Any:
    import pickle

    # A file object, not the name: torch.load would otherwise pick a loader from the file's suffix.
    def load(weights_only: bool) -> Any:
        with open(path, "rb") as fh:
            return torch.load(fh, map_location="cpu", weights_only=weights_only)

    try:
        return load(True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise UntrustedCheckpointError(path, _refusal(path, exc)) from None
    except Exception as exc:
        raise CheckpointError(path, f"corrupt or truncated PyTorch file ({str(exc).splitlines()[0][:200]})") from None
    log.warning("unpickling %s with full trust, as the user asked", path)
    try:
        return load(False)
    except Exception as exc:
        raise CheckpointError(path, f"could not be unpickled even with trust ({exc})") from None


class _ScriptedDecoder(nn.Module):
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

    def to(self, device):  # type: ignore[override]
        self.scripted = self.scripted.to(device)
        self._device = torch.device(device)
        return self

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.scripted.decode(z).clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.info.latent_dim, generator=generator).to(self._device)


class _ScriptedAutoencoder(_ScriptedDecoder):
    def encode(self, x: torch.Tensor):
        from latentlab.core.model import Posterior

        out = self.scripted.encode(x)
        if isinstance(out, (tuple, list)):
            mean = out[0]
            logvar = out[1] if len(out) > 1 else None
            return Posterior(mean=mean, logvar=logvar)
        return Posterior(mean=out)


def _load_torchscript(path: Path, trust: bool) -> tuple[nn.Module, dict[str, Any]]:
    if not trust:
        raise UntrustedCheckpointError(
            path,
            "refused: a TorchScript archive is a program (its decode() is code stored in the file). latentlab "
            "runs it only if you trust the file: --trust (CLI), trust=True (API), or confirm in the app.",
        )
    extra = {"latentlab.json": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still widely shipped
            scripted = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise CheckpointError(path, f"corrupt TorchScript archive ({str(exc).splitlines()[0][:200]})") from None
    if not hasattr(scripted, "decode"):
        raise CheckpointError(path, "this TorchScript archive has no decode() method")
    meta: dict[str, Any] = {}
    if extra["latentlab.json"]:
        try:
            meta = json.loads(extra["latentlab.json"])
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(path, "its latentlab.json is not valid JSON") from None
    latent_dim = meta.get("latent_dim", getattr(scripted, "latent_dim", None))
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise CheckpointError(
            path, "cannot tell its latent size: give the module an int attribute 'latent_dim' or save it with "
            "_extra_files={'latentlab.json': '{\"latent_dim\": D}'}"
        )
    try:
        with torch.inference_mode():
            probe = scripted.decode(torch.zeros(1, latent_dim))
    except Exception as exc:
        raise CheckpointError(path, f"decode() failed on a zero latent of size {latent_dim} ({exc})") from None
    if probe.ndim != 4 or probe.shape[0] != 1:
        raise CheckpointError(path, f"decode() must return (B, C, H, W); it returned shape {tuple(probe.shape)}")
    info = ModelInfo(
        name=str(meta.get("name", path.stem)),
        latent_dim=latent_dim,
        image_shape=tuple(probe.shape[1:]),  # type: ignore[arg-type]
        prior=str(meta.get("prior", "normal")),
        dataset=meta.get("dataset"),
        factor_names=tuple(meta["factor_names"]) if meta.get("factor_names") else None,
    )
    cls = _ScriptedAutoencoder if hasattr(scripted, "encode") else _ScriptedDecoder
    return cls(scripted, info), {"architecture": "torchscript", "info": info.to_dict(), **meta}


# --- plugins ---------------------------------------------------------------------------------------------------

def plugins() -> list[Any]:
    """Built-in third-party loaders, then model plugins registered under the entry-point group
    ``latentlab.models`` (installed code)."""
    from importlib.metadata import entry_points

    from latentlab.core.thirdparty import builtin_plugins

    found: list[Any] = list(builtin_plugins())
    for ep in entry_points(group="latentlab.models"):
        try:
            obj = ep.load()
            found.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:  # a broken plugin must not stop the app from opening anything else
            log.warning("model plugin %s failed to load: %s", ep.name, exc)
    return found


def _plugin_for_architecture(name: str | None) -> Any:
    if not name:
        return None
    for p in plugins():
        if name in getattr(p, "names", (getattr(p, "name", None),)):
            return p
    return None


# --- the one entry point -------------------------------------------------------------------------------------

def _check_file(path: Path) -> Path:
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise CheckpointError(path, "the file is not readable (permission denied)")
    return path


def open_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    trust: bool = False,
    device: str | torch.device | None = "cpu",
) -> Checkpoint:
    """Open any checkpoint latentlab knows and return the model on ``device`` (``auto`` picks CUDA).

    Raises ``CheckpointError`` (or ``UntrustedCheckpointError``) with a message that names the file.
    """
    p = _check_file(Path(path))
    dev = resolve_device(device)
    notes: list[str] = []
    fmt = sniff_format(p)
    model: Any = None
    card: dict[str, Any] = {}

    for plugin in plugins():
        builtin = getattr(plugin, "builtin", False)
        try:
            named = arch is not None and arch in getattr(plugin, "names", (getattr(plugin, "name", None),))
            if builtin:  # a built-in loader answers only for the formats it recognises in the file itself
                claims = (arch is None or named) and bool(plugin.can_open(p))
            else:
                claims = named or (arch is None and bool(plugin.can_open(p)))
        except CheckpointError:
            raise
        except Exception:
            claims = False
        if claims and hasattr(plugin, "open"):
            try:
                model = plugin.open(p, trust=trust, arch=arch) if builtin else plugin.open(p, trust=trust)
            except CheckpointError:
                raise
            except Exception as exc:
                raise CheckpointError(p, f"the {plugin.name!r} plugin could not open it ({exc})") from None
            fmt = f"plugin:{plugin.name}"
            card = dict(getattr(model, "card", {}) or {"architecture": plugin.name})
            notes = list(getattr(model, "load_notes", []))
            break

    if model is None:
        if fmt == "safetensors":
            model, card, notes = _load_safetensors(p, arch)
        elif fmt == "torchscript":
            model, card = _load_torchscript(p, trust)
        elif fmt in ("torch-zip", "torch-legacy"):
            obj = _torch_load(p, trust)
            state = _extract_state(obj)
            if isinstance(obj, nn.Module) and hasattr(obj, "decode") and hasattr(obj, "info"):
                model, card, fmt = obj, {"architecture": type(obj).__name__}, "pickle"
            elif state is None:
                raise CheckpointError(p, f"a PyTorch file, but it holds a {type(obj).__name__}, not model weights")
            elif arch is None:
                raise CheckpointError(
                    p, f"a plain state_dict ({len(state)} tensors) does not say which network it belongs to; "
                    "give the architecture (--arch NAME, e.g. beta_vae or qlae)"
                )
            else:
                model = _state_dict_model(p, state, arch)
                card = {"architecture": getattr(model, "architecture", arch), "hparams": getattr(model, "hparams", {}),
                        "info": model.info.to_dict()}
                fmt = "state_dict"
        elif fmt == "corrupt-zip":
            raise CheckpointError(p, "corrupt or truncated archive (the zip directory cannot be read)")
        else:
            raise CheckpointError(
                p, "not a checkpoint format latentlab knows (.safetensors, a PyTorch state_dict, a TorchScript "
                "archive, or a format an installed plugin registers)"
            )

    if not isinstance(model, LatentModel):
        raise CheckpointError(p, f"the loaded object ({type(model).__name__}) does not provide decode/sample_prior/info")
    if isinstance(model, nn.Module):
        model.eval()
        for prm in model.parameters():
            prm.requires_grad_(False)
    model = model.to(dev)
    return Checkpoint(path=p, sha256=file_sha256(p), format=fmt, card=card, model=model, notes=notes)


def load_model(path: str | os.PathLike, **kwargs: Any) -> LatentModel:
    """Shorthand for ``open_checkpoint(path, **kwargs).model``."""
    return open_checkpoint(path, **kwargs).model


def format_card(card: dict[str, Any]) -> str:
    """A model card as readable text (what ``latentlab info`` prints)."""
    lines: list[str] = []

    def emit(key: str, value: Any, indent: int = 0) -> None:
        pad = "  " * indent
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            for k, v in value.items():
                emit(k, v, indent + 1)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}: {', '.join(str(v) for v in value)}")
        else:
            lines.append(f"{pad}{key}: {value}")

    for k, v in card.items():
        emit(k, v)
    return "\n".join(lines)
