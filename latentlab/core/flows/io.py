"""Flows files: one .safetensors file with the potentials, the classifier, Adam's state and a JSON card.

The card names the model checkpoint the flows were trained for (its SHA-256), every hyper-parameter and
the loss history. Loading flows for a different checkpoint is an error unless the caller overrides it,
because potentials are meaningless on another model's latent space.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from latentlab import __version__
from latentlab.core import limits
from latentlab.core.checkpoint import CheckpointError
from latentlab.core.checkpoints import card_file
from latentlab.core.flows.classifier import PairClassifier
from latentlab.core.flows.config import FlowConfig
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.potentials import PotentialSet
from latentlab.core.optim_io import optimizer_from as _optimizer_from
from latentlab.core.optim_io import optimizer_tensors as _optimizer_tensors
from latentlab.core.safe_json import JSONFieldError, describe, expect, field
from latentlab.core.sidecars import FLOWS_CARD_KEY
from latentlab.core.text import printable

log = logging.getLogger(__name__)

_MAX_CARD = 64 * 1024 * 1024  # hyper-parameters, the loss history (one row per log_every steps) and Adam's scalars
CARD_KEY = FLOWS_CARD_KEY
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
    return card_file.write(path, tensors, CARD_KEY, card, sort_keys=True)


def read_flows_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of a flows file, without loading its tensors."""
    p = Path(path)
    meta = card_file.metadata(p, card_file.read_head(p, "a flows file", FlowsFileError), FlowsFileError)
    card = card_file.card_in(p, meta, CARD_KEY, "flows card", FlowsFileError, max_bytes=_MAX_CARD)
    if card is None:
        hint = " (it looks like a model checkpoint; pass it as FILE and the flows as FLOWS)" if "latentlab.card" in meta else ""
        raise FlowsFileError(p, "not a latentlab flows file: it has no flows card" + hint)
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise FlowsFileError(p, "its card is not a latentlab flows card")
    try:
        version = field(card, "format_version", "int", "card", default=0, lo=0)
        if version > FORMAT_VERSION:
            raise FlowsFileError(p, f"written by a newer latentlab (format {version}); please upgrade")
        _check_card(card)
    except JSONFieldError as exc:
        raise FlowsFileError(p, exc.message) from None
    return card


def _check_card(card: dict[str, Any]) -> None:
    """Type- and range-check every field of a flows card that latentlab reads (JSONFieldError names it)."""
    ck = field(card, "checkpoint", "object", "card", default={})
    for key in ("sha256", "name", "file"):
        field(ck, key, "string", "card.checkpoint", default=None, optional=True, hi=4096)
    ph = field(card, "potentials", "object", "card")
    field(ph, "n_potentials", "int", "card.potentials", lo=1, hi=limits.MAX_COUNT)
    field(ph, "latent_dim", "int", "card.potentials", lo=1, hi=limits.MAX_LATENT_DIM)
    field(ph, "hidden", "int", "card.potentials", lo=1, hi=limits.MAX_HIDDEN)
    field(ph, "time_dim", "int", "card.potentials", lo=1, hi=limits.MAX_HIDDEN)
    field(ph, "bounded", "bool", "card.potentials")
    ch = field(card, "classifier", "object", "card")
    field(ch, "n_classes", "int", "card.classifier", lo=1, hi=limits.MAX_COUNT)
    field(ch, "channels", "int", "card.classifier", lo=1, hi=64)
    field(ch, "width", "int", "card.classifier", lo=1, hi=limits.MAX_HIDDEN)
    field(card, "config", "object", "card")
    field(card, "step", "int", "card", default=0, lo=0, hi=limits.MAX_STEPS)
    field(card, "seconds", "number", "card", default=0.0, lo=0)
    field(card, "speeds", "list", "card", default=[], optional=True)
    history = field(card, "history", "list", "card", default=[], hi=limits.MAX_STEPS)
    for i, row in enumerate(history):
        for key, value in expect(row, "object", f"card.history[{i}]").items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):  # a diverged loss is NaN: kept
                raise JSONFieldError(f"card.history[{i}].{printable(key, 40)}: expected a number, got {describe(value)}")
    opt = field(card, "optimizer", "object", "card", default=None, optional=True)
    if opt is not None:
        field(opt, "param_groups", "list", "card.optimizer")
        for pid, st in field(opt, "state", "object", "card.optimizer").items():
            names = field(expect(st, "object", f"card.optimizer.state.{pid}"), "__tensors__", "list",
                          f"card.optimizer.state.{pid}", default=[])
            for j, name in enumerate(names):
                expect(name, "string", f"card.optimizer.state.{pid}.__tensors__[{j}]")
            if not pid.isdigit():
                raise JSONFieldError(f"card.optimizer.state: parameter id {printable(pid, 40)!r} is not a number")


