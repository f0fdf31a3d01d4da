"""Integrating trained potentials: the trajectories the Flows dock plays, scrubs and draws.

A forward step is z_{n+1} = z_n + eta * grad_z u_k(z_n, n); a backward step goes against the gradient,
z_{n+1} = z_n - eta * grad_z u_k(z_n, n), so playing backwards from the current latent retraces the kind
of change the forward flow makes, in reverse. Everything returned is numpy, ready to plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from latentlab.core.flows.flowset import Flows


@dataclass
class Trajectory:
    """One path: ``latents[0]`` is the start, ``latents[n]`` the point after n steps."""

    latents: np.ndarray  # (steps + 1, D)
    potential: np.ndarray  # (steps + 1,) u_k(z_n, t_n)
    step_sizes: np.ndarray  # (steps,) |z_{n+1} - z_n|
    times: np.ndarray  # (steps + 1,) t_n
    k: int
    direction: int

    @property
    def steps(self) -> int:
        return len(self.step_sizes)

    def to_dict(self) -> dict[str, Any]:
        return {"latents": self.latents.tolist(), "potential": self.potential.tolist(),
                "step_sizes": self.step_sizes.tolist(), "times": self.times.tolist(), "k": self.k,
                "direction": self.direction}


@dataclass
class TrajectoryBatch:
    """Many paths at once: row i started at ``latents[i, 0]`` and followed potential ``k[i]``."""

    latents: np.ndarray  # (B, steps + 1, D)
    potential: np.ndarray  # (B, steps + 1)
    step_sizes: np.ndarray  # (B, steps)
    times: np.ndarray  # (steps + 1,)
    k: np.ndarray  # (B,)
    direction: int

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> Trajectory:
        return Trajectory(self.latents[i], self.potential[i], self.step_sizes[i], self.times,
                          int(self.k[i]), self.direction)

    def to_dict(self) -> dict[str, Any]:
        return {"latents": self.latents.tolist(), "potential": self.potential.tolist(),
                "step_sizes": self.step_sizes.tolist(), "times": self.times.tolist(), "k": self.k.tolist(),
                "direction": self.direction}


def _check(flows: Flows, z0: np.ndarray, steps: int, direction: int) -> np.ndarray:
    z = np.asarray(z0, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != flows.latent_dim:
        raise ValueError(f"start latents must have shape (B, {flows.latent_dim}), got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("start latents contain NaN or infinite values")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (forward) or -1 (backward), got {direction}")
    return z


def trajectories(flows: Flows, z0: np.ndarray, k: int | np.ndarray, steps: int = 20, direction: int = 1,
                 eta: float | None = None) -> TrajectoryBatch:
    """Integrate from each row of ``z0`` (B, D) along potential ``k`` (one for all rows, or one per row)."""
    z_np = _check(flows, z0, steps, direction)
    b = len(z_np)
    ks = np.broadcast_to(np.asarray(k, dtype=np.int64), (b,)).copy()
    if ((ks < 0) | (ks >= flows.n_potentials)).any():
        raise IndexError(f"potential index out of range 0..{flows.n_potentials - 1}")
    eta = flows.config.eta if eta is None else float(eta)
    dev = flows.device
    z = torch.from_numpy(z_np).to(dev)
    kt = torch.from_numpy(ks).to(dev)
    zs, us = [z], []
    pots = flows.potentials
    for n in range(steps + 1):
        t = torch.full((b,), float(n), device=dev)
        g, u = pots.velocity(z, t, kt)
        us.append(u)
        if n == steps:
            break
        z = z + direction * eta * g
        zs.append(z)
    lat = torch.stack(zs, dim=1).cpu().numpy()
    pot = torch.stack(us, dim=1).cpu().numpy()
    sizes = np.linalg.norm(np.diff(lat, axis=1), axis=-1)
    return TrajectoryBatch(lat, pot, sizes, np.arange(steps + 1, dtype=np.float32), ks, direction)


def trajectory(flows: Flows, z0: np.ndarray, k: int, steps: int = 20, direction: int = 1,
               eta: float | None = None) -> Trajectory:
    """One path from ``z0`` (D,) along potential ``k``: latents (steps + 1, D), u along it, step sizes."""
    z = np.asarray(z0, dtype=np.float32)
    if z.ndim != 1:
        raise ValueError(f"the start latent must be one vector (D,), got shape {z.shape}")
    return trajectories(flows, z[None], int(k), steps, direction, eta)[0]


def all_trajectories(flows: Flows, z0: np.ndarray, steps: int = 20, direction: int = 1,
                     eta: float | None = None) -> TrajectoryBatch:
    """Every potential's path from the same start (row k follows potential k): for the latent map."""
    z = np.asarray(z0, dtype=np.float32)
    if z.ndim != 1:
        raise ValueError(f"the start latent must be one vector (D,), got shape {z.shape}")
    kk = flows.n_potentials
    return trajectories(flows, np.repeat(z[None], kk, axis=0), np.arange(kk), steps, direction, eta)


def two_sided(flows: Flows, z0: np.ndarray, k: int, steps: int = 20, eta: float | None = None) -> tuple[Trajectory, Trajectory]:
    """The backward and forward paths from ``z0``, for a scrubber centred on the current latent."""
    return (trajectory(flows, z0, k, steps, -1, eta), trajectory(flows, z0, k, steps, 1, eta))


def linear_path(z0: np.ndarray, z_end: np.ndarray, steps: int) -> np.ndarray:
    """The straight line from z0 to z_end in ``steps`` equal steps: (steps + 1, D)."""
    a = np.asarray(z0, dtype=np.float32)
    b = np.asarray(z_end, dtype=np.float32)
    w = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)[:, None]
    return (1 - w) * a[None] + w * b[None]


def flow_vs_linear(flows: Flows, z0: np.ndarray, k: int, steps: int = 20, direction: int = 1,
                   eta: float | None = None) -> tuple[Trajectory, np.ndarray]:
    """A flow path and the straight line between the same two end points (what the strip compares)."""
    tr = trajectory(flows, z0, k, steps, direction, eta)
    return tr, linear_path(tr.latents[0], tr.latents[-1], steps)
