"""Flows files: one .safetensors file with the potentials, the classifier, Adam's state and a JSON card.

The card names the model checkpoint the flows were trained for (its SHA-256), every hyper-parameter and
the loss history. Loading flows for a different checkpoint is an error unless the caller overrides it,
because potentials are meaningless on another model's latent space.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from latentlab import __version__
from latentlab.core.checkpoint import CheckpointError, sniff_format
from latentlab.core.flows.classifier import PairClassifier
from latentlab.core.flows.config import FlowConfig
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.potentials import PotentialSet
from latentlab.core.optim_io import optimizer_from as _optimizer_from
from latentlab.core.optim_io import optimizer_tensors as _optimizer_tensors
from latentlab.core.paths import AtomicPath

log = logging.getLogger(__name__)

CARD_KEY = "latentlab.flows"
FORMAT = "latentlab-flows"
FORMAT_VERSION = 1


class FlowsFileError(CheckpointError):
    """A flows file could not be read; the message names the file and says why."""


class FlowsMismatchError(FlowsFileError):
    """The flows file belongs to another checkpoint than the one it is used with."""


def flows_card(flows: Flows) -> dict[str, Any]:
    """The JSON card stored with ``flows``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "checkpoint": dict(flows.checkpoint),
        "config": flows.config.to_dict(),
        "potentials": flows.potentials.hparams,
        "classifier": flows.classifier.hparams,
        "step": flows.step,
        "seconds": round(flows.seconds, 2),
        "speeds": flows.speeds,
        "history": flows.history,
        "torch": torch.__version__,
    }


def save_flows(flows: Flows, path: str | os.PathLike, include_optimizer: bool = True) -> Path:
    """Write ``flows`` to one .safetensors file, atomically; Adam's state is kept for resuming."""
    from safetensors.torch import save_file

    tensors = {f"potentials.{k}": v.detach().to("cpu").contiguous() for k, v in flows.potentials.state_dict().items()}
    tensors.update({f"classifier.{k}": v.detach().to("cpu").contiguous()
                    for k, v in flows.classifier.state_dict().items()})
    card = flows_card(flows)
    if include_optimizer and flows.optimizer_state is not None:
        opt_tensors, opt_meta = _optimizer_tensors(flows.optimizer_state)
        tensors.update(opt_tensors)
        card["optimizer"] = opt_meta
    if include_optimizer and flows.rng_state is not None:
        tensors["rng.state"] = flows.rng_state.detach().to("cpu").contiguous()
    target = Path(path)
    with AtomicPath(target) as tmp:
        save_file(tensors, str(tmp), metadata={CARD_KEY: json.dumps(card, sort_keys=True), "format": "pt"})
    return target


def read_flows_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of a flows file, without loading its tensors."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise FlowsFileError(p, "no such file")
    if sniff_format(p) != "safetensors":
        raise FlowsFileError(p, "not a flows file (not a .safetensors file)")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own types for corrupt files
        raise FlowsFileError(p, f"corrupt or truncated .safetensors file ({exc})") from None
    raw = meta.get(CARD_KEY)
    if raw is None:
        hint = " (it looks like a model checkpoint; pass it as FILE and the flows as FLOWS)" if "latentlab.card" in meta else ""
        raise FlowsFileError(p, "not a latentlab flows file: it has no flows card" + hint)
    try:
        card = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FlowsFileError(p, f"its flows card is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise FlowsFileError(p, "its card is not a latentlab flows card")
    if int(card.get("format_version", 0)) > FORMAT_VERSION:
        raise FlowsFileError(p, f"written by a newer latentlab (format {card['format_version']}); please upgrade")
    return card


def check_checkpoint(card: dict[str, Any], path: str | os.PathLike, sha256: str | None, latent_dim: int | None,
                     allow_mismatch: bool = False) -> None:
    """Raise (or, with ``allow_mismatch``, warn) when the flows were trained for another checkpoint."""
    ck = card.get("checkpoint", {})
    want_dim = card.get("potentials", {}).get("latent_dim")
    if latent_dim is not None and want_dim is not None and int(want_dim) != int(latent_dim):
        # Never overridable: the potentials cannot even be evaluated on another latent size.
        raise FlowsMismatchError(path, f"these flows are for a model with {want_dim} latents, "
                                       f"but this model has {latent_dim}")
    if sha256 is None or not ck.get("sha256") or ck["sha256"] == sha256:
        return
    msg = (f"these flows were trained for checkpoint {ck.get('name') or ck.get('file') or '?'} "
           f"(sha256 {ck['sha256'][:12]}...), not for this one (sha256 {sha256[:12]}...)")
    if not allow_mismatch:
        raise FlowsMismatchError(path, msg + "; use the matching checkpoint, or override (--force) to use them anyway")
    warnings.warn(f"{path}: {msg}; using them anyway as asked", stacklevel=3)
    log.warning("%s: %s; using them anyway as asked", path, msg)


def load_flows(path: str | os.PathLike, *, checkpoint_sha256: str | None = None, latent_dim: int | None = None,
               allow_mismatch: bool = False, device: str | torch.device = "cpu") -> Flows:
    """Read a flows file; with ``checkpoint_sha256`` it must belong to that checkpoint (see ``check_checkpoint``)."""
    from safetensors.torch import load_file

    p = Path(path)
    card = read_flows_card(p)
    check_checkpoint(card, p, checkpoint_sha256, latent_dim, allow_mismatch)
    try:
        tensors = load_file(str(p), device="cpu")
    except Exception as exc:
        raise FlowsFileError(p, f"corrupt or truncated .safetensors file ({exc})") from None
    try:
        config = FlowConfig.from_dict(card["config"])
        ph, ch = card["potentials"], card["classifier"]
        pots = PotentialSet(int(ph["n_potentials"]), int(ph["latent_dim"]), int(ph["hidden"]), int(ph["time_dim"]),
                            bool(ph["bounded"]))
        clf = PairClassifier(int(ch["n_classes"]), int(ch["channels"]), int(ch["width"]))
        pots.load_state_dict({k[len("potentials."):]: v for k, v in tensors.items() if k.startswith("potentials.")})
        clf.load_state_dict({k[len("classifier."):]: v for k, v in tensors.items() if k.startswith("classifier.")})
        opt = _optimizer_from(tensors, card["optimizer"]) if "optimizer" in card else None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise FlowsFileError(p, f"the file does not hold complete flows ({exc})") from None
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FlowsFileError(p, f"tensor {k} contains NaN or infinite values")
    flows = Flows(pots, clf, config, dict(card.get("checkpoint", {})), step=int(card.get("step", 0)),
                  history=list(card.get("history", [])), seconds=float(card.get("seconds", 0.0)),
                  optimizer_state=opt, rng_state=tensors.get("rng.state"))
    flows.potentials.eval()
    flows.classifier.eval()
    return flows.to(device)
