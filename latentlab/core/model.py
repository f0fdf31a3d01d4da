"""The model contract every panel, metric and exporter programs against.

A model is anything with ``info``, ``decode``, ``sample_prior`` and ``to``. Optional capabilities
(``Encodes``, ``Quantized``, ``Conditioned``) are protocols too, so panels enable themselves with
``isinstance`` and never by a model's name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

PRIORS = ("normal", "uniform", "codebook")


@dataclass(frozen=True)
class ModelInfo:
    """What the app needs to know about a model to show it."""

    name: str
    latent_dim: int
    image_shape: tuple[int, int, int]  # C, H, W
    latent_names: tuple[str, ...] | None = None
    prior: str = "normal"
    dataset: str | None = None
    factor_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if len(self.image_shape) != 3 or any(int(s) < 1 for s in self.image_shape):
            raise ValueError(f"image_shape must be (C, H, W), got {self.image_shape}")
        if self.image_shape[0] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.image_shape[0]}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.latent_names is not None and len(self.latent_names) != self.latent_dim:
            raise ValueError(
                f"{len(self.latent_names)} latent names given for {self.latent_dim} latent dimensions"
            )

    def dim_label(self, j: int) -> str:
        """The name a user sees for latent dimension ``j``."""
        if self.latent_names:
            return self.latent_names[j]
        return f"z{j}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        def tup(v):
            return None if v is None else tuple(v)

        return cls(
            name=str(d["name"]),
            latent_dim=int(d["latent_dim"]),
            image_shape=tuple(int(s) for s in d["image_shape"]),  # type: ignore[arg-type]  # length: __post_init__
            latent_names=tup(d.get("latent_names")),
            prior=str(d.get("prior", "normal")),
            dataset=d.get("dataset"),
            factor_names=tup(d.get("factor_names")),
        )


@dataclass
class Posterior:
    """An encoder's answer for a batch: a diagonal Gaussian, or deterministic codes.

    ``logvar`` is None for deterministic encoders (quantized models); ``sample`` then returns the mean.
    """

    mean: Tensor
    logvar: Tensor | None = None
    codes: Tensor | None = None  # integer code indices for quantized models
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def variance(self) -> Tensor | None:
        return None if self.logvar is None else self.logvar.exp()

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        if self.logvar is None:
            return self.mean
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + eps * (0.5 * self.logvar).exp()


@runtime_checkable
class LatentModel(Protocol):
    info: ModelInfo

    def decode(self, z: Tensor) -> Tensor:
        """(B, D) -> (B, C, H, W) in [0, 1].

        The live preview traces ``decode`` to TorchScript when the trace reproduces it exactly. A model
        whose decode has Python side effects a trace would drop sets ``traceable = False``.
        """
        ...

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...

    def to(self, device: Any) -> LatentModel: ...


@runtime_checkable
class Encodes(Protocol):
    def encode(self, x: Tensor) -> Posterior: ...


@runtime_checkable
class Quantized(Protocol):
    codebooks: list[Tensor]


@runtime_checkable
class Conditioned(Protocol):
    """A decoder of (z, c): ``decode(z)`` uses the condition ``c`` the model holds, which the app sets.

    ``condition_names`` names the entries of c (a class or an attribute each); ``condition_exclusive`` says
    whether c is one class at a time (one-hot) or independent toggles (a multi-hot attribute vector, as a
    CelebA-attribute conditional VAE takes). ``condition`` is the (n,) float vector ``decode`` uses now;
    ``set_condition`` replaces it (never in place, so a decode running meanwhile sees the old or the new
    one whole). ``decode_given(z, c)`` decodes latents (B, D) under explicit conditions (B, n): the render
    thread traces that, with c as an input, so a changed condition never needs a new trace.
    """

    condition_names: tuple[str, ...]
    condition_exclusive: bool
    condition: Tensor

    def set_condition(self, c: Tensor) -> None: ...

    def decode_given(self, z: Tensor, c: Tensor) -> Tensor: ...


def condition_tag(model: Any) -> str:
    """A short text that differs whenever a conditioned model's condition does ("" for other models).

    Decoded frames are kept by latent; for a conditioned model they are also kept by this tag.
    """
    # Asked for every frame: an attribute look-up first, the (slower) protocol check only for candidates.
    if getattr(model, "condition_names", None) is None or not isinstance(model, Conditioned):
        return ""
    return tag_of_condition(model.condition)


def tag_of_condition(c: Tensor) -> str:
    import hashlib

    data = c.detach().float().cpu().numpy().tobytes()
    return "c" + hashlib.blake2b(data, digest_size=8).hexdigest()


def device_of(model: Any) -> torch.device:
    """The device a model computes on (its ``device`` attribute, else its first parameter's)."""
    dev = getattr(model, "device", None)
    if isinstance(dev, torch.device):
        return dev
    if isinstance(dev, str):
        return torch.device(dev)
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def prior_std(model: LatentModel) -> Tensor:
    """Per-dimension scale of the prior, used to size sliders and traversals."""
    info = model.info
    if isinstance(model, Quantized):
        lo = torch.stack([cb.min() for cb in model.codebooks]).float().cpu()
        hi = torch.stack([cb.max() for cb in model.codebooks]).float().cpu()
        return ((hi - lo) / 2).clamp_min(1e-6)
    if info.prior == "uniform":
        return torch.full((info.latent_dim,), 1.0 / 3**0.5)
    measured = getattr(model, "latent_std", None)  # a model that knows its latents' spread (StyleSpace S)
    if isinstance(measured, Tensor) and tuple(measured.shape) == (info.latent_dim,):
        return measured.detach().float().cpu()
    return torch.ones(info.latent_dim)
