"""Hyper-parameters of potential-flow training, with the paper's defaults where it gives them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from latentlab.core import limits
from latentlab.core.choices import LOSS_TERMS
from latentlab.core.errors import BadInput
from latentlab.core.flows.pde import LAPLACIAN_METHODS, PDES, PDEOptions
from latentlab.core.limits import check_float, check_int, check_seed

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
        # Also what a flows file's card is read through: every field is type- and range-checked (BadInput).
        self.n_potentials = check_int(self.n_potentials, "number of potentials (k)", 1, limits.MAX_COUNT)
        self.steps = check_int(self.steps, "steps", 1, limits.MAX_STEPS)
        self.batch_size = check_int(self.batch_size, "batch_size", 2, limits.MAX_BATCH)
        self.horizon = check_int(self.horizon, "horizon (the classifier needs two steps)", 2, limits.MAX_TRAJECTORY)
        self.eta = check_float(self.eta, "eta", 0.0, 1000.0, lo_open=True)
        if self.pde not in PDES:
            raise BadInput(f"pde must be one of {', '.join(PDES)}, got {self.pde!r}"[:300])
        if self.laplacian not in LAPLACIAN_METHODS:
            raise BadInput(f"laplacian must be one of {', '.join(LAPLACIAN_METHODS)}, got {self.laplacian!r}"[:300])
        self.probes = check_int(self.probes, "probes", 1, limits.MAX_COUNT)
        self.exact_max_dim = check_int(self.exact_max_dim, "exact_max_dim", 0, limits.MAX_LATENT_DIM)
        if not isinstance(self.weights, dict):
            raise BadInput(f"weights must be a mapping of loss term to weight, got {type(self.weights).__name__}")
        unknown = set(self.weights) - set(LOSS_TERMS)
        if unknown:
            raise BadInput(f"unknown loss weight(s) {', '.join(sorted(map(str, unknown)))}; the terms are "
                           f"{', '.join(LOSS_TERMS)}"[:300])
        self.weights = {**DEFAULT_WEIGHTS, **{k: check_float(v, f"weight {k}", 0.0, 1e6) for k, v in self.weights.items()}}
        self.lr = check_float(self.lr, "lr", 0.0, 10.0, lo_open=True)
        if self.classifier_lr is not None:
            self.classifier_lr = check_float(self.classifier_lr, "classifier_lr", 0.0, 10.0, lo_open=True)
        self.hidden = check_int(self.hidden, "hidden", 1, limits.MAX_HIDDEN)
        self.time_dim = check_int(self.time_dim, "time_dim", 1, limits.MAX_HIDDEN)
        self.classifier_width = check_int(self.classifier_width, "classifier_width", 1, limits.MAX_HIDDEN)
        for name in ("bounded", "swap_pairs"):
            if not isinstance(getattr(self, name), bool):
                raise BadInput(f"{name} must be true or false, got {getattr(self, name)!r}"[:300])
        self.seed = check_seed(self.seed)
        if not isinstance(self.device, str):
            raise BadInput(f"device must be a name such as cpu or cuda, got {type(self.device).__name__}")
        self.log_every = check_int(self.log_every, "log_every", 1, limits.MAX_STEPS)

    @property
    def pde_options(self) -> PDEOptions:
        return PDEOptions(self.pde, self.laplacian, self.probes, self.exact_max_dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowConfig:
        if not isinstance(d, dict):
            raise BadInput(f"a flow config must be an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
