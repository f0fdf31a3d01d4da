"""GAN inversion: find the latent whose decoded image best matches a real image, by optimisation.

For models without an encoder (GANs) this is how a picture gets into the latent space. Per image, the best
of ``restarts`` prior samples (plus the latent distribution's centre, and any given initial latent) is
refined with Adam (cosine-decayed step size) on the latent only; the model's weights never receive gradients. Latents are kept in the
prior's support (clamped for uniform priors and codebooks); quantized models end on their codebook grid,
refined by a coordinate search over code values.

The loss, ``pixel+lap`` by default, is the pixel MSE plus a Laplacian-pyramid L1 (Ling & Okino 2006; used
for latent optimisation by GLO, Bojanowski et al. 2018). A learned perceptual loss (LPIPS) would need
downloaded network weights; MS-SSIM degenerates on the flat black backgrounds of the factor datasets and
has too few scales at 64x64. The pyramid weighs edges at every scale like a perceptual loss does, and its
blurred coarse levels still give a gradient when a reconstructed sprite does not yet overlap the target,
where pixel MSE is flat.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core import limits
from latentlab.core.choices import INVERSION_LOSSES
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.limits import check_float, check_int, check_seed
from latentlab.core.model import LatentModel, Quantized, device_of

LOSSES = INVERSION_LOSSES


@dataclass
class InversionConfig:
    steps: int = 300
    lr: float = 0.05
    loss: str = "pixel+lap"
    restarts: int = 16  # prior samples tried per image before optimising the best one
    prior_weight: float = 1e-3  # pull towards the latent distribution's centre (normal priors, StyleGAN w)
    seed: int = 0
    batch_size: int = 16  # images optimised together (each has its own latent)
    preview_every: int = 25  # steps between reconstructions handed to ctx.partial (0: never)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        check_int(self.steps, "steps", 0, limits.MAX_STEPS)
        check_int(self.restarts, "restarts", 1, limits.MAX_COUNT)
        check_int(self.batch_size, "batch_size", 1, limits.MAX_BATCH)
        check_int(self.preview_every, "preview_every", 0, limits.MAX_STEPS)
        check_float(self.lr, "lr", 0.0, 10.0, lo_open=True)
        check_float(self.prior_weight, "prior_weight", 0.0, 1e6)
        check_seed(self.seed)


@dataclass
class InversionResult:
    latents: np.ndarray  # (n, D)
    reconstructions: np.ndarray  # (n, C, H, W) in [0, 1]
    errors: np.ndarray  # (n,) pixel MSE of the reconstruction
    loss_history: np.ndarray  # (steps + 1, n): the optimised loss per image, before step 1 and after each step
    start_errors: np.ndarray | None = None  # (n,) pixel MSE at the starting latents (the best restart)
    config: InversionConfig = field(default_factory=InversionConfig)
    device: str = "cpu"
    seconds: float = 0.0

    @property
    def psnr(self) -> np.ndarray:
        return 10 * np.log10(1.0 / np.maximum(self.errors, 1e-12))

    def to_dict(self) -> dict[str, Any]:
        return {"latents": self.latents.tolist(), "errors": self.errors.tolist(), "psnr": self.psnr.tolist(),
                "start_errors": None if self.start_errors is None else self.start_errors.tolist(),
                "loss_history": self.loss_history.tolist(), "config": asdict(self.config), "device": self.device,
                "seconds": self.seconds}


# --- losses -------------------------------------------------------------------------------------------------

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: Tensor) -> Tensor:
    c = x.shape[1]
    k = _BINOMIAL.to(x.device, x.dtype)
    x = F.pad(x, [2, 2, 2, 2], mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(x: Tensor, levels: int | None = None) -> list[Tensor]:
    """Band-pass levels (finest first) and the low-pass residual; the coarsest level is at least 4 px."""
    if levels is None:
        levels = max(1, int(math.log2(min(x.shape[-2:]) / 4)))
    bands, g = [], x
    for _ in range(levels):
        low = _blur(g)
        down = low[:, :, ::2, ::2]
        up = F.interpolate(down, size=g.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(g - up)
        g = down
    bands.append(g)
    return bands


def image_loss(x: Tensor, target: Tensor, kind: str = "pixel+lap") -> Tensor:
    """Per-image reconstruction loss, shape (B,)."""
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    if "pixel" in kind:
        total = total + (x - target).pow(2).flatten(1).mean(1)
    if "lap" in kind:
        # Mean absolute difference per level: equal weight per level, as GLO's 4^j-weighted sums of |.|.
        for a, b in zip(laplacian_pyramid(x), laplacian_pyramid(target), strict=True):
            total = total + (a - b).abs().flatten(1).mean(1)
    return total


# --- the latent's constraints ------------------------------------------------------------------------------

def _project(model: LatentModel, z: Tensor) -> Tensor:
    clamp = getattr(model, "clamp_latent", None)
    if callable(clamp):
        return clamp(z)
    if isinstance(model, Quantized):
        lo = torch.stack([cb.min() for cb in model.codebooks]).to(z)
        hi = torch.stack([cb.max() for cb in model.codebooks]).to(z)
        return torch.maximum(torch.minimum(z, hi), lo)
    if model.info.prior == "uniform":
        return z.clamp(-1.0, 1.0)
    return z


def _centre(model: LatentModel, d: int, device: torch.device) -> Tensor:
    mean = getattr(model, "latent_mean", None)
    if isinstance(mean, Tensor) and mean.shape == (d,):
        return mean.detach().to(device)
    return torch.zeros(d, device=device)


class _CodebookModel(LatentModel, Quantized, Protocol):
    """A model whose latents live on per-dimension codebooks."""


def _snap(model: _CodebookModel, z: Tensor) -> Tensor:
    snap = getattr(model, "snap", None)
    if callable(snap):
        return snap(z)
    books = [cb.to(z) for cb in model.codebooks]
    return torch.stack([books[j][(z[:, j:j + 1] - books[j][None]).abs().argmin(1)] for j in range(z.shape[1])], 1)


@torch.no_grad()
def _codebook_search(model: _CodebookModel, z: Tensor, target: Tensor, kind: str, sweeps: int = 2) -> Tensor:
    """Coordinate descent over code values: each dimension in turn takes its best value, all else fixed."""
    z = _snap(model, z)
    best = image_loss(model.decode(z), target, kind)
    for _ in range(sweeps):
        changed = False
        for j, book in enumerate(model.codebooks):
            for v in book.to(z):
                trial = z.clone()
                trial[:, j] = v
                loss = image_loss(model.decode(trial), target, kind)
                better = loss < best - 1e-9
                if better.any():
                    z[better] = trial[better]
                    best = torch.where(better, loss, best)
                    changed = True
        if not changed:
            break
    return z


# --- inversion ------------------------------------------------------------------------------------------------

def _initial(model: LatentModel, target: Tensor, cfg: InversionConfig, init: Tensor | None,
             gen: torch.Generator) -> Tensor:
    """Per image, the best of the candidate starting latents."""
    dev = target.device
    cands = torch.cat([model.sample_prior(cfg.restarts, gen).to(dev).float(),
                       _centre(model, model.info.latent_dim, dev)[None]])
    cands = _project(model, cands)
    with torch.no_grad():
        imgs = model.decode(cands)  # (K, C, H, W)
        losses = torch.stack([image_loss(imgs, t[None].expand_as(imgs), cfg.loss) for t in target])  # (B, K)
    start = cands[losses.argmin(1)].clone()
    if init is not None:
        with torch.no_grad():
            given = _project(model, init.to(dev).float())
            better = image_loss(model.decode(given), target, cfg.loss) <= losses.min(1).values
        start[better] = given[better]
    return start


def invert(model: LatentModel, images: np.ndarray | Tensor, config: InversionConfig | None = None,
           ctx: JobContext | None = None, init: np.ndarray | Tensor | None = None) -> InversionResult:
    """Latents for ``images`` ((n, C, H, W) in [0, 1], the model's shape) by optimisation; cancellable.

    ``ctx.partial`` receives ``{"step", "batch", "loss", "losses", "indices"}`` after every step (for a
    loss plot) and, every ``preview_every`` steps, also ``"reconstructions"`` as an (b, C, H, W) array.
    """
    cfg = config or InversionConfig()
    ctx = ensure_context(ctx)
    dev = device_of(model)
    x_all = _as_images(model, images)
    init_t = _as_init(model, init, len(x_all))
    was_training = bool(getattr(model, "training", False))
    if was_training:
        cast(nn.Module, model).eval()  # BatchNorm statistics must not move while we search
    gen = torch.Generator().manual_seed(cfg.seed)
    n, t0 = len(x_all), time.monotonic()
    latents, recons, history, starts = [], [], [], []
    n_batches = math.ceil(n / cfg.batch_size)
    try:
        for b, a in enumerate(range(0, n, cfg.batch_size)):
            target = x_all[a: a + cfg.batch_size].to(dev)
            batch = _Batch(b, list(range(a, a + len(target))), target, n, n_batches)
            z0 = _initial(model, target, cfg, None if init_t is None else init_t[a: a + len(target)], gen)
            starts.append(_pixel_errors(model, z0, target))
            z, hist = _optimise(model, batch, z0, cfg, ctx)
            final, recon = _final_latent(model, z, target, cfg)
            latents.append(final.cpu().numpy())
            recons.append(recon.cpu().numpy())
            history.append(np.stack(hist))
    finally:
        if was_training:
            cast(nn.Module, model).train()  # only an nn.Module has a training flag
    rec = np.concatenate(recons)
    errors = ((rec - x_all.numpy()) ** 2).reshape(n, -1).mean(1)
    ctx.progress(1.0, "inversion done")
    return InversionResult(np.concatenate(latents).astype(np.float32), rec, errors.astype(np.float64),
                           np.concatenate(history, axis=1), np.concatenate(starts).astype(np.float64), cfg, str(dev),
                           round(time.monotonic() - t0, 3))


def _as_images(model: LatentModel, images: np.ndarray | Tensor) -> Tensor:
    """The images as a float (n, C, H, W) tensor; refused unless they have the model's image shape."""
    x_all = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images, dtype=torch.float32)
    if x_all.ndim == 3:
        x_all = x_all[None]
    if tuple(x_all.shape[1:]) != tuple(model.info.image_shape):
        raise ValueError(f"images have shape {tuple(x_all.shape[1:])}, the model makes {tuple(model.info.image_shape)}"
                         " (load them with latentlab.core.images.load_images to fit them)")
    return x_all


