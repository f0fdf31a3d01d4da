"""What a file is, from its bytes alone (never from its name, never by deserialising it).

Kinds: ``safetensors``; ``torch-zip`` (a ``torch.save`` archive), ``torchscript`` (a program: code in the
archive), ``torch-legacy`` (the pre-1.6 ``torch.save`` stream), ``nvidia-pickle`` (StyleGAN2-ADA/3 network
pickles, which embed source code), ``tensorflow-pickle``, ``pickle`` (any other pickle), ``npz``, ``npy``,
``zip``, ``corrupt-zip``, ``tar`` (torch before 0.4) and ``unknown``.
"""

from __future__ import annotations

import io
import struct
import zipfile

from latentlab.core.checkpoints.torch_files import is_legacy_stream, is_torchscript_names

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
NVIDIA_MARK = b"torch_utils.persistence"
TF_MARK = b"dnnlib.tflib"
_NVIDIA_SNIFF = 1 << 20

# Kinds whose bytes are read inertly (tensors and plain data, never code).
TORCH_KINDS = ("torch-zip", "torch-legacy", "pickle", "nvidia-pickle")
# Kinds that only running code stored in the file can make use of.
CODE_KINDS = ("torchscript", "nvidia-pickle", "tensorflow-pickle")


def _zip_kind(fh: io.BufferedIOBase | io.BytesIO) -> str:
    try:
        names = zipfile.ZipFile(fh).namelist()
    except Exception:  # zipfile raises many types for a broken directory
        return "corrupt-zip"
    if is_torchscript_names(names):
        return "torchscript"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch-zip"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


def kind_of(head: bytes, size: int, zip_file: io.BufferedIOBase | io.BytesIO) -> str:
    """The kind from the first MiB (``head``), the file's size, and the file itself for a zip's directory."""
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 1 < n <= min(MAX_SAFETENSORS_HEADER, size - 8) and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(zip_file)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if is_legacy_stream(head):
        return "torch-legacy"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if NVIDIA_MARK in head[:_NVIDIA_SNIFF]:
            return "nvidia-pickle"
        if TF_MARK in head[:_NVIDIA_SNIFF]:
            return "tensorflow-pickle"
        return "pickle"
    return "unknown"


def sniff_bytes(data: bytes) -> str:
    """The kind of a file whose bytes are all in memory."""
    return kind_of(data[:_NVIDIA_SNIFF], len(data), io.BytesIO(data))
