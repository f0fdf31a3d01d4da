"""Unsupervised directions: SeFa, GANSpace-style PCA, PCA of encoded latents, and local Jacobian directions.

- SeFa (Shen & Zhou 2021): the latent directions the decoder's first (linear) layer stretches most are the
  top eigenvectors of W^T W; closed form, no sampling. For a style generator (StyleGAN2, SWAGAN, StyleGAN3)
  viewed in W, W is every synthesis layer's style affine stacked, as in the paper's StyleGAN experiments.
- GANSpace (Haerkoenen et al. 2020): principal components of the first layer's activations over prior
  samples, mapped back to latent directions by least squares (the BigGAN variant of the paper).
- PCA of the posterior means of dataset samples: the axes along which the data spread in latent space.
- Jacobian: at one latent z, the right singular vectors of d decode / dz are the directions that change the
  image most per unit step there, in decreasing order (local, so they are recomputed when z moves).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from latentlab.core.data import FactorDataset
from latentlab.core.directions.base import Direction, orthogonalised, sign_canonical
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import LatentModel, device_of

log = logging.getLogger(__name__)

_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.SiLU, nn.GELU, nn.ELU, nn.Sigmoid, nn.Softplus)


def first_layer(model: Any) -> nn.Linear | None:
    """The linear layer latents enter first (``decoder.first_layer`` for the zoo's autoencoders,
    ``generator.first_layer`` for its GANs), if the model has one."""
    for owner in (getattr(model, "decoder", None), getattr(model, "generator", None), model):
        layer = getattr(owner, "first_layer", None) if owner is not None else None
        if isinstance(layer, nn.Linear):
            return layer
    return None


def _activation_after(model: Any, layer: nn.Module) -> nn.Module | None:
    if not isinstance(model, nn.Module):
        return None
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            kids = list(m)
            for i, child in enumerate(kids[:-1]):
                if child is layer and isinstance(kids[i + 1], _ACTIVATIONS):
                    return kids[i + 1]
    return None


def style_weight(model: Any) -> np.ndarray | None:
    """For a style generator viewed in W: every layer's style affine stacked, (total style channels, w_dim).

    Read off the affines by what they compute (style(e_i) - style(0)), so any generator that implements
    ``style_vectors`` has one, whatever its layers are called or however their weights are scaled."""
    if getattr(model, "latent_space", None) != "w" or not hasattr(model, "style_vectors"):
        return None
    ref = next(model.parameters())
    d = int(model.w_dim)
    basis = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(ref.device, ref.dtype)
    with torch.no_grad():
        styles = model.style_vectors(basis.unsqueeze(1).expand(-1, model.num_ws, -1))
    stacked = torch.cat([s.reshape(d + 1, -1) for s in styles.values()], dim=1).to("cpu", torch.float64)
    return (stacked[1:] - stacked[0]).T.numpy()


def first_weight(model: Any, what: str) -> np.ndarray:
    """The linear map latents enter through, (outputs, latent_dim): the first layer's weight, or a style
    generator's stacked style affines in W."""
    stacked = style_weight(model)
    if stacked is not None:
        return stacked
    if hasattr(model, "style_vectors") and getattr(model, "latent_space", None) in ("z", "w+", "s"):
        raise ValueError(f"{what} on a style generator works in W, where the style affines are linear in the "
                         f"latent: switch the latent space to w")
    return _require_first_layer(model, what).weight.detach().to("cpu", torch.float64).numpy()


def _require_first_layer(model: Any, what: str) -> nn.Linear:
    layer = first_layer(model)
    if layer is None:
        raise ValueError(f"{what} needs a decoder whose first layer is linear (decoder.first_layer); "
                         f"{model.info.name} exposes none. Try --method jacobian or pca instead.")
    if layer.in_features != model.info.latent_dim:
        raise ValueError(f"the first layer takes {layer.in_features} inputs but the model has "
                         f"{model.info.latent_dim} latents")
    return layer


def _top_k(k: int | None, d: int) -> int:
    k = d if k is None else int(k)
    if not 1 <= k <= d:
        raise ValueError(f"k must be between 1 and the latent size {d}, got {k}")
    return k


