"""Gradient-based directions (GradCtrl: Chen et al., "Exploring Gradient-based Multi-directional Controls in
GANs", ECCV 2022).

A small MLP classifier per attribute is trained on latents. The direction at z towards class c is the
gradient of the classifier's log-odds of c there, which points the same way as the gradient of log p(c|z)
but does not vanish once p(c|z) is near 1. To disentangle, the latent dimensions that are most salient for
the *other* attributes at z (the top-k of the summed absolute gradients of their logits) are masked out
before normalising. The result is a field: a unit direction that depends on z. A field is saved as its
classifiers' weights plus a JSON spec, so it reloads without running any code from the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core import limits
from latentlab.core.directions.base import Direction
from latentlab.core.directions.labels import LabeledLatents
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.safe_json import JSONFieldError, expect, field

log = logging.getLogger(__name__)

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU}
_MAX_HIDDEN = 4096


class LatentClassifier(nn.Module):
    """(B, D) latents -> (B, C) logits. Inputs are centred and divided by one global scale (not per
    dimension: that would blow up near-constant, collapsed dimensions and with them the gradient)."""

    center: Tensor  # buffers (register_buffer)
    scale: Tensor

    def __init__(self, latent_dim: int, n_classes: int, hidden: Sequence[int] = (64, 64), activation: str = "silu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if latent_dim < 1 or n_classes < 2 or any(not 1 <= int(h) <= _MAX_HIDDEN for h in hidden):
            raise ValueError(f"bad classifier shape: {latent_dim} -> {list(hidden)} -> {n_classes}")
        self.latent_dim, self.n_classes = int(latent_dim), int(n_classes)
        self.hidden, self.activation = [int(h) for h in hidden], activation
        self.register_buffer("center", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(()))
        layers: list[nn.Module] = []
        prev = latent_dim
        for h in self.hidden:
            layers += [nn.Linear(prev, h), ACTIVATIONS[activation]()]
            prev = h
        layers.append(nn.Linear(prev, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net((z - self.center) / self.scale)

    def spec(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "n_classes": self.n_classes, "hidden": self.hidden,
                "activation": self.activation}

    @staticmethod
    def shapes_for(latent_dim: int, n_classes: int, hidden: Sequence[int]) -> dict[str, tuple[int, ...]]:
        """The state_dict shapes a classifier of this spec has, computed without building it."""
        out: dict[str, tuple[int, ...]] = {"center": (latent_dim,), "scale": ()}
        prev = latent_dim
        for i, h in enumerate([*hidden, n_classes]):
            out[f"net.{2 * i}.weight"], out[f"net.{2 * i}.bias"] = (h, prev), (h,)
            prev = h
        return out

    @classmethod
    def from_spec(cls, spec: Any, state: dict[str, Tensor], where: str = "classifier") -> LatentClassifier:
        """Rebuild from a spec (from a file: every field checked) and weights, checking every tensor.

        The spec's sizes are compared with the tensors actually given before anything is built, so a spec that
        claims a huge network allocates nothing.
        """
        spec = expect(spec, "object", where)
        dim = field(spec, "latent_dim", "int", where, lo=1, hi=limits.MAX_LATENT_DIM)
        n_classes = field(spec, "n_classes", "int", where, lo=2, hi=limits.MAX_COUNT)
        hidden = field(spec, "hidden", "list", where, hi=16)
        hidden = [expect(h, "int", f"{where}.hidden[{i}]", lo=1, hi=_MAX_HIDDEN) for i, h in enumerate(hidden)]
        activation = field(spec, "activation", "string", where)
        if activation not in ACTIVATIONS:
            raise JSONFieldError(f"{where}.activation: must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        expected = cls.shapes_for(dim, n_classes, hidden)
        if set(state) != set(expected):
            raise ValueError(f"{where}: weights do not match its spec (missing {sorted(set(expected) - set(state))[:3]}, "
                             f"unexpected {sorted(set(state) - set(expected))[:3]})")
        for k, shape in expected.items():
            if tuple(state[k].shape) != shape:
                raise ValueError(f"{where}: tensor {k} has shape {tuple(state[k].shape)}, expected {shape}")
            if not state[k].is_floating_point() or not torch.isfinite(state[k]).all():
                raise ValueError(f"{where}: tensor {k} is not finite floating-point numbers")
        net = cls(dim, n_classes, hidden, activation)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return net.eval()


@dataclass
class AttributeClassifier:
    """A trained latent classifier for one attribute and its held-out accuracy."""

    attribute: str
    classes: tuple[str, ...]
    net: LatentClassifier
    accuracy: float = float("nan")

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.net(torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)), 1).numpy()

    def spec(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "classes": list(self.classes), "accuracy": self.accuracy,
                "net": self.net.spec()}


def train_classifier(labeled: LabeledLatents, hidden: Sequence[int] = (64, 64), steps: int = 400, lr: float = 3e-3,
                     weight_decay: float = 1e-4, batch_size: int = 256, seed: int = 0,
                     device: str | torch.device = "cpu", ctx: JobContext | None = None) -> AttributeClassifier:
    """Train a class-balanced MLP on ``labeled`` (20 % held out for the reported accuracy); returns it on the CPU."""
    ctx = ensure_context(ctx)
    if steps < 1:
        raise ValueError("training needs at least one step")
    gen = torch.Generator().manual_seed(int(seed))
    n = labeled.n
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, n // 5) if n >= 10 else 0
    val, tr = perm[:n_val], perm[n_val:]
    z = torch.as_tensor(labeled.z, dtype=torch.float32)
    y = torch.as_tensor(labeled.y)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG alone
        torch.manual_seed(int(seed))
        net = LatentClassifier(labeled.latent_dim, len(labeled.classes), hidden)
    with torch.no_grad():
        net.center.copy_(z[tr].mean(0))
        net.scale.fill_(float(z[tr].std(0).pow(2).mean().sqrt().clamp_min(1e-6)))
    counts = torch.bincount(y[tr], minlength=len(labeled.classes)).float()
    weight = (counts.sum() / (len(counts) * counts.clamp_min(1)))
    net.to(device)
    zt, yt, wt = z[tr].to(device), y[tr].to(device), weight.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    bs = min(batch_size, len(tr))
    for step in range(steps):
        if step % 20 == 0:
            ctx.check()
            ctx.progress(step / steps, f"{labeled.attribute}: step {step}/{steps}")
        idx = torch.randint(0, len(tr), (bs,), generator=gen).to(device)
        loss = F.cross_entropy(net(zt[idx]), yt[idx], weight=wt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net = net.to("cpu").eval()
    with torch.no_grad():
        check = val if n_val else tr
        acc = float((net(z[check]).argmax(1) == y[check]).float().mean())
    ctx.progress(1.0, f"{labeled.attribute}: accuracy {acc:.3f}")
    return AttributeClassifier(labeled.attribute, labeled.classes, net, acc)


class GradCtrlField:
    """Unit direction at z towards ``target_class`` of ``target``, with dimensions salient for ``others`` masked."""

    kind = "gradctrl"

    def __init__(self, target: AttributeClassifier, target_class: int, others: Sequence[AttributeClassifier] = (),
                 top_k: int = 1, step: float = 0.1):
        self.target, self.target_class, self.others = target, int(target_class), list(others)
        self.latent_dim = target.net.latent_dim
        self.top_k, self.step = int(top_k), float(step)
        if not 0 <= self.target_class < target.net.n_classes:
            raise ValueError(f"target class {target_class} out of range for {target.attribute}")
        if any(o.net.latent_dim != self.latent_dim for o in self.others):
            raise ValueError("all classifiers of a field must take latents of the same size")
        if self.others and not 0 <= self.top_k < self.latent_dim:
            raise ValueError(f"top_k must be in 0..{self.latent_dim - 1} (it masks that many dimensions per attribute)")
        if self.step <= 0:
            raise ValueError("the integration step must be positive")

    def raw_gradient(self, z: Tensor) -> Tensor:
        """Gradient of the target's log-odds for ``target_class`` (B, D), before masking."""
        z = z.detach().requires_grad_(True)
        logits = self.target.net(z)
        c = self.target_class
        rest = torch.cat([logits[:, :c], logits[:, c + 1:]], 1)
        score = logits[:, c] - torch.logsumexp(rest, 1)
        return torch.autograd.grad(score.sum(), z)[0]

    def mask(self, z: Tensor) -> Tensor:
        """(B, D) of 0/1: 0 on the top-k dimensions most salient for each other attribute at z."""
        keep = torch.ones_like(z)
        if not self.others or self.top_k == 0:
            return keep
        for other in self.others:
            zz = z.detach().requires_grad_(True)
            logits = other.net(zz)
            sal = torch.zeros_like(z)
            for k in range(logits.shape[1]):
                g = torch.autograd.grad(logits[:, k].sum(), zz, retain_graph=k + 1 < logits.shape[1])[0]
                sal += g.abs()
            top = sal.topk(self.top_k, dim=1).indices
            keep.scatter_(1, top, 0.0)
        return keep

    def __call__(self, z: np.ndarray) -> np.ndarray:
        zt = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)
        with torch.enable_grad():
            g = self.raw_gradient(zt) * self.mask(zt)
        norm = g.norm(dim=1, keepdim=True)
        # Where everything informative is masked (or the classifier is flat) there is no direction: stand still.
        out = torch.where(norm > 1e-12, g / norm.clamp_min(1e-12), torch.zeros_like(g))
        return out.numpy().astype(np.float32)

    # --- saving -------------------------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "target": self.target.spec(), "target_class": self.target_class,
                "others": [o.spec() for o in self.others], "top_k": self.top_k, "step": self.step}

    def tensors(self) -> dict[str, Tensor]:
        out = {f"target.{k}": v for k, v in self.target.net.state_dict().items()}
        for i, o in enumerate(self.others):
            out.update({f"other{i}.{k}": v for k, v in o.net.state_dict().items()})
        return out

    @classmethod
    def from_spec(cls, spec: Any, tensors: dict[str, Tensor]) -> GradCtrlField:
        """Rebuild from a spec read from a file (every field type- and range-checked) and the file's tensors."""
        def clf(s: Any, prefix: str, where: str) -> AttributeClassifier:
            s = expect(s, "object", where)
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            net = LatentClassifier.from_spec(field(s, "net", "object", where), state, f"{where}.net")
            classes = field(s, "classes", "list", where, lo=net.n_classes, hi=net.n_classes)
            acc = field(s, "accuracy", "number", where, default=None, optional=True)
            return AttributeClassifier(field(s, "attribute", "string", where, hi=1000),
                                       tuple(expect(c, "string", f"{where}.classes[{i}]", hi=1000)
                                             for i, c in enumerate(classes)),
                                       net, float("nan") if acc is None else float(acc))

        spec = expect(spec, "object", "field")
        target = clf(field(spec, "target", "object", "field"), "target.", "field.target")
        others = [clf(s, f"other{i}.", f"field.others[{i}]")
                  for i, s in enumerate(field(spec, "others", "list", "field", default=[], hi=limits.MAX_COUNT))]
        return cls(target, field(spec, "target_class", "int", "field", lo=0, hi=target.net.n_classes - 1), others,
                   field(spec, "top_k", "int", "field", default=0, lo=0, hi=limits.MAX_LATENT_DIM),
                   field(spec, "step", "number", "field", default=0.1, lo=1e-9, hi=1e3))


