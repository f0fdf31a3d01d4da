"""A nonlinear, attribute-conditioned path (after AdaTrans: Huang et al., "Adaptive Nonlinear Latent
Transformation for Conditional Face Editing", ICCV 2023).

Instead of one straight direction, a small network predicts each step of the edit from where the latent is now
and which way the attribute should go: z_{k+1} = z_k + g(z_k, s), s = +1 towards the attribute's positive class
and -1 away from it, for K steps. It is trained on the user's labels (ground-truth factors, a CSV or tagged
samples) through latent classifiers, with four terms:

- the target attribute's classifier must say the target class at the end of the path (cross-entropy);
- the other attributes' classifiers must say what they said at the start (their logits kept: disentanglement);
- the path stays in distribution: the prior's negative log-density (||z||² / 2 for the normal prior of these
  models; AdaTrans fits a density model, latentlab's models carry their prior) may not rise above the start's;
- short, even steps (the mean squared step length).

The result is a direction *field*: at z, the unit direction of g(z, +1), so the Directions dock makes it a slider
(integrated by path length, like GradCtrl's fields), the traversal grid steps along it, the direction × factor
evaluation measures how purely it moves its factor, and it is saved as weights plus a JSON spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core import limits
from latentlab.core.directions.base import Direction
from latentlab.core.directions.gradctrl import AttributeClassifier, train_classifier
from latentlab.core.directions.labels import LabeledLatents
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.safe_json import expect, field

WEIGHTS = {"attribute": 1.0, "keep": 1.0, "density": 0.5, "step": 0.05}
_MAX_HIDDEN = 4096


class PathNet(nn.Module):
    """(z, s) -> the next step of the edit, (B, D) + (B, 1) -> (B, D); inputs scaled like the classifiers'."""

    center: Tensor
    scale: Tensor  # the latents' spread: inputs are divided by it
    step_scale: Tensor  # and outputs multiplied by this (a K-th of the spread: K steps cross the latent cloud)

    def __init__(self, latent_dim: int, hidden: int = 64):
        super().__init__()
        if latent_dim < 1 or not 1 <= hidden <= _MAX_HIDDEN:
            raise ValueError(f"bad path network shape: {latent_dim} -> {hidden}")
        self.latent_dim, self.hidden = int(latent_dim), int(hidden)
        self.register_buffer("center", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("step_scale", torch.ones(()))
        self.net = nn.Sequential(nn.Linear(latent_dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, latent_dim))

    def forward(self, z: Tensor, s: Tensor) -> Tensor:
        return self.net(torch.cat([(z - self.center) / self.scale, s], dim=1)) * self.step_scale

    def spec(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "hidden": self.hidden}

    @classmethod
    def from_spec(cls, spec: Any, state: dict[str, Tensor]) -> PathNet:
        spec = expect(spec, "object", "path")
        net = cls(field(spec, "latent_dim", "int", "path", lo=1, hi=limits.MAX_LATENT_DIM),
                  field(spec, "hidden", "int", "path", lo=1, hi=_MAX_HIDDEN))
        want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        if set(state) != set(want) or any(tuple(state[k].shape) != s for k, s in want.items()):
            raise ValueError("path: weights do not match its spec")
        if not all(v.is_floating_point() and torch.isfinite(v).all() for v in state.values()):
            raise ValueError("path: weights are not finite floating-point numbers")
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return net.eval()


class AdaTransField:
    """The unit direction of the learned edit step towards the positive class (see the module docstring)."""

    kind = "adatrans"

    def __init__(self, path: PathNet, step: float = 0.1):
        self.path, self.step = path, float(step)
        self.latent_dim = path.latent_dim
        if self.step <= 0:
            raise ValueError("the integration step must be positive")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        zt = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)
        with torch.no_grad():
            g = self.path(zt, torch.ones(len(zt), 1))
        norm = g.norm(dim=1, keepdim=True)
        return torch.where(norm > 1e-12, g / norm.clamp_min(1e-12), torch.zeros_like(g)).numpy().astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "path": self.path.spec(), "step": self.step}

    def tensors(self) -> dict[str, Tensor]:
        return {f"path.{k}": v for k, v in self.path.state_dict().items()}

    @classmethod
    def from_spec(cls, spec: Any, tensors: dict[str, Tensor]) -> AdaTransField:
        spec = expect(spec, "object", "field")
        state = {k[len("path."):]: v for k, v in tensors.items() if k.startswith("path.")}
        return cls(PathNet.from_spec(field(spec, "path", "object", "field"), state),
                   field(spec, "step", "number", "field", default=0.1, lo=1e-9, hi=1e3))


