"""Import the metric functions of the PyPI package ``disent`` (0.8.x) without its heavy dependencies.

``pip install disent`` pulls a CUDA torch, torchvision and lightning. Its metric modules need none of
them: only numpy, scipy, scikit-learn, tqdm and torch (for ``to_numpy``). Two package-level imports stand in
the way: ``disent/metrics/__init__.py`` also imports the "factored components" metric (-> lightning), and
each metric module imports ``disent.dataset`` for a type annotation (-> torchvision, whose PyPI wheels are
CUDA builds that do not load against a CPU torch). So the test extra installs ``disent --no-deps`` plus tqdm
and this loader registers an empty ``disent.metrics`` package and a ``disent.dataset`` holding only the
annotation's name, then imports the real metric modules. Nothing of disent's metric code is replaced.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def load_disent_metrics() -> dict[str, types.ModuleType] | None:
    """disent's _mig, _dci, _sap, _factor_vae and _unsupervised modules, or None when disent is absent."""
    spec = importlib.util.find_spec("disent")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = list(spec.submodule_search_locations)[0]
    saved = {k: sys.modules.get(k) for k in ("disent.dataset", "disent.metrics")}
    try:
        if "disent.dataset" not in sys.modules:
            stub = types.ModuleType("disent.dataset")
            stub.DisentDataset = type("DisentDataset", (), {})  # only ever used as an annotation
            sys.modules["disent.dataset"] = stub
        if "disent.metrics" not in sys.modules:
            pkg = types.ModuleType("disent.metrics")
            pkg.__path__ = [f"{root}/metrics"]
            sys.modules["disent.metrics"] = pkg
        return {name: importlib.import_module(f"disent.metrics.{name}")
                for name in ("_mig", "_dci", "_sap", "_factor_vae", "_unsupervised")}
    except ImportError:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
        return None
