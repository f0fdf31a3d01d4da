"""Choosing a compute device, and falling back to the CPU when the GPU cannot take the work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from latentlab.core.errors import LatentlabError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")
T = TypeVar("T")


class DeviceError(LatentlabError, RuntimeError):
    pass


def cuda_available() -> bool:
    try:
        return torch.cuda.is_available()
    except Exception:  # a broken driver must not take the app down with it
        return False


def available_devices() -> list[str]:
    """Devices a user can pick from: the CPU and each visible CUDA device."""
    out = ["cpu"]
    if cuda_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return out


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` into a usable torch.device.

    ``auto`` picks CUDA when it is present, else the CPU. Asking for CUDA where there is none is an error
    that says so, rather than a crash deep inside torch.
    """
    if spec is None:
        spec = "auto"
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda") if cuda_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not cuda_available():
            raise DeviceError(
                f"device {spec!r} was asked for, but CUDA is not available here "
                f"(torch {torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}); use --device cpu or auto"
            )
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    raise DeviceError(f"unknown device {spec!r}; choose one of auto, cpu, cuda, cuda:N")


def is_oom(exc: BaseException) -> bool:
    """The GPU ran out of memory: torch's own type (its allocator raises it), never a guess from the message."""
    return isinstance(exc, torch.OutOfMemoryError)


def with_cpu_fallback(
    fn: Callable[[torch.device], T],
    device: torch.device,
    notify: Callable[[str], Any] | None = None,
) -> tuple[T, torch.device]:
    """Run ``fn(device)``; if the GPU runs out of memory, say so and run it again on the CPU."""
    try:
        return fn(device), device
    except Exception as exc:
        if device.type != "cuda" or not is_oom(exc):
            raise
        torch.cuda.empty_cache()
        msg = f"out of memory on {device}; continuing on the CPU"
        log.warning(msg)
        if notify is not None:
            notify(msg)
        cpu = torch.device("cpu")
        return fn(cpu), cpu


PREVIEW_OOM_NOTICE = "GPU out of memory: the model moved to the CPU"


def retry_on_cpu(call: Callable[[], T], where: Callable[[], torch.device | str], to_cpu: Callable[[], Any],
                 notice: str = PREVIEW_OOM_NOTICE) -> tuple[T, str | None]:
    """Run ``call()``; if it runs out of GPU memory, move the work to the CPU (``to_cpu()``) and run it again.

    ``where()`` says where the failed call ran (asked only after a failure, so the happy path costs nothing);
    an out-of-memory error on the CPU, and every other error, is raised as it is. Returns the result and the
    notice to show the user, or None when nothing had to move. The interactive preview and export share it.
    """
    try:
        return call(), None
    except Exception as exc:
        if torch.device(where()).type == "cpu" or not is_oom(exc):
            raise
    # Out of the except block: the failed call's traceback (and the GPU tensors it holds) is gone by now.
    torch.cuda.empty_cache()
    to_cpu()
    log.warning(notice)
    return call(), notice