def _rollout(path: PathNet, z0: Tensor, s: Tensor, n_steps: int) -> tuple[Tensor, Tensor]:
    z, moves = z0, []
    for _ in range(n_steps):
        dz = path(z, s)
        moves.append(dz)
        z = z + dz
    return z, torch.stack(moves)


def _losses(path: PathNet, z0: Tensor, s: Tensor, target: AttributeClassifier, others: Sequence[AttributeClassifier],
            n_steps: int, density: bool = True) -> dict[str, Tensor]:
    z, moves = _rollout(path, z0, s, n_steps)
    want = (s[:, 0] > 0).long()  # +1: the positive class (index 1), -1: the negative one (index 0)
    out = {"attribute": F.cross_entropy(target.net(z), want)}
    out["keep"] = sum((F.mse_loss(o.net(z), o.net(z0).detach()) for o in others), z.new_zeros(()))
    rise = F.relu(0.5 * z.square().sum(1) - 0.5 * z0.square().sum(1)).mean() / z.shape[1]
    out["density"] = rise if density else rise.detach() * 0.0
    out["step"] = moves.square().sum(2).mean() / z.shape[1]
    return out


def train_path(target: AttributeClassifier, others: Sequence[AttributeClassifier], z: np.ndarray, n_steps: int = 8,
               steps: int = 400, hidden: int = 64, lr: float = 3e-3, batch_size: int = 256, seed: int = 0,
               density: bool = True, ctx: JobContext | None = None) -> tuple[PathNet, dict[str, float]]:
    """Fit the step network on latents ``z`` with the classifiers frozen; returns it and its final loss terms."""
    ctx = ensure_context(ctx)
    gen = torch.Generator().manual_seed(int(seed))
    zt = torch.as_tensor(z, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        path = PathNet(zt.shape[1], hidden)
    with torch.no_grad():
        path.center.copy_(zt.mean(0))
        spread = float(zt.std(0).pow(2).mean().sqrt().clamp_min(1e-6))
        path.scale.fill_(spread)
        path.step_scale.fill_(spread / n_steps)
    for clf in (target, *others):
        clf.net.requires_grad_(False)
    opt = torch.optim.Adam(path.parameters(), lr=lr)
    last: dict[str, float] = {}
    for step in range(steps):
        if step % 20 == 0:
            ctx.check()
            ctx.progress(step / steps, f"{target.attribute} path: step {step}/{steps}")
        idx = torch.randint(0, len(zt), (min(batch_size, len(zt)),), generator=gen)
        s = (torch.randint(0, 2, (len(idx), 1), generator=gen) * 2 - 1).float()
        terms = _losses(path, zt[idx], s, target, others, n_steps, density)
        loss = sum(WEIGHTS[k] * v for k, v in terms.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        last = {k: float(v.detach()) for k, v in terms.items()}
    ctx.progress(1.0, f"{target.attribute} path trained")
    return path.eval(), last


def adatrans_directions(target: LabeledLatents, others: Sequence[LabeledLatents] = (), steps: int = 400,
                        n_steps: int = 8, seed: int = 0, density: bool = True,
                        ctx: JobContext | None = None) -> list[Direction]:
    """One learned nonlinear path for a binary ``target`` (towards its positive class), keeping ``others``."""
    if len(target.classes) != 2:
        raise ValueError(f"{target.attribute}: a learned path edits a binary attribute; it has "
                         f"{len(target.classes)} classes (use --mode binary or a threshold)")
    ctx = ensure_context(ctx)
    parts = 2 + len(others)
    clf = train_classifier(target, steps=steps, seed=seed, ctx=ctx.sub(0.0, 1 / parts))
    kept = [train_classifier(o, steps=steps, seed=seed + 1 + i, ctx=ctx.sub((i + 1) / parts, (i + 2) / parts))
            for i, o in enumerate(others)]
    path, terms = train_path(clf, kept, target.z, n_steps=n_steps, steps=steps, seed=seed, density=density,
                             ctx=ctx.sub((parts - 1) / parts, 1.0))
    params = {**target.params, "attribute": target.attribute, "towards": target.classes[1],
              "classes": list(target.classes), "accuracy": clf.accuracy, "kept": [o.attribute for o in others],
              "path_steps": n_steps, "steps": steps, "n": target.n, "source": target.source, "seed": seed,
              "final_losses": terms, "density": "the normal prior" if density else "none (the prior is not normal)"}
    return [Direction(target.attribute, "adatrans", params, field=AdaTransField(path))]
