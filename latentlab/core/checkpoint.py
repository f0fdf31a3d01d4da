"""The checkpoint API under its historical import path; the code lives in ``latentlab.core.checkpoints``."""

from __future__ import annotations

from latentlab.core.checkpoints import *  # noqa: F403
from latentlab.core.checkpoints import __all__  # noqa: F401
from latentlab.core.checkpoints.build import build_zoo as _build_zoo  # noqa: F401  (third-party readers)
from latentlab.core.checkpoints.source import check_file as _check_file  # noqa: F401
