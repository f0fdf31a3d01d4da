"""Walking what the inert reader (``latentlab.core.checkpoints.torch_files``) gave back from a foreign file.

Third-party checkpoints carry Python objects beside their weights (a Lightning ``AttributeDict``, an
``argparse.Namespace``, NVIDIA's source-embedding network classes); the reader turns each into an inert
``Record`` that only remembers what the pickle handed it. These helpers find the tensors and plain values
in such a graph. Every walk is depth-bounded: the reader already refused graphs nested deeper than 200.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from latentlab.core.checkpoints.pickle_vm import Record

__all__ = ["Record", "find_state_dict", "inert_load", "plain"]

_KEYS = ("state_dict", "model_state_dict", "model", "net", "params", "model_states", "g_ema")


def inert_load(path: str | os.PathLike) -> Any:
    """A PyTorch file (zip or legacy) or a plain pickle, with every non-data object made inert."""
    from latentlab.core.checkpoints.source import read_source

    return read_source(path).torch_content().obj


def find_state_dict(obj: Any, keys: tuple[str, ...] = _KEYS, depth: int = 0) -> dict[str, torch.Tensor] | None:
    """The first nested dict whose values are all tensors (a state_dict), looked up under common keys."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, dict) and depth < 8:
        for k in keys:
            if k in obj:
                found = find_state_dict(obj[k], keys, depth + 1)
                if found is not None:
                    return found
    return None


def plain(obj: Any, depth: int = 0) -> Any:
    """Records and containers as JSON-friendly values (for model cards and notes); tensors as shapes."""
    if depth > 6:
        return "..."
    if isinstance(obj, Record):
        return {k: plain(v, depth + 1) for k, v in obj.as_dict().items() if isinstance(k, str)}
    if isinstance(obj, dict):
        return {str(k)[:200]: plain(v, depth + 1) for k, v in list(obj.items())[:1000]}
    if isinstance(obj, (list, tuple)):
        return [plain(v, depth + 1) for v in list(obj)[:1000]]
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}"
    if isinstance(obj, str):
        return obj[:2000]
    if isinstance(obj, (int, float, bool)) or obj is None:
        return obj
    return repr(obj)[:80]