def gradctrl_directions(target: LabeledLatents, others: Sequence[LabeledLatents] = (), top_k: int | None = None,
                        hidden: Sequence[int] = (64, 64), steps: int = 400, step: float = 0.1, seed: int = 0,
                        device: str | torch.device = "cpu", ctx: JobContext | None = None) -> list[Direction]:
    """GradCtrl fields for ``target``: one towards the positive class of a binary attribute, else one per class.

    ``others``: attributes whose salient dimensions are masked (default ``top_k``: a tenth of the latents, at
    least one).
    """
    ctx = ensure_context(ctx)
    d = target.latent_dim
    if any(o.latent_dim != d for o in others):
        raise ValueError("target and masked attributes must come from latents of the same size")
    k = max(1, d // 10) if top_k is None else int(top_k)
    parts = 1 + len(others)
    clf = train_classifier(target, hidden, steps, seed=seed, device=device, ctx=ctx.sub(0.0, 1.0 / parts))
    other_clfs = [train_classifier(o, hidden, steps, seed=seed + 1 + i, device=device,
                                   ctx=ctx.sub((i + 1) / parts, (i + 2) / parts)) for i, o in enumerate(others)]
    classes = [1] if len(target.classes) == 2 else list(range(len(target.classes)))
    out = []
    for c in classes:
        name = target.attribute if len(classes) == 1 else f"{target.attribute}={target.classes[c]}"
        params = {**target.params, "attribute": target.attribute, "towards": target.classes[c],
                  "classes": list(target.classes), "accuracy": clf.accuracy, "masked": [o.attribute for o in others],
                  "masked_accuracy": [o.accuracy for o in other_clfs], "top_k": k if others else 0, "steps": steps,
                  "hidden": list(hidden), "n": target.n, "source": target.source, "seed": seed}
        out.append(Direction(name, "gradctrl", params, field=GradCtrlField(clf, c, other_clfs, k if others else 0, step)))
    return out
