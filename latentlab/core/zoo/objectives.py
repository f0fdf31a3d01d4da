"""Training objectives of the VAE family and QLAE.

Every objective returns ``(loss, logs)`` for a batch; ``logs`` are floats for progress output and the
model card. Objectives with an adversary (FactorVAE) also implement ``aux_step``; GANs update their critic
in ``pre_step`` (see ``adversarial.py``). Defaults follow disentanglement_lib where it defines them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core.zoo.models import QuantizedAE, ZooModel


def reconstruction_loss(model: ZooModel, logits: Tensor, x: Tensor) -> Tensor:
    """Negative log-likelihood summed over pixels, averaged over the batch."""
    if model.likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    else:
        # Unit-variance Gaussian on the sigmoid mean, up to a constant (disentanglement_lib's l2 loss).
        nll = 0.5 * F.mse_loss(torch.sigmoid(logits), x, reduction="sum")
    return nll / x.shape[0]


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z|x) || N(0, I)) per dimension, shape (B, D)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0)


class Objective:
    name = ""
    defaults: dict[str, Any] = {}

    def __init__(self, **hparams: Any):
        unknown = set(hparams) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name}: unknown hyper-parameter(s) {sorted(unknown)}; known: {sorted(self.defaults)}")
        self.hparams = {**self.defaults, **hparams}
        self.total_steps = 1

    def setup(self, model: ZooModel, total_steps: int, dataset_size: int) -> None:
        self.total_steps = max(1, total_steps)
        self.dataset_size = max(1, dataset_size)

    def loss(self, model: ZooModel, x: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError

    # Element-wise gradient clipping the trainer applies before each optimizer step (None: no clipping).
    grad_clip_value: float | None = None

    def make_optimizer(self, model: ZooModel, lr: float) -> torch.optim.Optimizer | None:
        """An objective-specific optimizer for the model's parameters; None means the default."""
        return None

    def pre_step(self, model: ZooModel, next_batch: Callable[[], Tensor], step: int) -> dict[str, float]:
        """Work done before each model update (a GAN's critic steps); ``next_batch()`` draws fresh data."""
        return {}

    # Adversarial objectives override these.
    has_aux = False

    def aux_step(self, model: ZooModel, x: Tensor, x2: Tensor) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The objective's own optimizers (a discriminator's, a critic's), by name, for the resume state."""
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        pass


class BetaVAE(Objective):
    """ELBO with a weighted KL (beta = 1 is the plain VAE)."""

    name = "beta_vae"
    defaults = {"beta": 4.0}

    def loss(self, model, x, step):
        post = model.encode(x)
        z = post.sample()
        rec = reconstruction_loss(model, model.decode_logits(z), x)
        kl_dims = gaussian_kl(post.mean, post.logvar).mean(0)
        kl = kl_dims.sum()
        loss = rec + self.hparams["beta"] * kl
        return loss, {"loss": loss.item(), "recon": rec.item(), "kl": kl.item()}


class PlainVAE(BetaVAE):
    name = "vae"
    defaults = {"beta": 1.0}


class AnnealedVAE(Objective):
    """Burgess et al. 2018: gamma * |KL - C| with the capacity C raised linearly to c_max."""

    name = "annealed_vae"
    defaults = {"gamma": 1000.0, "c_max": 25.0, "c_steps": None}

    def capacity(self, step: int) -> float:
        steps = self.hparams["c_steps"] or self.total_steps
        return self.hparams["c_max"] * min(1.0, step / max(1, steps))

    def loss(self, model, x, step):
        post = model.encode(x)
        z = post.sample()
        rec = reconstruction_loss(model, model.decode_logits(z), x)
        kl = gaussian_kl(post.mean, post.logvar).mean(0).sum()
        c = self.capacity(step)
        loss = rec + self.hparams["gamma"] * (kl - c).abs()
        return loss, {"loss": loss.item(), "recon": rec.item(), "kl": kl.item(), "capacity": c}


def _log_density_gaussian(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean).pow(2) * torch.exp(-logvar))


