"""Householder projector directions (Song, Zhang, Sebe & Wang, ICCV 2023).

The decoder's first linear layer ``A`` (hidden x latent) is re-parameterised as a scaled, rank-``k``,
orthogonal projector::

    A  ~  g * Q(U) E_k E_k^T Q(V)^T,      Q(X) = H(x_1) H(x_2) ... H(x_k),   H(x) = I - 2 x x^T / |x|^2

where ``Q(U) E_k`` and ``Q(V) E_k`` are orthonormal frames written as products of ``k`` Householder
reflections and ``g`` is one gain. Its right frame, the ``k`` columns of ``Q(V) E_k``, are the latent
directions: orthogonal by construction, and, because every kept singular value is the same ``g``, none is
favoured for merely being stretched more, which is the paper's argument for their being cleaner semantics.

Two steps, as in the paper:

1. Closed form: the frames are initialised from the truncated SVD of ``A`` (the reflections of a Householder
   QR of each singular-vector frame), so before any fine-tuning the directions are exactly SeFa's top ``k``.
2. Fine-tuning: the projector replaces ``A`` in a copy of the generator, which is trained so that its images
   match the original generator's for the same latents. The paper fine-tunes with the GAN objective on the
   training data for ~1 % of the original steps; latentlab distils from the original generator instead, so it
   needs neither the data nor the discriminator (which published checkpoints rarely carry). The fine-tuned
   generator is what the directions belong to: ``fine_tuned`` bakes the projector back into a plain
   ``nn.Linear`` (same architecture, so it saves and opens like the original).

For a style generator viewed in W the matrix is every layer's style affine stacked (as SeFa's); only the closed
form is offered there, since the paper's fine-tuning replaces one layer and a style generator has one per
synthesis layer.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core.directions.base import Direction, sign_canonical
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import LatentModel, device_of

log = logging.getLogger(__name__)

_TINY = 1e-12


def reflect_frame(vectors: Tensor) -> Tensor:
    """(n, k) reflection vectors -> the (n, k) orthonormal frame H(v_1) ... H(v_k) E_k.

    Zero vectors are identity reflections (a column that needed none). Applied to E_k right to left, which
    costs O(n k^2) instead of forming n x n matrices."""
    n, k = vectors.shape
    frame = torch.eye(n, k, dtype=vectors.dtype, device=vectors.device)
    norms = vectors.norm(dim=0, keepdim=True)
    unit = vectors / norms.clamp_min(_TINY)
    unit = torch.where(norms > _TINY, unit, torch.zeros_like(unit))
    for i in range(k - 1, -1, -1):
        v = unit[:, i : i + 1]
        frame = frame - 2.0 * v @ (v.T @ frame)
    return frame


def frame_reflections(frame: Tensor) -> Tensor:
    """The inverse of ``reflect_frame``: reflection vectors whose frame is ``frame`` (n, k, orthonormal columns).

    A Householder QR that maps each column onto +e_i (not the usual -sign choice), so the triangular factor
    of an orthonormal frame is exactly E_k and ``frame = H(v_1) ... H(v_k) E_k`` with no sign left over."""
    work = frame.detach().to(torch.float64).clone()
    n, k = work.shape
    vectors = torch.zeros(n, k, dtype=torch.float64)
    for i in range(k):
        v = work[:, i].clone()
        v[:i] = 0.0
        v[i] -= v[i:].norm()
        if float(v.norm()) > 1e-10:
            u = v / v.norm()
            work = work - 2.0 * torch.outer(u, u @ work)
            vectors[:, i] = u
    return vectors.to(frame.dtype)


class HouseholderProjector(nn.Module):
    """A drop-in for an ``nn.Linear``: weight = gain * left_frame @ right_frame^T (rank k, orthogonal frames)."""

    def __init__(self, out_features: int, in_features: int, k: int, bias: Tensor | None = None):
        super().__init__()
        self.k = k
        self.u = nn.Parameter(torch.zeros(out_features, k))
        self.v = nn.Parameter(torch.zeros(in_features, k))
        self.log_gain = nn.Parameter(torch.zeros(()))
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    @classmethod
    def from_weight(cls, weight: Tensor, k: int, bias: Tensor | None = None) -> HouseholderProjector:
        """The closed-form start: the frames of the top-k singular vectors of ``weight`` (out, in)."""
        w = weight.detach().to("cpu", torch.float64)
        left, s, right_t = torch.linalg.svd(w, full_matrices=False)
        proj = cls(w.shape[0], w.shape[1], k, bias)
        with torch.no_grad():
            proj.u.copy_(frame_reflections(left[:, :k]).to(weight.dtype))
            proj.v.copy_(frame_reflections(right_t[:k].T).to(weight.dtype))
            proj.log_gain.fill_(float(torch.log(s[:k].mean().clamp_min(_TINY))))
        return proj.to(weight.device)

    @classmethod
    def from_linear(cls, layer: nn.Linear, k: int) -> HouseholderProjector:
        return cls.from_weight(layer.weight, k, layer.bias)

    def right_frame(self) -> Tensor:
        return reflect_frame(self.v)

    def weight(self) -> Tensor:
        return self.log_gain.exp() * reflect_frame(self.u) @ self.right_frame().T

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight(), self.bias)

    def as_linear(self) -> nn.Linear:
        """The projector baked into a plain layer (the fine-tuned generator keeps its architecture)."""
        w = self.weight().detach()
        layer = nn.Linear(w.shape[1], w.shape[0], bias=self.bias is not None).to(w.device, w.dtype)
        with torch.no_grad():
            layer.weight.copy_(w)
            if self.bias is not None:
                layer.bias.copy_(self.bias.detach())
        return layer


@dataclass
class HouseholderResult:
    directions: list[Direction]
    fine_tuned: nn.Module | None  # the generator the directions belong to (None without fine-tuning)
    losses: list[float]  # distillation loss per logged step


def _replace_module(root: nn.Module, old: nn.Module, new: nn.Module) -> None:
    for parent in root.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new)
                return
    raise ValueError("the first layer is not a submodule of the model")


def _directions(proj: HouseholderProjector, note: str) -> list[Direction]:
    frame = proj.right_frame().detach().to("cpu", torch.float64).numpy()
    gain = float(proj.log_gain.detach().exp())
    return [Direction(f"householder {i}", "householder", {"rank": i, "gain": gain, "fit": note},
                      vector=sign_canonical(frame[:, i])) for i in range(frame.shape[1])]


def householder(model: LatentModel, k: int | None = None, finetune_steps: int = 0, lr: float = 1e-3,
                batch_size: int = 32, seed: int = 0, ctx: JobContext | None = None) -> HouseholderResult:
    """Householder projector directions of ``model``'s first decoder layer (closed form, then fine-tuned)."""
    from latentlab.core.directions.unsupervised import _top_k, first_layer, first_weight

    ctx = ensure_context(ctx)
    weight = torch.from_numpy(first_weight(model, "The Householder projector"))
    k = _top_k(k, min(weight.shape))
    if finetune_steps <= 0:
        proj = HouseholderProjector.from_weight(weight, k)
        ctx.progress(1.0, f"{k} Householder directions (closed form)")
        return HouseholderResult(_directions(proj, "closed form"), None, [])
    if not isinstance(model, nn.Module) or first_layer(model) is None:
        raise ValueError("fine-tuning the projector needs a generator whose latent enters through one linear "
                         "layer (a style generator's affines are many: use the closed form, 0 fine-tuning steps)")
    student = copy.deepcopy(model).train()
    student_layer = first_layer(student)
    assert student_layer is not None  # a copy of a model that has one
    proj = HouseholderProjector.from_linear(student_layer, k)
    _replace_module(student, student_layer, proj)
    losses = _distil(model, student, finetune_steps, lr, batch_size, seed, ctx)
    _replace_module(student, proj, proj.as_linear())
    student.eval()
    ctx.progress(1.0, f"{k} Householder directions after {finetune_steps} fine-tuning steps")
    return HouseholderResult(_directions(proj, f"fine-tuned {finetune_steps} steps"), student, losses)


def _distil(teacher: LatentModel, student: nn.Module, steps: int, lr: float, batch_size: int, seed: int,
            ctx: JobContext) -> list[float]:
    """Train ``student`` to draw what ``teacher`` draws for the same prior latents (mean squared error)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr, betas=(0.0, 0.99))
    device = device_of(teacher)
    losses: list[float] = []
    for step in range(steps):
        ctx.check()
        z = teacher.sample_prior(batch_size, generator=gen).to(device)
        with torch.no_grad():
            target = teacher.decode(z)
        loss = F.mse_loss(student.decode(z), target)  # type: ignore[operator]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            value = float(loss.detach())
            losses.append(value)
            ctx.progress((step + 1) / steps, f"fine-tuning step {step + 1}/{steps}: loss {value:.4g}")
    if not np.isfinite(losses[-1]):
        raise ValueError("fine-tuning diverged (loss is not finite); try a smaller learning rate")
    return losses