def _as_init(model: LatentModel, init: np.ndarray | Tensor | None, n: int) -> Tensor | None:
    """The given initial latents as a float (n, D) tensor, or None."""
    init_t = None if init is None else torch.as_tensor(np.asarray(init), dtype=torch.float32)
    if init_t is not None and init_t.shape != (n, model.info.latent_dim):
        raise ValueError(f"init must have shape {(n, model.info.latent_dim)}, got {tuple(init_t.shape)}")
    return init_t


@dataclass
class _Batch:
    """One batch of images being inverted, and where it stands in the whole job (for the progress reports)."""

    number: int
    indices: list[int]
    target: Tensor
    n: int  # images in the job
    n_batches: int


@torch.no_grad()
def _pixel_errors(model: LatentModel, z: Tensor, target: Tensor) -> np.ndarray:
    """Per image, the pixel MSE of the decoded ``z``."""
    return (model.decode(z).float() - target).pow(2).flatten(1).mean(1).cpu().numpy()


def _optimise(model: LatentModel, batch: _Batch, z0: Tensor, cfg: InversionConfig,
              ctx: JobContext) -> tuple[Tensor, list[np.ndarray]]:
    """Adam on the batch's latents from ``z0``; returns them and the per-image loss before and after each step."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=cfg.lr)
    centre = _centre(model, z.shape[1], batch.target.device)
    hist = []
    for step in range(cfg.steps + 1):
        ctx.check()
        recon, per_image, grad = _loss_and_grad(model, z, batch.target, centre, cfg, step < cfg.steps)
        hist.append(per_image.detach().cpu().numpy())
        _report_step(ctx, cfg, batch, step, hist[-1], recon)
        if step == cfg.steps:
            break
        _descend(model, opt, z, grad, cfg, step)
    return z.detach(), hist


def _loss_and_grad(model: LatentModel, z: Tensor, target: Tensor, centre: Tensor, cfg: InversionConfig,
                   want_grad: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """The reconstruction, its per-image loss and (when ``want_grad``) the loss's gradient in ``z``."""
    grad = None
    with torch.enable_grad():
        recon = model.decode(z)
        per_image = image_loss(recon, target, cfg.loss)
        loss = per_image.sum()
        if cfg.prior_weight and model.info.prior == "normal":
            loss = loss + cfg.prior_weight * (z - centre).pow(2).mean(1).sum()
        if want_grad:
            (grad,) = torch.autograd.grad(loss, z)  # the model's weights get no gradient
    return recon, per_image, grad


