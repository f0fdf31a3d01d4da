"""Optimizer state in a form safetensors can hold: tensors apart, everything else as JSON.

``torch.save`` would pickle it, and a pickle needs trust to reopen; these two functions split a
``state_dict()`` so that reading it back never runs code from the file.
"""

from __future__ import annotations

from typing import Any

import torch


def optimizer_tensors(state: dict[str, Any], prefix: str = "optim") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into tensors named ``prefix.<param>.<key>`` and the JSON rest."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, st in state["state"].items():
        keys = []
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{pid}.{name}"] = value.detach().to("cpu").contiguous()
                keys.append(name)
            else:
                meta["state"].setdefault(str(pid), {})[name] = value
        meta["state"].setdefault(str(pid), {})["__tensors__"] = keys
    return tensors, meta


def optimizer_from(tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "optim") -> dict[str, Any]:
    """The ``state_dict`` that ``optimizer_tensors`` split (JSON turned tuples into lists; betas are made tuples again)."""
    state: dict[int, dict[str, Any]] = {}
    for pid, st in meta["state"].items():
        entry = {k: v for k, v in st.items() if k != "__tensors__"}
        for name in st.get("__tensors__", []):
            entry[name] = tensors[f"{prefix}.{pid}.{name}"]
        state[int(pid)] = entry
    groups = [{k: tuple(v) if k == "betas" and isinstance(v, list) else v for k, v in g.items()}
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}