def _check_shapes(p: Path, prefix: str, want: dict[str, tuple[int, ...]], tensors: dict[str, torch.Tensor]) -> None:
    """The file's tensors under ``prefix`` are exactly the ones the card's sizes describe (before building)."""
    have = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if set(have) != set(want):
        missing, extra = sorted(set(want) - set(have))[:3], sorted(set(have) - set(want))[:3]
        raise FlowsFileError(p, f"its {prefix.rstrip('.')} tensors do not match its card (missing {missing}, "
                                f"unexpected {[printable(k, 60) for k in extra]})")
    for k, shape in want.items():
        if tuple(have[k].shape) != shape:
            raise FlowsFileError(p, f"tensor {prefix}{k} has shape {tuple(have[k].shape)}; its card says {shape}")
        if not have[k].is_floating_point():
            raise FlowsFileError(p, f"tensor {prefix}{k} holds {have[k].dtype} values, not floating-point numbers")


def check_checkpoint(card: dict[str, Any], path: str | os.PathLike, sha256: str | None, latent_dim: int | None,
                     allow_mismatch: bool = False) -> None:
    """Raise (or, with ``allow_mismatch``, warn) when the flows were trained for another checkpoint."""
    ck = card.get("checkpoint", {})  # read_flows_card checked its types
    want_dim = card.get("potentials", {}).get("latent_dim")
    if latent_dim is not None and want_dim is not None and int(want_dim) != int(latent_dim):
        # Never overridable: the potentials cannot even be evaluated on another latent size.
        raise FlowsMismatchError(path, f"these flows are for a model with {want_dim} latents, "
                                       f"but this model has {latent_dim}")
    if sha256 is None or not ck.get("sha256") or ck["sha256"] == sha256:
        return
    msg = (f"these flows were trained for checkpoint {printable(ck.get('name') or ck.get('file') or '?', 200)} "
           f"(sha256 {ck['sha256'][:12]}...), not for this one (sha256 {sha256[:12]}...)")
    if not allow_mismatch:
        raise FlowsMismatchError(path, msg + "; use the matching checkpoint, or override (--force) to use them anyway")
    warnings.warn(f"{path}: {msg}; using them anyway as asked", stacklevel=3)
    log.warning("%s: %s; using them anyway as asked", path, msg)


def load_flows(path: str | os.PathLike, *, checkpoint_sha256: str | None = None, latent_dim: int | None = None,
               allow_mismatch: bool = False, device: str | torch.device = "cpu") -> Flows:
    """Read a flows file; with ``checkpoint_sha256`` it must belong to that checkpoint (see ``check_checkpoint``)."""
    p = Path(path)
    card = read_flows_card(p)
    check_checkpoint(card, p, checkpoint_sha256, latent_dim, allow_mismatch)
    tensors = card_file.load_tensors(p, FlowsFileError)
    ph, ch = card["potentials"], card["classifier"]
    _check_shapes(p, "potentials.", PotentialSet.shapes_for(ph["n_potentials"], ph["latent_dim"], ph["hidden"],
                                                            ph["time_dim"]), tensors)
    _check_shapes(p, "classifier.", PairClassifier.shapes_for(ch["n_classes"], ch["channels"], ch["width"]), tensors)
    try:
        config = FlowConfig.from_dict(card["config"])
        pots = PotentialSet(int(ph["n_potentials"]), int(ph["latent_dim"]), int(ph["hidden"]), int(ph["time_dim"]),
                            bool(ph["bounded"]))
        clf = PairClassifier(int(ch["n_classes"]), int(ch["channels"]), int(ch["width"]))
        pots.load_state_dict({k[len("potentials."):]: v for k, v in tensors.items() if k.startswith("potentials.")})
        clf.load_state_dict({k[len("classifier."):]: v for k, v in tensors.items() if k.startswith("classifier.")})
        opt = _optimizer_from(tensors, card["optimizer"]) if "optimizer" in card else None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # BadInput (a bad config) is a ValueError
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
