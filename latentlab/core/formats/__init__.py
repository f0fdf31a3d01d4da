"""Readers of other projects' checkpoint formats: Lightning VAEs (PyTorch-VAE, disent), 1Konny's beta-VAEs,
disentangling-vae results folders, rosinality StyleGAN2, NVIDIA network pickles.

Each family is a built-in model plugin (``name``, ``names``, ``can_open(src)``, ``open(src, trust, arch)``,
where ``src`` is the file's ``Source``: its bytes, digest and kind), asked before the native formats.
Each maps the foreign weights onto one of our own networks (``zoo/vae_layouts.py``, ``zoo/stylegan2.py``), so
``latentlab convert`` can save them as ordinary .safetensors checkpoints that reopen without the plugin.

PyTorch files are read by the inert interpreter of ``latentlab.core.checkpoints``: nothing in them runs.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from latentlab.core.checkpoints.sniff import TORCH_KINDS
from latentlab.core.checkpoints.source import Source


def load_torch_file(src: Source) -> Any:
    """The file's content as read by the inert reader (read once per Source, however many readers ask)."""
    return src.torch_content().obj


def is_torch_file(src: Source) -> bool:
    """A torch.save archive or stream, or a pickle (which may hold tensors)."""
    return src.kind in TORCH_KINDS


@cache
def builtin_plugins() -> tuple[Any, ...]:
    """The built-in third-party loaders, in the order they are asked."""
    from latentlab.core.formats.disvae import DisVAEPlugin
    from latentlab.core.formats.lightning import DisentPlugin, KonnyPlugin, PyTorchVAEPlugin
    from latentlab.core.formats.nvidia import NvidiaPicklePlugin
    from latentlab.core.formats.rosinality import RosinalityPlugin

    return (NvidiaPicklePlugin(), RosinalityPlugin(), PyTorchVAEPlugin(), DisentPlugin(), DisVAEPlugin(),
            KonnyPlugin())
