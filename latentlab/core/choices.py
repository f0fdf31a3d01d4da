"""Names the UI offers as choices, importable without torch (the window is built before torch is loaded).

The modules that use them re-export them where they always lived (``zoo.style_api``, ``style_edit``,
``flows``, ``invert``, ``metrics``); tests check each copy here against what those modules accept.
"""

from __future__ import annotations

SPACES = ("z", "w", "w+")  # the latent spaces of a style generator
NOISE_MODES = ("const", "random", "none")
EDIT_SPACES = (*SPACES, "s")  # and StyleSpace S: the style channels (core/style_space.py)
PDES = ("wave", "heat", "fokker-planck", "hamilton-jacobi")  # the flows' PDE constraints (flows/pde.py)
LOSS_TERMS = ("pde", "ic", "jvp", "cls")  # a flow training's weighted loss terms (flows/config.py)
INVERSION_LOSSES = ("pixel", "lap", "pixel+lap")  # invert.LOSSES: what an inversion matches
PROBE_PROPERTIES = ("intensity", "centroid_x", "centroid_y", "spread")  # the keys of probe.BUILTIN
BUILTIN_DATASETS = ("dsprites", "shapes3d", "xyobject")  # core.data.BUILTIN: the generated replicas