class BetaTCVAE(Objective):
    """Chen et al. 2018: the KL split into index-code MI, total correlation and dimension-wise KL, with the
    total correlation weighted by beta (minibatch-weighted sampling estimator)."""

    name = "beta_tcvae"
    defaults = {"alpha": 1.0, "beta": 6.0, "gamma": 1.0}

    def loss(self, model, x, step):
        post = model.encode(x)
        mean, logvar = post.mean, post.logvar
        z = post.sample()
        rec = reconstruction_loss(model, model.decode_logits(z), x)
        b = x.shape[0]
        log_qz_x = _log_density_gaussian(z, mean, logvar).sum(1)
        log_pz = _log_density_gaussian(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
        # mat[i, j, d] = log q(z_i[d] | x_j)
        mat = _log_density_gaussian(z.unsqueeze(1), mean.unsqueeze(0), logvar.unsqueeze(0))
        log_norm = math.log(b * self.dataset_size)
        log_qz = torch.logsumexp(mat.sum(2), dim=1) - log_norm
        log_prod_qz = (torch.logsumexp(mat, dim=1) - log_norm).sum(1)
        mi = (log_qz_x - log_qz).mean()
        tc = (log_qz - log_prod_qz).mean()
        dwkl = (log_prod_qz - log_pz).mean()
        h = self.hparams
        loss = rec + h["alpha"] * mi + h["beta"] * tc + h["gamma"] * dwkl
        kl = gaussian_kl(mean, logvar).mean(0).sum()
        return loss, {"loss": loss.item(), "recon": rec.item(), "kl": kl.item(), "tc": tc.item(), "mi": mi.item()}


class DIPVAE(Objective):
    """Kumar et al. 2018: match the covariance of the aggregate posterior to the identity.

    DIP-VAE-I penalises the covariance of the posterior means; DIP-VAE-II that of z itself
    (E[Sigma] + Cov[mu]).
    """

    name = "dip_vae_i"
    defaults = {"lambda_od": 10.0, "lambda_d_factor": 10.0}
    variant = "i"

    def loss(self, model, x, step):
        post = model.encode(x)
        mean, logvar = post.mean, post.logvar
        z = post.sample()
        rec = reconstruction_loss(model, model.decode_logits(z), x)
        kl = gaussian_kl(mean, logvar).mean(0).sum()
        centred = mean - mean.mean(0, keepdim=True)
        cov = centred.T @ centred / max(1, mean.shape[0] - 1)
        if self.variant == "ii":
            cov = cov + torch.diag(logvar.exp().mean(0))
        diag = torch.diagonal(cov)
        off = cov - torch.diag(diag)
        lod = self.hparams["lambda_od"]
        ld = lod * self.hparams["lambda_d_factor"]
        reg = lod * off.pow(2).sum() + ld * (diag - 1).pow(2).sum()
        loss = rec + kl + reg
        return loss, {"loss": loss.item(), "recon": rec.item(), "kl": kl.item(), "dip": reg.item()}


class DIPVAE2(DIPVAE):
    name = "dip_vae_ii"
    defaults = {"lambda_od": 10.0, "lambda_d_factor": 1.0}
    variant = "ii"


class TCDiscriminator(nn.Module):
    """FactorVAE's discriminator: z -> logits of (joint, product of marginals)."""

    def __init__(self, latent_dim: int, hidden: int = 1000, layers: int = 6):
        super().__init__()
        mods: list[nn.Module] = []
        prev = latent_dim
        for _ in range(layers):
            mods += [nn.Linear(prev, hidden), nn.LeakyReLU(0.2, inplace=True)]
            prev = hidden
        mods.append(nn.Linear(prev, 2))
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def permute_dims(z: Tensor) -> Tensor:
    """Shuffle each dimension independently across the batch: samples of the product of marginals."""
    b, d = z.shape
    idx = torch.argsort(torch.rand(b, d, device=z.device), dim=0)
    return torch.gather(z, 0, idx)


class FactorVAE(Objective):
    """Kim & Mnih 2018: ELBO plus gamma times the total correlation estimated by a discriminator."""

    name = "factor_vae"
    defaults = {"gamma": 35.0, "disc_hidden": 1000, "disc_layers": 6, "disc_lr": 1e-4}
    has_aux = True

    def setup(self, model, total_steps, dataset_size):
        super().setup(model, total_steps, dataset_size)
        h = self.hparams
        self.disc = TCDiscriminator(model.info.latent_dim, int(h["disc_hidden"]), int(h["disc_layers"])).to(model.device)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=h["disc_lr"], betas=(0.5, 0.9))

    def loss(self, model, x, step):
        post = model.encode(x)
        z = post.sample()
        rec = reconstruction_loss(model, model.decode_logits(z), x)
        kl = gaussian_kl(post.mean, post.logvar).mean(0).sum()
        logits = self.disc(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        loss = rec + kl + self.hparams["gamma"] * tc
        return loss, {"loss": loss.item(), "recon": rec.item(), "kl": kl.item(), "tc": tc.item()}

    def aux_step(self, model, x, x2):
        # Algorithm 1 of the paper: the permuted samples come from a second, independent batch.
        with torch.no_grad():
            z = model.encode(x).sample()
            zp = permute_dims(model.encode(x2).sample())
        self.disc.train()
        logits = self.disc(torch.cat([z, zp]))
        target = torch.cat([torch.zeros(len(z)), torch.ones(len(zp))]).long().to(z.device)
        d_loss = F.cross_entropy(logits, target)
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.disc_opt.step()
        acc = (logits.argmax(1) == target).float().mean().item()
        return {"disc_loss": d_loss.item(), "disc_acc": acc}

    def state_dict(self):
        return {f"disc.{k}": v for k, v in self.disc.state_dict().items()}

    def optimizers(self):
        return {"disc": self.disc_opt}

    def load_state_dict(self, state):
        self.disc.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("disc.")})