def _report_step(ctx: JobContext, cfg: InversionConfig, batch: _Batch, step: int, losses: np.ndarray,
                 recon: Tensor) -> None:
    idx = batch.indices
    report: dict[str, Any] = {"step": step, "batch": batch.number, "loss": float(losses.mean()),
                              "losses": losses.tolist(), "indices": idx}
    if cfg.preview_every and (step % cfg.preview_every == 0 or step == cfg.steps):
        report["reconstructions"] = recon.detach().float().cpu().numpy()
    ctx.partial(report)
    ctx.progress((batch.number * cfg.steps + step) / max(1, batch.n_batches * cfg.steps),
                 f"image {idx[0] + 1}-{idx[-1] + 1}/{batch.n} step {step}/{cfg.steps} loss {report['loss']:.4g}")


def _descend(model: LatentModel, opt: torch.optim.Adam, z: Tensor, grad: Tensor | None, cfg: InversionConfig,
             step: int) -> None:
    """One Adam step on ``z`` along ``grad``, then back into the prior's support."""
    for group in opt.param_groups:  # cosine decay: big steps to explore, small ones to settle
        group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
    opt.zero_grad(set_to_none=True)
    z.grad = grad
    opt.step()
    with torch.no_grad():
        z.copy_(_project(model, z))


def _final_latent(model: LatentModel, z: Tensor, target: Tensor, cfg: InversionConfig) -> tuple[Tensor, Tensor]:
    """The optimised latents (on their codebook grid for quantized models) and their reconstructions."""
    final = z
    if isinstance(model, Quantized):
        final = _codebook_search(model, final, target, cfg.loss)
    with torch.no_grad():
        recon = model.decode(final).float()
    return final, recon
