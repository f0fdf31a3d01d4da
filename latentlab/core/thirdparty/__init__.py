"""Checkpoints from other code bases: Lightning VAEs (PyTorch-VAE, disent), 1Konny's beta-VAEs, rosinality
StyleGAN2, NVIDIA network pickles.

Each family is a built-in model plugin (the protocol of entry-point plugins: ``name``, ``names``,
``can_open(path)``, ``open(path, trust, arch)``), so ``open_checkpoint`` sniffs them like any other format.
Each maps the foreign weights onto one of our own networks (``zoo/vae_layouts.py``, ``zoo/stylegan2.py``), so
``latentlab convert`` can save them as ordinary .safetensors checkpoints that reopen without the plugin.

PyTorch files are read with the data-only unpickler of ``inert_pickle.py``: nothing in them runs.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from latentlab.core.thirdparty.inert_pickle import inert_load

_cache: dict[tuple[str, int, int], Any] = {}


def load_torch_file(path: str | os.PathLike) -> Any:
    """The file's content via the inert unpickler, cached for the latest file (several plugins sniff it)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        _cache.clear()
        _cache[key] = inert_load(p)
    return _cache[key]


def is_torch_file(path: Path) -> bool:
    """A torch.save zip archive or a pickle (legacy torch.save and plain pickles start alike)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


@cache
def builtin_plugins() -> tuple[Any, ...]:
    """The built-in third-party loaders, in the order they are asked."""
    from latentlab.core.thirdparty.lightning import DisentPlugin, KonnyPlugin, PyTorchVAEPlugin
    from latentlab.core.thirdparty.nvidia import NvidiaPicklePlugin
    from latentlab.core.thirdparty.rosinality import RosinalityPlugin

    return (NvidiaPicklePlugin(), RosinalityPlugin(), PyTorchVAEPlugin(), DisentPlugin(), KonnyPlugin())
