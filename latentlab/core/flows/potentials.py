"""K scalar potentials u_k(z, t) whose gradients move latents (Song, Keller, Sebe, Welling, ICML 2023).

Each potential is the paper's small MLP: z through a linear layer and tanh, t through a sinusoidal
embedding and a two-layer MLP, the two summed, then a tanh layer and a linear layer to a scalar (an
optional final tanh, as the reference code has, bounds the potential). The K networks are stored as
stacked weights so one batch can mix potentials: sample i uses the weights of potential ``k[i]``, and
both ``k`` and ``t`` are per sample, so derivatives with respect to t never mix samples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(B,) times -> (B, dim) sin/cos features; any ``dim`` >= 1 (odd sizes keep one extra sine)."""
    if dim < 1:
        raise ValueError(f"the time embedding needs at least one feature, got {dim}")
    n_freq = (dim + 1) // 2
    # Frequencies from 1 down to 1/max_period; a single frequency is just 1 (no division by n_freq - 1 = 0).
    scale = math.log(max_period) / max(n_freq - 1, 1)
    freqs = torch.exp(-scale * torch.arange(n_freq, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)[:, :dim]


def _init_stack(k: int, fan_in: int, fan_out: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Weights (k, fan_in, fan_out) and biases (k, fan_out) drawn like ``nn.Linear``'s default."""
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(k, fan_in, fan_out, generator=generator) * 2 - 1) * bound
    b = (torch.rand(k, fan_out, generator=generator) * 2 - 1) * bound
    return w, b


class PotentialSet(nn.Module):
    """K potentials u_k(z, t) with a learnable PDE coefficient c_k each (the wave speed)."""

    def __init__(self, n_potentials: int, latent_dim: int, hidden: int = 64, time_dim: int = 16,
                 bounded: bool = True, seed: int = 0):
        super().__init__()
        if n_potentials < 1:
            raise ValueError(f"need at least one potential, got {n_potentials}")
        if latent_dim < 1 or hidden < 1:
            raise ValueError("latent_dim and hidden must be positive")
        self.n_potentials, self.latent_dim, self.hidden, self.time_dim = n_potentials, latent_dim, hidden, time_dim
        self.bounded = bounded
        g = torch.Generator().manual_seed(seed)
        k, d, h, e = n_potentials, latent_dim, hidden, time_dim
        self.wz, self.bz = (nn.Parameter(p) for p in _init_stack(k, d, h, g))
        self.wt1, self.bt1 = (nn.Parameter(p) for p in _init_stack(k, e, h, g))
        self.wt2, self.bt2 = (nn.Parameter(p) for p in _init_stack(k, h, h, g))
        self.wf, self.bf = (nn.Parameter(p) for p in _init_stack(k, h, h, g))
        wo, bo = _init_stack(k, h, 1, g)
        self.wo, self.bo = nn.Parameter(wo), nn.Parameter(bo)
        # One coefficient per potential: the wave speed c_k (the diffusion coefficient is c_k^2).
        self.c = nn.Parameter(torch.ones(k))

    @staticmethod
    def shapes_for(n_potentials: int, latent_dim: int, hidden: int, time_dim: int) -> dict[str, tuple[int, ...]]:
        """The state_dict shapes of a PotentialSet with these sizes, computed without building it."""
        k, d, h, e = n_potentials, latent_dim, hidden, time_dim
        out: dict[str, tuple[int, ...]] = {}
        for name, fan_in, fan_out in (("z", d, h), ("t1", e, h), ("t2", h, h), ("f", h, h), ("o", h, 1)):
            out[f"w{name}"], out[f"b{name}"] = (k, fan_in, fan_out), (k, fan_out)
        out["c"] = (k,)
        return out

    @property
    def hparams(self) -> dict:
        return dict(n_potentials=self.n_potentials, latent_dim=self.latent_dim, hidden=self.hidden,
                    time_dim=self.time_dim, bounded=self.bounded)

    def forward(self, z: Tensor, t: Tensor, k: Tensor | int) -> Tensor:
        """u_k(z, t) for a batch: z (B, D), t (B,) or scalar, k (B,) or int -> (B,)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        b = z.shape[0]
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        if t.ndim == 0:
            t = t.expand(b)
        if isinstance(k, int) or (isinstance(k, Tensor) and k.ndim == 0):
            return self._one(z, t, self._check_k(int(k)))
        idx = k.to(device=z.device, dtype=torch.long)
        if idx.shape != (b,):
            raise ValueError(f"k must be an int or have shape ({b},), got {tuple(idx.shape)}")
        if b == 0:
            return z.new_zeros(0)
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= self.n_potentials:
            raise IndexError(f"potential {lo if lo < 0 else hi} out of range 0..{self.n_potentials - 1}")
        if lo == hi:
            return self._one(z, t, lo)
        # Group the samples by potential and run each group through its own weights as one dense matmul
        # (gathering a weight matrix per sample costs far more); then put the answers back in order.
        order = torch.argsort(idx, stable=True)
        counts = torch.bincount(idx, minlength=self.n_potentials).tolist()
        zs, ts = z[order].split(counts), t[order].split(counts)
        parts = [self._one(zs[j], ts[j], j) for j in range(self.n_potentials) if counts[j]]
        return torch.cat(parts)[torch.argsort(order)]

    def _one(self, z: Tensor, t: Tensor, j: int) -> Tensor:
        """Potential j on a batch."""
        hz = torch.tanh(z @ self.wz[j] + self.bz[j])
        emb = sinusoidal_embedding(t, self.time_dim)
        ht = F.gelu(emb @ self.wt1[j] + self.bt1[j]) @ self.wt2[j] + self.bt2[j]
        h = torch.tanh((hz + ht) @ self.wf[j] + self.bf[j])
        u = (h @ self.wo[j] + self.bo[j])[:, 0]
        return torch.tanh(u) if self.bounded else u

    def _check_k(self, k: int) -> int:
        if not 0 <= k < self.n_potentials:
            raise IndexError(f"potential {k} out of range 0..{self.n_potentials - 1}")
        return k

    def coefficient(self, k: Tensor | int) -> Tensor:
        """c_k for each sample (or the one potential)."""
        return self.c[k]

    def velocity(self, z: Tensor, t: Tensor | float, k: Tensor | int, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """(grad_z u_k(z, t), u_k(z, t)); differentiable when ``create_graph``."""
        if create_graph:
            zz = z if z.requires_grad else z.detach().requires_grad_(True)
            u = self(zz, t, k)
            (g,) = torch.autograd.grad(u.sum(), zz, create_graph=True)
            return g, u
        # Playback may run under no_grad or inference_mode (a render thread); the gradient still needs autograd.
        with torch.inference_mode(False), torch.enable_grad():
            zz = z.detach().clone().requires_grad_(True)
            tt = t.detach().clone() if isinstance(t, Tensor) else t
            u = self(zz, tt, k.clone() if isinstance(k, Tensor) else k)
            (g,) = torch.autograd.grad(u.sum(), zz)
        return g.detach(), u.detach()