class QLAEObjective(Objective):
    """Reconstruction plus the codebook (quantization) and commitment terms of VQ-VAE, per dimension.

    The paper's other ingredient, high weight decay, lives in the optimizer (see ``optimizer_for``).
    """

    name = "qlae"
    # The paper's 0.01 weights go with per-element mean losses. Our reconstruction is summed over the image
    # (4,096 terms on dSprites, as for every zoo model), and at 0.01 the straight-through gradient pushed the
    # encoder's outputs far off the codebooks (quantization error 1e5 and a poor reconstruction after 5,000
    # dSprites steps); at 4 they stay on the grid and reconstruction falls faster.
    defaults = {"quantize_weight": 4.0, "commit_weight": 4.0, "weight_decay": 0.1}

    def loss(self, model, x, step):
        assert isinstance(model, QuantizedAE)
        zc = model.encoder(x)
        zq, _ = model.quantize(zc)
        z_st = zc + (zq - zc).detach()  # straight-through: decoder sees zq, gradient flows to zc
        rec = reconstruction_loss(model, model.decode_logits(z_st), x)
        quant = (zc.detach() - zq).pow(2).sum(1).mean()
        commit = (zc - zq.detach()).pow(2).sum(1).mean()
        h = self.hparams
        loss = rec + h["quantize_weight"] * quant + h["commit_weight"] * commit
        return loss, {"loss": loss.item(), "recon": rec.item(), "quantize": quant.item(), "commit": commit.item()}


def optimizer_for(objective: Objective, model: ZooModel, lr: float) -> torch.optim.Optimizer:
    custom = objective.make_optimizer(model, lr)
    if custom is not None:
        return custom
    if isinstance(objective, QLAEObjective):
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in model.named_parameters():
            # The codebook values are not decayed: shrinking them towards 0 would collapse the grid.
            (no_decay if name == "values" or p.ndim == 1 else decay).append(p)
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": objective.hparams["weight_decay"]},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=lr,
        )
    return torch.optim.Adam(model.parameters(), lr=lr)


OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (PlainVAE, BetaVAE, BetaTCVAE, FactorVAE, DIPVAE, DIPVAE2, AnnealedVAE, QLAEObjective)
}
