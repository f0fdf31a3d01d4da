"""A training run's resume state: everything a resumed run needs to continue exactly where it stopped.

One ``.safetensors`` file beside the output (``<out>.resume``): the model's and the objective's weights
(a FactorVAE's discriminator, a GAN's critic), every optimizer's state and the torch RNG states as tensors;
the step, the run's settings, the NumPy generator's state and the loss history as JSON in its metadata.
Nothing in it is a pickle, so reopening it never runs code from the file. It is written atomically: a run
killed while writing leaves the previous state intact.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.checkpoint import sniff_format
from latentlab.core.errors import BadInput, CheckpointError
from latentlab.core.optim_io import optimizer_from, optimizer_tensors
from latentlab.core.paths import AtomicPath

log = logging.getLogger(__name__)

META_KEY = "latentlab.resume"
FORMAT = "latentlab-train-resume"
FORMAT_VERSION = 1
RESUME_SUFFIX = ".resume"
# Settings a resumed run may change: they do not alter what is computed (steps may only grow).
FREE_SETTINGS = frozenset({"steps", "threads", "device", "name", "log_every"})


class ResumeFileError(CheckpointError):
    """A resume file cannot be used: the message names it and says why."""


def resume_path(out: str | os.PathLike) -> Path:
    """The resume state kept beside ``out`` (``run.safetensors`` -> ``run.safetensors.resume``): its name
    does not end in ``.safetensors``, so globs over checkpoints never pick it up."""
    out = Path(out)
    return out.with_name(out.name + RESUME_SUFFIX)


def series_dir(out: str | os.PathLike) -> Path:
    """The folder of a run's snapshots (``run.safetensors`` -> ``run.series/``)."""
    out = Path(out)
    stem = out.name[: -len(".safetensors")] if out.name.endswith(".safetensors") else out.name
    return out.with_name(stem + ".series")


def snapshot_name(step: int) -> str:
    return f"step-{step:07d}.safetensors"


@dataclass
class RunState:
    """What ``train`` carries from step to step besides the weights."""

    step: int
    config: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    recent: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    out = {"rng.torch": torch.get_rng_state()}
    if device.type == "cuda":
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{i}"] = s
    return out


def save_resume(path: Path, run: RunState, model: torch.nn.Module, objective: Any,
                optimizers: dict[str, torch.optim.Optimizer], rng: np.random.Generator, device: torch.device) -> Path:
    """Write the resume state atomically (the previous one stays until the new one is complete)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"objective.{k}": v.detach().to("cpu").contiguous() for k, v in objective.state_dict().items()})
    opt_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        t, m = optimizer_tensors(opt.state_dict(), prefix=f"optim.{name}")
        tensors.update(t)
        opt_meta[name] = m
    tensors.update(_rng_tensors(device))
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "step": run.step, "config": run.config,
        "history": run.history, "recent": run.recent, "seconds": run.seconds, "optimizers": opt_meta,
        "numpy_rng": rng.bit_generator.state,
    }
    with AtomicPath(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta), "format": "pt"})
    return path


def read_resume(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The resume file's JSON part and its tensors; a typed error if it is not a resume file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise ResumeFileError(path, "no such file")
    if sniff_format(path) != "safetensors":
        raise ResumeFileError(path, "not a latentlab resume file (not in .safetensors format)")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own types for corrupt or truncated files
        raise ResumeFileError(path, f"corrupt or truncated ({exc})") from None
    try:
        meta = json.loads(raw) if raw is not None else None
    except json.JSONDecodeError as exc:
        raise ResumeFileError(path, f"its resume record is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ResumeFileError(path, "not a latentlab resume file (it has no resume record)")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ResumeFileError(path, f"written by a newer latentlab (format {meta['format_version']})",
                              "upgrade latentlab to resume this run")
    return meta, tensors


def check_settings(path: Path, saved: dict[str, Any], saved_step: int, now: dict[str, Any]) -> None:
    """A resumed run must be the same run: every setting that changes what is computed must match."""
    changed = sorted(k for k in set(saved) | set(now) if k not in FREE_SETTINGS and saved.get(k) != now.get(k))
    if changed:
        what = ", ".join(f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise BadInput(f"{path}: this run was started with other settings ({what})",
                       "resume with the same settings, or delete the resume file to start again")
    if int(now["steps"]) < saved_step:
        raise BadInput(f"{path}: the run already reached step {saved_step}, beyond --steps {now['steps']}",
                       "give --steps of at least that many")


def restore(path: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], model: torch.nn.Module, objective: Any,
            optimizers: dict[str, torch.optim.Optimizer], rng: np.random.Generator, device: torch.device) -> RunState:
    """Load the saved state into a freshly built model, objective and optimizers; return the run's counters."""
    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(part("model."))
        objective.load_state_dict(part("objective."))
        for name, opt in optimizers.items():
            opt.load_state_dict(optimizer_from(tensors, meta["optimizers"][name], prefix=f"optim.{name}"))
        rng.bit_generator.state = meta["numpy_rng"]
        torch.set_rng_state(tensors["rng.torch"])
        if device.type == "cuda":
            cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
            if cuda:
                torch.cuda.set_rng_state_all(cuda)
        return RunState(step=int(meta["step"]), config=dict(meta["config"]), history=list(meta.get("history", [])),
                        recent=list(meta.get("recent", [])), seconds=float(meta.get("seconds", 0.0)))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ResumeFileError(path, f"it does not hold this run's complete state ({exc})") from None
