"""``Flows``: trained potentials, their classifier, and where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from latentlab.core.flows.classifier import PairClassifier
from latentlab.core.flows.config import FlowConfig
from latentlab.core.flows.potentials import PotentialSet


@dataclass
class Flows:
    """K potentials trained for one checkpoint, plus what is needed to resume their training."""

    potentials: PotentialSet
    classifier: PairClassifier
    config: FlowConfig
    checkpoint: dict[str, Any]  # sha256, name, latent_dim, file of the model the flows belong to
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    optimizer_state: dict[str, Any] | None = None  # Adam's state, for resuming
    rng_state: torch.Tensor | None = None  # the training generator's state, for resuming exactly

    @property
    def n_potentials(self) -> int:
        return self.potentials.n_potentials

    @property
    def latent_dim(self) -> int:
        return self.potentials.latent_dim

    @property
    def device(self) -> torch.device:
        return self.potentials.c.device

    @property
    def speeds(self) -> list[float]:
        """The learned PDE coefficient c_k of each potential."""
        return [float(c) for c in self.potentials.c.detach().cpu()]

    def to(self, device: torch.device | str) -> Flows:
        self.potentials.to(device)
        self.classifier.to(device)
        return self

    def summary(self) -> dict[str, Any]:
        """What a user wants to see about these flows (JSON-ready)."""
        last = self.history[-1] if self.history else {}
        return {
            "n_potentials": self.n_potentials, "latent_dim": self.latent_dim, "pde": self.config.pde,
            "step": self.step, "checkpoint": dict(self.checkpoint), "speeds": self.speeds,
            "final_losses": {k: v for k, v in last.items() if k != "step"}, "seconds": round(self.seconds, 1),
        }

    @classmethod
    def build(cls, config: FlowConfig, latent_dim: int, channels: int, checkpoint: dict[str, Any]) -> Flows:
        """Freshly initialised flows (seeded by ``config.seed``)."""
        pots = PotentialSet(config.n_potentials, latent_dim, config.hidden, config.time_dim, config.bounded,
                            seed=config.seed)
        clf = PairClassifier(config.n_potentials, channels, config.classifier_width, seed=config.seed + 1)
        return cls(pots, clf, config, dict(checkpoint))
