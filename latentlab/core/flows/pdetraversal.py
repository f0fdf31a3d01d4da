"""Potentials trained by PDETraversal (github.com/KingJamesSong/PDETraversal, the ICML 2023 paper's code) as
latentlab flows.

Its ``WavePDE`` module holds K potentials of the same architecture latentlab trains (``potentials.py``), each an
``MLP`` of ``nn.Linear`` layers ``layer_x`` (z), ``layer_time`` / ``layer_time2`` (the sinusoidal time
embedding), ``layer_fusion`` and ``layer_out``, hidden and embedding widths both the latent size D, and a
wave speed ``c`` of shape (K, 1). Its files are a ``torch.save`` of that state_dict (``support_sets.pt``) or a
training checkpoint with it under ``support_sets``. Keys are ``MLP_SET.<k>.<layer>.weight`` of shape
(out, in): latentlab stacks them transposed, (K, in, out). The potential's final tanh is replaced by the
identity for StyleGAN2 there, and the state_dict does not say which: ``bounded`` does (default: read from the
experiment's ``args.json`` beside the file when it names the GAN, else bounded, the paper's default).

The file is read by latentlab's inert pickle reader: nothing in it runs. Its classifier (a ``Reconstructor``
of another architecture) cannot become latentlab's pair classifier, so the flows get a fresh one; traversal
does not use it, only further training would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.errors import BadInput, FileError
from latentlab.core.flows.config import FlowConfig
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.train import checkpoint_ref
from latentlab.core.latent_codes import as_array, read_inert
from latentlab.core.model import LatentModel
from latentlab.core.safe_json import loads_bounded
from latentlab.core.text import printable

LAYERS = {"layer_x": "z", "layer_time": "t1", "layer_time2": "t2", "layer_fusion": "f", "layer_out": "o"}
MAX_POTENTIALS = 256
_KEY = re.compile(r"^MLP_SET\.(\d+)\.(layer_x|layer_time|layer_time2|layer_fusion|layer_out)\.(weight|bias)$")


def _state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and isinstance(obj.get("support_sets"), dict):
        obj = obj["support_sets"]  # a training checkpoint: {'iter', 'support_sets', 'reconstructor', ...}
    if not isinstance(obj, dict) or "c" not in obj or not any(isinstance(k, str) and _KEY.match(k) for k in obj):
        raise BadInput(f"{path.name}: not PDETraversal potentials (a WavePDE state_dict with c and "
                       "MLP_SET.<k>.layer_x ... tensors)")
    return {str(k): as_array(v, f"{path.name}: {printable(k, 80)}") for k, v in obj.items()
            if isinstance(k, str) and (k == "c" or _KEY.match(k))}


def _stack(sd: dict[str, np.ndarray], path: Path) -> tuple[int, int, dict[str, np.ndarray]]:
    """(K, D, latentlab's stacked tensors) from the reference keys, every shape checked."""
    c = sd["c"].reshape(-1)
    k = len(c)
    if not 1 <= k <= MAX_POTENTIALS:
        raise BadInput(f"{path.name}: {k} potentials; 1 to {MAX_POTENTIALS} are read")
    first = sd.get("MLP_SET.0.layer_x.weight")
    if first is None or first.ndim != 2 or first.shape[0] != first.shape[1]:
        raise BadInput(f"{path.name}: MLP_SET.0.layer_x.weight must be a square (D, D) matrix")
    d = int(first.shape[0])
    want = {"layer_x": (d, d), "layer_time": (d, d), "layer_time2": (d, d), "layer_fusion": (d, d),
            "layer_out": (1, d)}
    out: dict[str, np.ndarray] = {"c": c.astype(np.float32)}
    for layer, short in LAYERS.items():
        ws, bs = [], []
        for j in range(k):
            w, b = sd.get(f"MLP_SET.{j}.{layer}.weight"), sd.get(f"MLP_SET.{j}.{layer}.bias")
            if w is None or b is None or w.shape != want[layer] or b.shape != (want[layer][0],):
                raise BadInput(f"{path.name}: MLP_SET.{j}.{layer} is missing or not {want[layer]} for D = {d}")
            ws.append(w.T)
            bs.append(b)
        out[f"w{short}"], out[f"b{short}"] = np.stack(ws).astype(np.float32), np.stack(bs).astype(np.float32)
    if not all(np.isfinite(v).all() for v in out.values()):
        raise BadInput(f"{path.name}: the potentials hold NaN or infinite weights")
    return k, d, out


def bounded_from_args(path: Path) -> bool | None:
    """The experiment's choice of the potential's final tanh, from the ``args.json`` PDETraversal writes
    next to its models (StyleGAN2: the identity); None when no such file says."""
    for folder in (path.parent, path.parent.parent):
        args = folder / "args.json"
        if args.is_file() and args.stat().st_size < 1 << 20:
            try:
                data = loads_bounded(args.read_bytes(), "args.json")
            except (ValueError, OSError):
                return None
            gan = str(data.get("gan", data.get("gan_type", ""))) if isinstance(data, dict) else ""
            return None if not gan else "stylegan2" not in gan.lower()
    return None


def import_pdetraversal(path: str | os.PathLike, model: LatentModel, *, sha256: str | None = None,
                        bounded: bool | None = None, eta: float = 1.0, horizon: int = 10) -> tuple[Flows, list[str]]:
    """PDETraversal potentials for ``model`` (whose latent they move: its view's space) and notes for the user."""
    p = Path(path)
    if not p.is_file():
        raise FileError(p, "no such file")
    k, d, stacked = _stack(_state_dict(read_inert(p, "PDETraversal potentials"), p), p)
    if d != model.info.latent_dim:
        raise BadInput(f"{p.name}: potentials of {d} latents; {model.info.name} has {model.info.latent_dim}",
                       "for a StyleGAN trained with shift_in_w_space, open it in w (the Generator panel)")
    if d < 4 or d % 2:
        raise BadInput(f"{p.name}: D = {d}; PDETraversal's time embedding only exists for even D >= 4")
    notes = []
    if bounded is None:
        bounded = bounded_from_args(p)
        if bounded is None:
            bounded = True
            notes.append("the file does not say whether its potentials end in tanh: taken as bounded (the "
                         "paper's default; StyleGAN2 experiments are not: give bounded=False / --unbounded)")
    config = FlowConfig(n_potentials=k, hidden=d, time_dim=d, bounded=bounded, eta=eta, horizon=horizon, pde="wave",
                        device="cpu")
    flows = Flows.build(config, d, model.info.image_shape[0], checkpoint_ref(model, sha256, p))
    with torch.no_grad():
        for name, value in stacked.items():
            getattr(flows.potentials, name).copy_(torch.from_numpy(value))
    notes.append(f"imported {k} PDETraversal potentials; the pair classifier is new (traversals do not need it)")
    return flows, notes
