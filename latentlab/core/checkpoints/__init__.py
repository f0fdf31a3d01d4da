"""Open and save checkpoints, safely: one small module per concern.

- ``source``: a file's bytes read once, their SHA-256, and the user's trust bound to those bytes;
- ``sniff``: what a file is, from its bytes alone;
- ``pickle_vm`` / ``torch_files``: PyTorch files and pickles read by a bounded interpreter that never runs
  code (tensors and plain data come back; every other object is an inert ``Record``);
- ``card``: the JSON model card (bounded, type-checked); ``build``: zoo networks sized from tensor shapes;
- ``native``: the .safetensors format; ``code_formats``: TorchScript and pickled objects, only when trusted;
- ``plugins``: built-in readers of other code bases and installed plugins (probed with the header only);
- ``open``: ``open_checkpoint``, the one entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from latentlab.core.errors import CheckpointError, TrustMismatch, UnsupportedLayout, UntrustedFile
from latentlab.core.lazy_exports import lazy_exports

UntrustedCheckpointError = UntrustedFile  # the name earlier releases exported

# Imported on first use (PEP 562): ``build``, ``native`` and ``open`` pull torch, and the window imports
# torch-free submodules (``naming``, ``source``) while it is built, before torch is loaded.
_WHERE = {
    "ArchitectureMismatchError": "build", "build_zoo": "build", "infer_network_hparams": "build",
    "CARD_KEY": "card", "FORMAT_VERSION": "card", "format_card": "card", "make_card": "card",
    "file_sha256": "hashing", "read_card": "native", "save_checkpoint": "native", "Checkpoint": "open",
    "load_model": "open", "open_checkpoint": "open", "Source": "source", "Trust": "source", "check_file": "source",
    "read_source": "source", "sniff_format": "source",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)


if TYPE_CHECKING:
    from latentlab.core.checkpoints.build import ArchitectureMismatchError, build_zoo, infer_network_hparams
    from latentlab.core.checkpoints.card import CARD_KEY, FORMAT_VERSION, format_card, make_card
    from latentlab.core.checkpoints.hashing import file_sha256
    from latentlab.core.checkpoints.native import read_card, save_checkpoint
    from latentlab.core.checkpoints.open import Checkpoint, load_model, open_checkpoint
    from latentlab.core.checkpoints.source import Source, Trust, check_file, read_source, sniff_format

__all__ = [
    "ArchitectureMismatchError", "CARD_KEY", "Checkpoint", "CheckpointError", "FORMAT_VERSION", "Source", "Trust",
    "TrustMismatch", "UnsupportedLayout", "UntrustedCheckpointError", "UntrustedFile", "build_zoo", "check_file",
    "file_sha256", "format_card", "infer_network_hparams", "load_model", "make_card", "open_checkpoint",
    "read_card", "read_source", "save_checkpoint", "sniff_format",
]
