"""The GPU running out of memory during an export: the export goes on on the CPU and says so, like the preview.

There is no GPU here, so the fallback is tried with real modules whose forward raises the real
``torch.cuda.OutOfMemoryError`` once, as a CUDA decode that does not fit would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from latentlab.core.device import PREVIEW_OOM_NOTICE, retry_on_cpu
from latentlab.core.export import ExportOptions, FramePlan, dimension_traversal, export
from latentlab.core.export.frames import EXPORT_OOM_NOTICE
from latentlab.core.model import ModelInfo
from latentlab.core.render import Renderer


class RunsOutOnce(nn.Module):
    """A decoder whose first forward fails as a CUDA decode that does not fit in GPU memory would."""

    def __init__(self, error: type[BaseException] = torch.cuda.OutOfMemoryError):
        super().__init__()
        self.linear = nn.Linear(3, 64)
        self.error = error
        self.calls = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            raise self.error("CUDA out of memory. Tried to allocate 40.00 GiB")
        return torch.sigmoid(self.linear(z))


def test_the_fallback_moves_the_work_to_the_cpu_and_runs_it_again():
    net = RunsOutOnce()
    z = torch.randn(5, 3)
    moved = []
    out, notice = retry_on_cpu(lambda: net(z), lambda: "cuda:0", lambda: moved.append(net.to("cpu")))
    assert net.calls == 2 and len(moved) == 1
    assert torch.equal(out, torch.sigmoid(net.linear(z)))
    assert notice == PREVIEW_OOM_NOTICE and "CPU" in notice


def test_nothing_moves_when_nothing_fails():
    net = RunsOutOnce()
    net.calls = 1
    out, notice = retry_on_cpu(lambda: net(torch.zeros(1, 3)), lambda: "cuda:0", pytest.fail)
    assert notice is None and net.calls == 2


@pytest.mark.parametrize("where,error", [("cpu", torch.cuda.OutOfMemoryError), ("cuda:0", ValueError)])
def test_out_of_memory_on_the_cpu_and_other_errors_are_raised_as_they_are(where, error):
    net = RunsOutOnce(error)
    with pytest.raises(error):
        retry_on_cpu(lambda: net(torch.zeros(1, 3)), lambda: where, pytest.fail)
    assert net.calls == 1


class GpuDecoder(nn.Module):
    """A model on a device that is not the CPU, whose first decode there runs out of memory.

    This torch has no CUDA, so PyTorch's ``meta`` device (tensors without storage, which every build has)
    stands in for the GPU: the renderer moves latents there as it would to CUDA, and the decode fails there
    with the CUDA error. ``to("cpu")`` is what the fallback calls; after it the model computes on the CPU.
    """

    def __init__(self):
        super().__init__()
        self.net = RunsOutOnce()
        self.info = ModelInfo("gpu-model", 3, (1, 8, 8))
        self.device = torch.device("meta")

    def to(self, device):  # type: ignore[override]
        self.device = torch.device(device)
        return self

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 8, 8)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, 3, generator=generator)


def test_an_export_finishes_on_the_cpu_and_says_so(tmp_path):
    model = GpuDecoder()
    z, caps = dimension_traversal(np.zeros(3, np.float32), [0, 1, 2], 9, -2.0, 2.0)
    res = export(FramePlan.for_models([model], z, caps), tmp_path / "frames", ExportOptions(format="png", size=None))
    assert res.frames == 9 and res.notices == [EXPORT_OOM_NOTICE]
    assert model.device.type == "cpu" and model.net.calls == 1 + 1  # the failed batch, then one on the CPU
    assert res.to_dict()["notices"] == [EXPORT_OOM_NOTICE]


def test_the_preview_renderer_uses_the_same_fallback():
    model = GpuDecoder()
    r = Renderer(model)
    (img, _ms), notice = r.decode_or_fall_back(np.zeros(3, np.float32))
    assert notice == PREVIEW_OOM_NOTICE and img.shape == (8, 8) and r.model.device.type == "cpu"
