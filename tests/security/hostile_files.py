"""A corpus of hostile checkpoint files, built in test code. Each payload only creates a marker file.

Every builder returns the path it wrote. The payloads are real: loaded by ``torch.load(weights_only=False)``,
``pickle.load`` or ``torch.jit.load`` they do create the marker (``test_corpus_payloads_are_real`` proves
it), so a test that finds no marker after latentlab opened the file shows latentlab ran nothing.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Tuple  # noqa: UP035  (TorchScript wants typing.Tuple)

import numpy as np
import torch

_OP = "latentlab_hostile::touch"


def _register_touch_op() -> None:
    """A custom op that writes a file: what a TorchScript program calls to act on the machine."""
    if hasattr(torch.ops, "latentlab_hostile") and hasattr(torch.ops.latentlab_hostile, "touch"):
        return

    @torch.library.custom_op(_OP, mutates_args=())
    def touch(path: str) -> torch.Tensor:
        Path(path).write_text("the file's code ran")
        return torch.zeros(1)


class _Touch:
    """Unpickling this runs ``os.system('touch MARKER')``, the classic pickle payload."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def torchscript_archive(path: Path, marker: Path) -> Path:
    """A TorchScript model whose ``__setstate__`` (run by torch.jit.load) writes the marker."""
    _register_touch_op()

    class Evil(torch.nn.Module):
        def __init__(self, marker: str):
            super().__init__()
            self.marker = marker
            self.latent_dim = 2

        @torch.jit.export
        def __getstate__(self) -> Tuple[str, int]:  # noqa: UP006
            return (self.marker, self.latent_dim)

        @torch.jit.export
        def __setstate__(self, state: Tuple[str, int]) -> None:  # noqa: UP006
            self.marker = state[0]
            self.training = False
            self.latent_dim = state[1] + int(torch.ops.latentlab_hostile.touch(self.marker).sum().item())

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z

        @torch.jit.export
        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(z.shape[0], 1, 8, 8)

    torch.jit.save(torch.jit.script(Evil(str(marker))), str(path))
    return path


def reduce_pickle_zip(path: Path, marker: Path) -> Path:
    """A torch.save archive holding weights beside an os.system payload."""
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Touch(marker)}, path)
    return path


def reduce_pickle_legacy(path: Path, marker: Path) -> Path:
    torch.save({"weights": torch.zeros(2), "payload": _Touch(marker)}, path, _use_new_zipfile_serialization=False)
    return path


def reduce_pickle_plain(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"G_ema": _Touch(marker)}, protocol=2))
    return path


def nvidia_like_pickle(path: Path, marker: Path) -> Path:
    """Shaped like a StyleGAN2-ADA network pickle (persistence marker), its payload in the module source."""
    blob = pickle.dumps({"G_ema": _Touch(marker), "note": "torch_utils.persistence"}, protocol=3)
    path.write_bytes(blob)
    return path


def object_npy(path: Path, marker: Path) -> Path:
    """An .npy object array whose item is the payload (np.load(allow_pickle=True) runs it)."""
    arr = np.empty(1, dtype=object)
    arr[0] = _Touch(marker)
    np.save(path, arr, allow_pickle=True)
    return path


def bytearray_bomb() -> bytes:
    """34 bytes that ask for a 2 GiB bytearray: ``bytearray(2**31)``."""
    return (b"\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\tbytearray\x93"
            b"J\x00\x00\x00\x80\x85R.")


def huge_string_pickle() -> bytes:
    """A BINUNICODE8 that claims a terabyte of text."""
    return b"\x80\x04\x8d" + (1 << 40).to_bytes(8, "little") + b"abc."


def deep_list_pickle(depth: int = 100_000) -> bytes:
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def deep_memo_pickle(depth: int = 100_000) -> bytes:
    """Nested lists built through the memo: a small stack, an unbounded depth."""
    return b"\x80\x02]q\x00" + b"(h\x00lq\x00" * depth + b"."


def storage_bomb_zip(path: Path) -> Path:
    """A torch.save archive whose data.pkl claims a storage of 2**40 floats (the entry holds 8 bytes)."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED)
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("data.pkl"):
            data = data.replace(b"K\x02t", b"\x8a\x06" + (1 << 40).to_bytes(6, "little") + b"t", 1)
        out.writestr(info.filename, data)
    out.close()
    return path


def zip_bomb(path: Path) -> Path:
    """A torch.save-looking archive whose data.pkl deflates to a gigabyte of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as fh:
            block = b"\x00" * (1 << 20)
            for _ in range(1024):
                fh.write(block)
    return path


def legacy_storage_bomb(path: Path) -> Path:
    """A legacy torch.save stream whose persistent id declares a 2**40-element storage."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    # The storage's numel (2) is pickled as BININT1 right after the location string 'cpu'.
    marker = b"X\x03\x00\x00\x00cpu"
    at = data.index(marker) + len(marker)
    at = data.index(b"K\x02", at)
    path.write_bytes(data[:at] + b"\x8a\x06" + (1 << 40).to_bytes(6, "little") + data[at + 2:])
    return path


def safetensors_with_header(path: Path, header: bytes, body: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)
    return path
