"""One opened checkpoint as the app knows it, plus what the app keeps per model."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from latentlab.core.sidecars import Sidecars

if TYPE_CHECKING:  # torch-bound modules: the window is built before torch is imported (ui/app.py)
    from latentlab.core.activity import Activity
    from latentlab.core.checkpoints import Checkpoint
    from latentlab.core.data import FactorDataset
    from latentlab.core.encode import Encoded
    from latentlab.core.model import LatentModel

_tokens = itertools.count(1)


@dataclass(eq=False)
class ModelEntry:
    """One opened checkpoint; ``token`` tells entries apart even when two hold the same file."""

    checkpoint: Checkpoint
    token: int = field(default_factory=lambda: next(_tokens))
    activity: Activity | None = None
    encoded: Encoded | None = None  # dataset samples encoded once per model (latent map, activity, strip)
    dataset_name: str | None = None
    analysis_error: str | None = None
    sidecars: Sidecars = field(default_factory=Sidecars)  # its flows, directions and series found beside it
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def dataset(self) -> FactorDataset | None:
        if not self.dataset_name:
            return None
        from latentlab.core.data import get_dataset

        try:
            return get_dataset(self.dataset_name)
        except (ValueError, OSError):
            return None

    @property
    def model(self) -> LatentModel:
        return self.checkpoint.model

    @property
    def name(self) -> str:
        return self.model.info.name

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    @property
    def latent_dim(self) -> int:
        return self.model.info.latent_dim

    def _cached(self, key: str, compute):
        # Keyed on the model object: a device move replaces it. isinstance on a Protocol and codebook
        # copies are slow enough to show up when a slider drag asks on every event.
        model = self.model
        hit = self._cache.get(key)
        if hit is None or hit[0] is not model:
            hit = self._cache[key] = (model, compute(model))
        return hit[1]

    @property
    def encodes(self) -> bool:
        from latentlab.core.model import Encodes

        return self._cached("encodes", lambda m: isinstance(m, Encodes))

    @property
    def conditioned(self) -> bool:
        """A decoder of (z, c): the app shows its condition beside the sliders."""
        from latentlab.core.model import Conditioned

        return self._cached("conditioned", lambda m: isinstance(m, Conditioned))

    def condition(self) -> np.ndarray | None:
        """The condition (one value per class or attribute) the model decodes under now; None if it has none."""
        if not self.conditioned:
            return None
        return self.model.condition.detach().cpu().numpy().astype(np.float32)  # type: ignore[attr-defined]

    @property
    def quantized(self) -> bool:
        from latentlab.core.model import Quantized

        return self._cached("quantized", lambda m: isinstance(m, Quantized))

    def codebooks(self) -> list[np.ndarray] | None:
        if not self.quantized:
            return None
        return self._cached("codebooks", lambda m: [cb.detach().cpu().numpy().astype(np.float32)
                                                    for cb in m.codebooks])

    def scale(self) -> np.ndarray:
        """Per-dimension prior standard deviation (slider units)."""
        from latentlab.core.model import prior_std

        return prior_std(self.model).numpy().astype(np.float32)


@dataclass(eq=False)
class ModelExtras:
    """What the user set up for one open model; kept while another model is current, saved in sessions."""

    latent: np.ndarray | None = None  # the latent when the model was last left
    locked: set[int] = field(default_factory=set)
    directions: Any = None  # a DirectionSet
    directions_file: Path | None = None
    flows: Any = None  # a FlowSet
    flows_file: Path | None = None
    flow_k: int = 0  # the potential the Flows panel plays
    tagged: list[tuple[np.ndarray, str]] = field(default_factory=list)  # samples tagged for a supervised finder
    style_base: Any = None  # a style generator as opened; the entry shows a view of it (app/style_editing.py)
    style: Any = None  # its StyleSettings: space, class, truncation, noise, input transform
    last_z: np.ndarray | None = None  # the z the latent was last in: the way back from w to z
    last_latents: dict[str, np.ndarray] = field(default_factory=dict)  # each space's latent when it was left
    look: Any = None  # the synthesis layer the preview shows instead of the image (core.layer_view.LookSettings)
    untransform: bool = False  # StyleGAN3: the preview warps the output back by the input transform's inverse
