"""Import disentanglement_lib's (1.5) BetaVAE and FactorVAE score modules without TensorFlow.

disentanglement_lib is the reference implementation of the classic metrics (Locatello et al. 2019); its
metric modules are plain numpy and scikit-learn. What stands in the way is ``import gin.tf`` at their top,
for a ``@gin.configurable`` decorator: gin's ``tf`` subpackage imports TensorFlow. The Makefile installs
disentanglement-lib ``--no-deps`` (its requirements pull TensorFlow) and gin-config, absl-py and six (the
modules' other imports) come with the dev extra; this loader registers ``gin.tf`` as gin itself (the
decorator is gin's own) and imports the real modules. Nothing of disentanglement_lib's code is replaced.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def load_dlib_metrics() -> dict[str, types.ModuleType] | None:
    """disentanglement_lib's beta_vae and factor_vae modules, or None when it (or gin) is absent."""
    if importlib.util.find_spec("disentanglement_lib") is None or importlib.util.find_spec("gin") is None:
        return None
    try:
        import gin

        sys.modules.setdefault("gin.tf", gin)
        return {name: importlib.import_module(f"disentanglement_lib.evaluation.metrics.{name}")
                for name in ("beta_vae", "factor_vae")}
    except ImportError:
        return None
