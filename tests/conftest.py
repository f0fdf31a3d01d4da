"""Test-wide setup: an isolated latentlab home, headless Qt, few torch threads, a tiny model plugin."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from latentlab.core.resources import shipped_models_dir  # noqa: E402

torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parent.parent
MODELS = shipped_models_dir()  # the demo models inside the package


@pytest.fixture(scope="session", autouse=True)
def latentlab_home(tmp_path_factory):
    """Every test run gets its own data/cache folders; the user's real ones are never touched."""
    home = tmp_path_factory.mktemp("latentlab-home")
    old = os.environ.get("LATENTLAB_HOME")
    os.environ["LATENTLAB_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("LATENTLAB_HOME", None)
    else:
        os.environ["LATENTLAB_HOME"] = old


PLUGIN_SOURCE = textwrap.dedent('''
    """A tiny third-party model plugin: a linear decoder stored as a .tinymodel (npz) file.

    It is probed with the file's first bytes and name only (``sniff``), never with the path: plugins are
    installed code, and a probe that read the file could deserialise it before the user trusted it.
    """
    import numpy as np
    import torch
    from torch import nn
    from latentlab.core.model import ModelInfo

    class LinearDecoder(nn.Module):
        def __init__(self, weight, name):
            super().__init__()
            self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float32))
            d = self.weight.shape[0]
            self.info = ModelInfo(name, d, (1, 8, 8))
            self.card = {"architecture": "tiny-linear", "plugin": "tinyplugin"}

        def decode(self, z):
            return torch.sigmoid(z @ self.weight).view(-1, 1, 8, 8)

        def sample_prior(self, n, generator=None):
            return torch.randn(n, self.info.latent_dim, generator=generator).to(self.weight.device)

    class TinyPlugin:
        name = "tiny-linear"
        probed = []  # what each probe was shown: (number of header bytes, name)

        def sniff(self, head, name):
            TinyPlugin.probed.append((len(head), name))
            return name.endswith(".tinymodel") and head.startswith(b"PK")

        def open(self, path, trust=False):
            with np.load(path, allow_pickle=False) as f:
                return LinearDecoder(f["weight"], path.stem)
''')


@pytest.fixture(scope="session")
def tiny_plugin(tmp_path_factory):
    """Install the plugin for this test session: a package plus a dist-info with an entry point."""
    site = tmp_path_factory.mktemp("plugin-site")
    (site / "tinyplugin").mkdir()
    (site / "tinyplugin" / "__init__.py").write_text(PLUGIN_SOURCE)
    dist = site / "tinyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[latentlab.models]\ntiny-linear = tinyplugin:TinyPlugin\n")
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("tinyplugin", None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Note on the test item whether the test itself failed (the Qt leak check then stays quiet)."""
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
