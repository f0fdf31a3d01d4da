from __future__ import annotations

import pytest
import torch

from latentlab.core.device import DeviceError, resolve_device, with_cpu_fallback


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_asking_for_missing_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


def test_unknown_device_name():
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")


def test_out_of_memory_on_gpu_falls_back_to_cpu_and_says_so():
    calls, notices = [], []

    def work(dev):
        calls.append(dev.type)
        if dev.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return "done"

    result, dev = with_cpu_fallback(work, torch.device("cuda"), notices.append)
    assert result == "done" and dev.type == "cpu"
    assert calls == ["cuda", "cpu"]
    assert "out of memory" in notices[0] and "CPU" in notices[0]


def test_other_errors_are_not_swallowed():
    def work(dev):
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        with_cpu_fallback(work, torch.device("cuda"))
