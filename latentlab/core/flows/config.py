"""Hyper-parameters of potential-flow training, with the paper's defaults where it gives them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from latentlab.core.flows.pde import LAPLACIAN_METHODS, PDES, PDEOptions

LOSS_TERMS = ("pde", "ic", "jvp", "cls")
DEFAULT_WEIGHTS = {"pde": 1.0, "ic": 1.0, "jvp": 1.0, "cls": 1.0}  # the reference code weighs all terms 1


@dataclass
class FlowConfig:
    """Everything that decides what training does; saved in the flows file's card."""

    n_potentials: int = 8
    steps: int = 1000  # total optimisation steps (a resumed run continues up to this many)
    batch_size: int = 32
    horizon: int = 10  # traversal steps rolled out per training trajectory (collocation points per path)
    eta: float = 1.0  # step size: z <- z + eta * grad_z u_k(z, t)  (the paper uses 1)
    pde: str = "wave"
    laplacian: str = "auto"  # auto: exact up to exact_max_dim latents, Hutchinson above
    probes: int = 4  # Rademacher probes per point for the Hutchinson estimate
    exact_max_dim: int = 16
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    lr: float = 1e-4  # Adam, as in the paper
    classifier_lr: float | None = None  # None: same as lr
    hidden: int = 64
    time_dim: int = 16
    bounded: bool = True  # tanh on the potential's output, as the reference network has
    classifier_width: int = 16
    swap_pairs: bool = True  # show half the pairs in reverse order, so the classifier learns k, not direction
    seed: int = 0
    device: str = "auto"  # auto: wherever the model is
    log_every: int = 10  # history keeps the mean of each window of this many steps

    def __post_init__(self) -> None:
        if self.n_potentials < 1:
            raise ValueError(f"need at least one potential (k >= 1), got {self.n_potentials}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.horizon < 2:
            raise ValueError(f"horizon must be >= 2 (the classifier needs two steps), got {self.horizon}")
        if not self.eta > 0:
            raise ValueError(f"eta must be positive, got {self.eta}")
        if self.pde not in PDES:
            raise ValueError(f"pde must be one of {', '.join(PDES)}, got {self.pde!r}")
        if self.laplacian not in LAPLACIAN_METHODS:
            raise ValueError(f"laplacian must be one of {', '.join(LAPLACIAN_METHODS)}, got {self.laplacian!r}")
        if self.probes < 1:
            raise ValueError(f"probes must be >= 1, got {self.probes}")
        unknown = set(self.weights) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f"unknown loss weight(s) {', '.join(sorted(unknown))}; the terms are {', '.join(LOSS_TERMS)}")
        self.weights = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in self.weights.items()}}
        if self.lr <= 0 or (self.classifier_lr is not None and self.classifier_lr <= 0):
            raise ValueError("learning rates must be positive")
        if self.log_every < 1:
            raise ValueError("log_every must be >= 1")

    @property
    def pde_options(self) -> PDEOptions:
        return PDEOptions(self.pde, self.laplacian, self.probes, self.exact_max_dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
