"""PDE residuals of the potentials, with a true Laplacian and per-sample time derivatives.

The reference code takes the "Laplacian" as the gradient of the summed gradient (a sum of Hessian rows)
and one time value for the whole batch (so d/dt sums over samples). Here the Laplacian is the trace of
the Hessian: exact for small latents (one Hessian-vector product per basis vector, batched), a
Hutchinson estimate with Rademacher probes for large ones; and every sample has its own time, so
d u_i / d t_i involves sample i only.

Residuals (each zero for an exact solution):
- ``wave``: u_tt - c_k^2 lap u                              (the paper's default)
- ``heat``: u_t - c_k^2 lap u                               (diffusion, D_k = c_k^2 >= 0)
- ``fokker-planck``: u_t - c_k^2 lap u - div(u z)            (diffusion plus the Ornstein-Uhlenbeck drift
  -z whose stationary density is the standard-normal prior; div(u z) = z . grad u + D u)
- ``hamilton-jacobi``: u_t + |grad u|^2 / 2                   (dynamic optimal transport)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.core.choices import PDES

LAPLACIAN_METHODS = ("auto", "exact", "hutchinson")

# (z (N, D), t (N,), rows (N,)) -> u (N,); ``rows`` says which sample of the original batch each row copies,
# so per-sample state (such as which potential) follows the copies the Laplacian makes.
Potential = Callable[[Tensor, Tensor, Tensor], Tensor]


def rademacher(shape: tuple[int, ...], generator: torch.Generator | None = None, device=None,
               dtype=torch.float32) -> Tensor:
    """Random +-1 entries (drawn on the CPU so a CPU generator seeds them on any device)."""
    bits = torch.randint(0, 2, shape, generator=generator)
    return (bits.to(dtype) * 2 - 1).to(device)


def hessian_quadratic_forms(fn: Potential, z: Tensor, t: Tensor, probes: Tensor) -> Tensor:
    """v^T H(z_i) v for every probe v and sample i: probes (P, B, D) -> (P, B), differentiable.

    All probes go through the network in one batch of P * B copies (one forward, two backward passes)
    rather than P separate Hessian-vector products.
    """
    p, b, d = probes.shape
    zr = z.detach().unsqueeze(0).expand(p, b, d).reshape(p * b, d).requires_grad_(True)
    tr = t.detach().unsqueeze(0).expand(p, b).reshape(p * b)
    v = probes.reshape(p * b, d).to(z)
    rows = torch.arange(b, device=z.device).repeat(p)
    u = fn(zr, tr, rows)
    (g,) = torch.autograd.grad(u.sum(), zr, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), zr, create_graph=True)
    return (hv * v).sum(dim=1).reshape(p, b)


def laplacian(fn: Potential, z: Tensor, t: Tensor, method: str = "auto", probes: int = 4,
              exact_max_dim: int = 16, generator: torch.Generator | None = None) -> Tensor:
    """Trace of the Hessian of u(., t) at each z: (B,), differentiable with respect to fn's parameters.

    ``auto`` is exact when the latent size is at most ``exact_max_dim`` and a Hutchinson estimate with
    ``probes`` Rademacher vectors above it (unbiased: E[v^T H v] = tr H when E[v v^T] = I).
    """
    if method not in LAPLACIAN_METHODS:
        raise ValueError(f"laplacian method must be one of {LAPLACIAN_METHODS}, got {method!r}")
    b, d = z.shape
    exact = method == "exact" or (method == "auto" and d <= exact_max_dim)
    if exact:
        basis = torch.eye(d, device=z.device, dtype=z.dtype).unsqueeze(1).expand(d, b, d)
        return hessian_quadratic_forms(fn, z, t, basis).sum(dim=0)
    if probes < 1:
        raise ValueError(f"the Hutchinson estimate needs at least one probe, got {probes}")
    v = rademacher((probes, b, d), generator, z.device, z.dtype)
    return hessian_quadratic_forms(fn, z, t, v).mean(dim=0)


def time_derivatives(fn: Potential, z: Tensor, t: Tensor, order: int = 2) -> tuple[Tensor, list[Tensor], Tensor]:
    """(u, [u_t, u_tt, ...], grad_z u) at each sample, all (B,) or (B, D), per sample and differentiable.

    ``t`` has one entry per sample; since u_i depends on t_i only, the gradient of sum_i u_i with respect
    to the vector t is exactly (du_i / dt_i)_i.
    """
    if t.ndim != 1 or t.shape[0] != z.shape[0]:
        raise ValueError(f"t must have one time per sample, shape ({z.shape[0]},), got {tuple(t.shape)}")
    zz = z.detach().requires_grad_(True)
    tt = t.detach().to(z).requires_grad_(True)
    u = fn(zz, tt, torch.arange(z.shape[0], device=z.device))
    u_t, g = _grad(u, (tt, zz))
    derivs = [u_t]
    for _ in range(order - 1):
        derivs.append(_grad(derivs[-1], (tt,))[0])
    return u, derivs, g


def _grad(y: Tensor, xs: tuple[Tensor, ...]) -> list[Tensor]:
    """d(sum y)/dx for each x, kept differentiable; zeros where y does not depend on x (a steady potential)."""
    if not y.requires_grad:
        return [torch.zeros_like(x) for x in xs]
    gs = torch.autograd.grad(y.sum(), xs, create_graph=True, allow_unused=True)
    return [torch.zeros_like(x) if gr is None else gr for gr, x in zip(gs, xs, strict=True)]


@dataclass(frozen=True)
class PDEOptions:
    """Which PDE, and how its Laplacian is computed."""

    kind: str = "wave"
    laplacian: str = "auto"
    probes: int = 4
    exact_max_dim: int = 16

    def __post_init__(self) -> None:
        if self.kind not in PDES:
            raise ValueError(f"pde must be one of {', '.join(PDES)}, got {self.kind!r}")
        if self.laplacian not in LAPLACIAN_METHODS:
            raise ValueError(f"laplacian must be one of {LAPLACIAN_METHODS}, got {self.laplacian!r}")


def residual(fn: Potential, z: Tensor, t: Tensor, coef: Tensor, options: PDEOptions,
             generator: torch.Generator | None = None) -> Tensor:
    """The PDE residual at each collocation point (z_i, t_i): (B,). ``coef`` is c_k per sample (B,)."""
    kind = options.kind
    order = 2 if kind == "wave" else 1
    u, derivs, grad_z = time_derivatives(fn, z, t, order)
    if kind == "hamilton-jacobi":
        return derivs[0] + 0.5 * (grad_z**2).sum(dim=1)
    lap = laplacian(fn, z, t, options.laplacian, options.probes, options.exact_max_dim, generator)
    c2 = coef**2
    if kind == "wave":
        return derivs[1] - c2 * lap
    res = derivs[0] - c2 * lap
    if kind == "fokker-planck":
        zz = z.detach()
        res = res - ((zz * grad_z).sum(dim=1) + zz.shape[1] * u)
    return res