def sefa(model: LatentModel, k: int | None = None, orthogonal: bool = False, seed: int = 0,
         ctx: JobContext | None = None) -> list[Direction]:
    """The top-``k`` eigenvectors of W^T W of the first decoder layer, strongest first."""
    ctx = ensure_context(ctx)
    w = first_weight(model, "SeFa")
    vals, vecs = np.linalg.eigh(w.T @ w)
    order = np.argsort(vals)[::-1][: _top_k(k, w.shape[1])]
    total = float(vals.sum())
    out = [Direction(f"sefa {i}", "sefa", {"eigenvalue": float(vals[j]), "share": float(vals[j] / total) if total else 0.0,
                                           "rank": i}, vector=sign_canonical(vecs[:, j]))
           for i, j in enumerate(order)]
    ctx.progress(1.0, f"{len(out)} SeFa directions")
    return orthogonalised(out) if orthogonal else out


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, F) -> (components (k, F), coordinates (n, k), explained-variance ratios (k,))."""
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s**2
    k = min(k, len(s))
    comps = np.stack([sign_canonical(v) for v in vt[:k]])
    ratio = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    return comps, xc @ comps.T, ratio


def ganspace(model: LatentModel, k: int = 10, n: int = 5000, orthogonal: bool = False, seed: int = 0,
             ctx: JobContext | None = None, batch_size: int = 512) -> list[Direction]:
    """PCA of prior samples pushed through the decoder's first layer (and its activation).

    Without a linear first layer the decoded images themselves are the features (the only layer every
    model exposes; PCA in the latent space of an isotropic prior would be arbitrary).
    """
    ctx = ensure_context(ctx)
    d = model.info.latent_dim
    k = _top_k(k, d)
    if n < k + 1:
        raise ValueError(f"PCA of {k} components needs more than {k} samples, got n={n}")
    layer = first_layer(model)
    if layer is not None and layer.in_features == d:
        act = _activation_after(model, layer)
        space = "decoder.first_layer" + (f"+{type(act).__name__}" if act is not None else "")

        def features(z: torch.Tensor) -> torch.Tensor:
            h = layer(z)
            return act(h) if act is not None else h
    else:
        space = "decoded images"

        def features(z: torch.Tensor) -> torch.Tensor:
            return model.decode(z).flatten(1)

    gen = torch.Generator().manual_seed(int(seed))
    zs, feats = [], []
    with torch.inference_mode():
        for a in range(0, n, batch_size):
            ctx.check()
            z = model.sample_prior(min(batch_size, n - a), generator=gen)
            zs.append(z.float().cpu().numpy())
            feats.append(features(z.to(device_of(model))).float().cpu().numpy())
            ctx.progress(0.8 * min(1.0, (a + batch_size) / n), f"features of {min(n, a + batch_size)}/{n} samples")
    z_all = np.concatenate(zs).astype(np.float64)
    _, coords, ratio = _pca(np.concatenate(feats).astype(np.float64), k)
    # Latent basis: the least-squares map from PCA coordinates back to latents (GANSpace, BigGAN variant).
    basis, *_ = np.linalg.lstsq(coords, z_all - z_all.mean(0), rcond=None)
    out = []
    for i in range(len(ratio)):
        if np.linalg.norm(basis[i]) < 1e-12:
            continue  # a component no latent change produces (possible with dead ReLUs)
        out.append(Direction(f"pca {i}", "ganspace", {"explained_variance": float(ratio[i]), "rank": i,
                                                      "features": space, "n": n, "seed": seed}, vector=basis[i]))
    ctx.progress(1.0, f"{len(out)} GANSpace directions")
    return orthogonalised(out) if orthogonal else out


def encoded_pca(model: LatentModel, dataset: FactorDataset, k: int = 10, n: int = 5000, seed: int = 0,
                ctx: JobContext | None = None, latents: np.ndarray | None = None) -> list[Direction]:
    """Principal axes of the posterior means of ``n`` dataset samples (already orthonormal)."""
    ctx = ensure_context(ctx)
    k = _top_k(k, model.info.latent_dim)
    if latents is None:
        from latentlab.core.encode import encode_dataset

        latents = encode_dataset(model, dataset, n, seed=seed, ctx=ctx.sub(0.0, 0.9)).mean
    if len(latents) < k + 1:
        raise ValueError(f"PCA of {k} components needs more than {k} samples, got {len(latents)}")
    comps, _, ratio = _pca(np.asarray(latents, dtype=np.float64), k)
    ctx.progress(1.0, f"{len(comps)} principal axes")
    return [Direction(f"pc {i}", "encoded-pca", {"explained_variance": float(ratio[i]), "rank": i, "n": len(latents),
                                                 "dataset": dataset.name, "seed": seed}, vector=comps[i])
            for i in range(len(comps))]


def decoder_jacobian(model: LatentModel, z: np.ndarray) -> np.ndarray:
    """(P, D) Jacobian of the flattened decoded image at one latent ``z``."""
    dev = device_of(model)
    d = int(np.asarray(z).size)
    z0 = torch.as_tensor(np.asarray(z, dtype=np.float32).reshape(1, d), device=dev)
    try:
        # Forward-mode columns J e_j by the double-backward trick: two backward passes over a batch of D
        # copies, instead of one pass per pixel (reverse mode) or torch.func's slow first-use set-up.
        with torch.enable_grad():
            zz = z0.repeat(d, 1).requires_grad_(True)
            y = model.decode(zz).flatten(1)
            u = torch.zeros_like(y, requires_grad=True)
            (g,) = torch.autograd.grad(y, zz, grad_outputs=u, create_graph=True)
            (cols,) = torch.autograd.grad(g, u, grad_outputs=torch.eye(d, device=dev, dtype=g.dtype))
        jac = cols.T
    except RuntimeError as exc:  # a decoder that is not twice differentiable
        log.info("double-backward Jacobian failed (%s); using forward mode", exc)

        def f(v: torch.Tensor) -> torch.Tensor:
            return model.decode(v.unsqueeze(0)).flatten()

        jac = torch.func.jacfwd(f)(z0[0])
    return jac.detach().to("cpu", torch.float64).numpy()


def jacobian_directions(model: LatentModel, z: np.ndarray | None = None, k: int | None = None, seed: int = 0,
                        ctx: JobContext | None = None) -> list[Direction]:
    """Directions of largest image change at ``z`` (default: the origin), strongest first."""
    ctx = ensure_context(ctx)
    d = model.info.latent_dim
    z = np.zeros(d, np.float32) if z is None else np.asarray(z, dtype=np.float32).reshape(-1)
    if z.shape[0] != d:
        raise ValueError(f"the model has {d} latents; got a point with {z.shape[0]}")
    ctx.check()
    jac = decoder_jacobian(model, z)
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    k = _top_k(k, d)
    ctx.progress(1.0, "Jacobian directions")
    return [Direction(f"jacobian {i}", "jacobian", {"singular_value": float(s[i]), "rank": i, "at": z.tolist()},
                      vector=sign_canonical(vt[i])) for i in range(k)]
