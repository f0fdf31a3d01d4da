"""How a sweep gets latents out of each checkpoint: its own encoder, an InfoGAN's Q head, or inversion.

Metrics encode dataset images. A VAE or QLAE has an encoder. A GAN has none, but an InfoGAN is trained with
one: the critic's code head Q(c | x) regresses the latent code from the image, which is exactly an encoder
into the generator's latent space. It lives in the objective, not the generator, so it is found in the run's
resume state (``<checkpoint>.resume``, kept by ``latentlab train --resume`` and every ``sweep-train`` run),
and only used when that state holds exactly this checkpoint's generator weights. Any other generator is
evaluated through inversion (optimising a latent per image, ``latentlab.core.invert``) when asked, or skipped
with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.checkpoint import Checkpoint
from latentlab.core.errors import CheckpointError
from latentlab.core.model import Encodes, LatentModel, Posterior, Quantized, device_of

log = logging.getLogger(__name__)

INFOGAN_ARCHS = ("infowgan", "qinfowgan")
ENCODER, Q_HEAD, INVERSION, SKIP = "encoder", "q_head", "inversion", "skip"


@dataclass
class Route:
    """How one checkpoint is encoded, and what the user is told about it."""

    kind: str  # ENCODER | Q_HEAD | INVERSION | SKIP
    note: str = ""
    q_head: bytes | None = None  # the critic's weights (safetensors bytes) for Q_HEAD
    invert: dict[str, Any] = field(default_factory=dict)  # InversionConfig fields for INVERSION


def _critic_dims(model: LatentModel) -> dict[str, int]:
    hp = getattr(model, "hparams", {})
    return {"channels": int(hp["channels"]), "code_dim": int(hp["latent_dim"]), "image_size": int(hp["image_size"]),
            "base": int(hp["base"]), "hidden": int(hp["hidden"])}


def q_head_from_resume(ck: Checkpoint) -> tuple[bytes | None, str]:
    """The critic's weights from the run's resume state when they belong to this very generator, else why not."""
    from safetensors.torch import save

    from latentlab.core.train_state import read_resume, resume_path

    path = resume_path(ck.path)
    if not path.is_file():
        return None, f"its InfoGAN Q head was not kept ({path.name} is not beside it; `latentlab train --resume` keeps it)"
    try:
        _, tensors = read_resume(path)
    except CheckpointError as exc:
        return None, f"its InfoGAN Q head cannot be read ({exc})"
    critic = {k[len("objective.critic."):]: v for k, v in tensors.items() if k.startswith("objective.critic.")}
    generator = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = ck.model.state_dict() if isinstance(ck.model, nn.Module) else {}
    same = bool(own) and set(own) == set(generator) and all(
        torch.equal(own[k].detach().cpu(), generator[k]) for k in own)
    if not critic:
        return None, f"{path.name} holds no InfoGAN critic"
    if not same:
        return None, f"{path.name} is from another point of the run (its generator weights differ from this file's)"
    return save({k: v.contiguous() for k, v in critic.items()}), f"encoded by its InfoGAN Q head (from {path.name})"


def choose_route(ck: Checkpoint, invert: bool, invert_config: dict[str, Any] | None = None) -> Route:
    """The way in for ``ck``'s metrics; SKIP carries the reason and what to do about it."""
    if isinstance(ck.model, Encodes):
        return Route(ENCODER)
    arch = getattr(ck.model, "architecture", None) or ck.card.get("architecture")
    why = "it has no encoder (a generator only)"
    if arch in INFOGAN_ARCHS:
        blob, said = q_head_from_resume(ck)
        if blob is not None:
            return Route(Q_HEAD, said, q_head=blob)
        why = f"{why}, and {said}"
    if invert:
        cfg = dict(invert_config or {})
        steps = cfg.get("steps", 100)
        return Route(INVERSION, f"encoded by inversion ({steps} optimisation steps per image; the figures "
                                "depend on how well the images are reconstructed)", invert=cfg)
    return Route(SKIP, f"skipped: {why}; give --invert to evaluate it through inversion")


class _Wrapped(nn.Module):
    """A generator with an encoder added; everything else is the generator's."""

    def __init__(self, model: LatentModel):
        super().__init__()
        self.inner = model
        self.info = model.info
        self.architecture = getattr(model, "architecture", "")
        self.hparams = getattr(model, "hparams", {})

    @property
    def device(self) -> torch.device:
        return device_of(self.inner)

    def decode(self, z: Tensor) -> Tensor:
        return self.inner.decode(z)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.inner.sample_prior(n, generator)

    def _posterior(self, z: Tensor) -> Posterior:
        if isinstance(self.inner, Quantized) and hasattr(self.inner, "quantize"):
            zq, codes = self.inner.quantize(z)
            return Posterior(zq, None, codes)
        return Posterior(z)


class QHeadEncoder(_Wrapped):
    """InfoGAN: Q(c | x), the critic's code regressor, as the encoder (its output snapped to the codebook
    for the quantized variant, as in training)."""

    def __init__(self, model: LatentModel, critic_state: bytes):
        from safetensors.torch import load

        from latentlab.core.zoo.adversarial import Critic

        super().__init__(model)
        self.critic = Critic(**_critic_dims(model))
        self.critic.load_state_dict(load(critic_state))
        self.critic.to(device_of(model)).eval()

    @torch.inference_mode()
    def encode(self, x: Tensor) -> Posterior:
        _, code = self.critic(x.to(self.device))
        return self._posterior(code)


class InversionEncoder(_Wrapped):
    """Inversion as the encoder: each image's latent is found by optimisation (deterministic per seed)."""

    def __init__(self, model: LatentModel, config: dict[str, Any]):
        from latentlab.core.invert import InversionConfig

        super().__init__(model)
        self.config = InversionConfig(**{"steps": 100, "restarts": 4, "preview_every": 0, **config})

    def encode(self, x: Tensor) -> Posterior:
        from latentlab.core.invert import invert

        # Encoding runs under inference mode; the search needs gradients with respect to the latent.
        with torch.inference_mode(False), torch.enable_grad():
            found = invert(self.inner, x.detach().cpu().clone(), self.config)
        return self._posterior(torch.as_tensor(found.latents, device=self.device))


class _QuantizedMixin:
    @property
    def codebooks(self) -> list[Tensor]:
        return self.inner.codebooks  # type: ignore[attr-defined]


class QuantizedQHeadEncoder(_QuantizedMixin, QHeadEncoder):
    pass


class QuantizedInversionEncoder(_QuantizedMixin, InversionEncoder):
    pass


def with_encoder(model: LatentModel, route: Route) -> LatentModel:
    """``model`` able to encode along ``route`` (unchanged for ENCODER)."""
    quantized = isinstance(model, Quantized)
    if route.kind == ENCODER:
        return model
    if route.kind == Q_HEAD:
        assert route.q_head is not None
        return (QuantizedQHeadEncoder if quantized else QHeadEncoder)(model, route.q_head)
    if route.kind == INVERSION:
        return (QuantizedInversionEncoder if quantized else InversionEncoder)(model, route.invert)
    raise ValueError(f"cannot encode with route {route.kind!r}: {route.note}")
