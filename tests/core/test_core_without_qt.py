"""latentlab.core must import and work where Qt is not installed."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "latentlab" / "core"


def test_no_core_module_imports_qt():
    pattern = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt\d|pyqtgraph|superqt|qtpy)\b", re.M)
    offenders = [str(p) for p in CORE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_core_imports_and_runs_with_pyside6_absent():
    script = textwrap.dedent("""
        import sys, importlib, pkgutil
        class BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "superqt", "PyQt5", "PyQt6", "qtpy"):
                    raise ImportError(f"{name} is not installed (blocked by the test)")
                return None
        sys.meta_path.insert(0, BlockQt())
        import latentlab.core as core
        for m in pkgutil.walk_packages(core.__path__, "latentlab.core."):
            importlib.import_module(m.name)
        import torch, numpy as np
        from latentlab.core.zoo import build_network
        from latentlab.core.render import Renderer, RenderRequest
        m = build_network("beta_vae", latent_dim=3, base=4, hidden=16)
        from latentlab.core.model import ModelInfo
        m.info = ModelInfo("t", 3, (1, 64, 64))
        assert Renderer(m).render(RenderRequest("v", np.zeros(3, np.float32))).ok
        assert not any(k.startswith(("PySide6", "pyqtgraph", "superqt")) for k in sys.modules)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
