"""Adversarial objectives: InfoWGAN-GP and its quantized-latent variant (Hsu et al. 2023, after Gulrajani et
al. 2017 and Chen et al. 2016).

The objective owns everything that exists only during training: the critic with its InfoGAN code head, the
critic's optimizer and the ``n_critic`` critic updates that precede each generator update (``pre_step``).
The trainer's own optimizer updates the generator (and, for the quantized variant, its codebooks).

Defaults follow the latent-quantization paper's InfoGAN configs: Adam(W) with lr 2e-4, betas (0, 0.9),
weight decay 1e-4 on weight matrices, gradients clipped element-wise at 1, gradient penalty 10, five critic
steps per generator step. Its latents span a unit-wide interval; ours span [-1, 1], so the weights of the
squared-error terms (code regression 200, quantization and commitment 0.01) are divided by 4 to keep the
same balance against the critic's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core.zoo.gan import InfoWGAN, QuantizedInfoWGAN
from latentlab.core.zoo.nets import _channels
from latentlab.core.zoo.objectives import Objective


class Critic(nn.Module):
    """The standard conv encoder layout (no normalisation, as WGAN-GP requires) with two linear heads on its
    features: the critic's value and InfoGAN's code regressor Q(c | x)."""

    def __init__(self, channels: int, code_dim: int, image_size: int = 64, base: int = 32, hidden: int = 256):
        super().__init__()
        layers: list[nn.Module] = []
        prev = channels
        for c in _channels(base):
            layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            prev = c
        side = image_size // 16
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(prev * side * side, hidden), nn.LeakyReLU(0.2))
        self.value = nn.Linear(hidden, 1)
        self.code = nn.Linear(hidden, code_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.value(h).squeeze(1), self.code(h)


def gradient_penalty(critic_value: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP: mean over the batch of (|grad_x D(x_hat)| - 1)^2 at random points between real and fake."""
    eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), generator=generator).to(real.device, real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic_value(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def _adam_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in module.named_parameters():
        # Biases and codebook values are not decayed (the paper's "unregularized" group).
        (no_decay if p.ndim <= 1 or name == "values" else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class InfoWGANGP(Objective):
    """Wasserstein critic with gradient penalty, plus InfoGAN's code regression shared by both players."""

    name = "infowgan_gp"
    defaults: dict[str, Any] = {
        "n_critic": 5, "gp_weight": 10.0, "info_weight": 50.0, "critic_lr": 2e-4, "beta1": 0.0, "beta2": 0.9,
        "weight_decay": 1e-4, "clip": 1.0,
    }

    def setup(self, model, total_steps, dataset_size):
        super().setup(model, total_steps, dataset_size)
        if not isinstance(model, InfoWGAN):
            raise TypeError(f"{self.name} trains an InfoWGAN generator, not a {type(model).__name__}")
        h = self.hparams
        hp = model.hparams
        self.critic = Critic(hp["channels"], hp["latent_dim"], hp["image_size"], hp["base"], hp["hidden"])
        self.critic.to(model.device, memory_format=torch.channels_last)
        self.critic_opt = torch.optim.AdamW(_adam_groups(self.critic, h["weight_decay"]), lr=h["critic_lr"],
                                            betas=(h["beta1"], h["beta2"]))
        self.grad_clip_value = float(h["clip"]) if h["clip"] else None

    def make_optimizer(self, model: nn.Module, lr: float) -> torch.optim.Optimizer:
        h = self.hparams
        return torch.optim.AdamW(_adam_groups(model, h["weight_decay"]), lr=lr, betas=(h["beta1"], h["beta2"]))

    # --- the latent and its code loss (the quantized variant overrides these) -----------------------------
    def sample_latent(self, model: InfoWGAN, n: int, differentiable: bool) -> Tensor:
        return model.sample_prior(n)

    def code_loss(self, model: InfoWGAN, code: Tensor, z: Tensor, train_codebook: bool) -> tuple[Tensor, dict[str, float]]:
        info = F.mse_loss(code, z)
        return self.hparams["info_weight"] * info, {"info": info.item()}

    # --- the two players -----------------------------------------------------------------------------------
    def critic_step(self, model: InfoWGAN, real: Tensor) -> dict[str, float]:
        """One critic update on a real batch against as many fresh fakes."""
        with torch.no_grad():
            z = self.sample_latent(model, real.shape[0], differentiable=False)
            fake = model.decode(z)
        n = real.shape[0]
        values, codes = self.critic(torch.cat([real, fake]))
        v_real, v_fake, code_fake = values[:n], values[n:], codes[n:]
        gp = gradient_penalty(lambda x: self.critic(x)[0], real, fake)
        code_term, logs = self.code_loss(model, code_fake, z, train_codebook=False)
        wdist = v_real.mean() - v_fake.mean()
        loss = -wdist + self.hparams["gp_weight"] * gp + code_term
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip_value:
            nn.utils.clip_grad_value_(self.critic.parameters(), self.grad_clip_value)
        self.critic_opt.step()
        return {"wdist": wdist.item(), "gp": gp.item(), "critic_loss": loss.item(),
                **{f"critic_{k}": v for k, v in logs.items()}}

    def pre_step(self, model, next_batch, step):
        logs: list[dict[str, float]] = [self.critic_step(model, next_batch()) for _ in range(int(self.hparams["n_critic"]))]
        return {k: sum(d[k] for d in logs) / len(logs) for k in logs[-1]}

    def loss(self, model, x, step):
        """The generator's loss: fool the critic and keep the code recoverable from the image."""
        self.critic.requires_grad_(False)  # no critic gradients in the generator step (the graph keeps this)
        try:
            z = self.sample_latent(model, x.shape[0], differentiable=True)
            fake = model.decode(z)
            value, code = self.critic(fake)
            code_term, logs = self.code_loss(model, code, z, train_codebook=True)
            adv = -value.mean()
            loss = adv + code_term
        finally:
            self.critic.requires_grad_(True)
        return loss, {"loss": loss.item(), "g_adv": adv.item(), **logs}

    def state_dict(self):
        return {f"critic.{k}": v for k, v in self.critic.state_dict().items()}

    def optimizers(self):
        return {"critic": self.critic_opt}

    def load_state_dict(self, state):
        self.critic.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("critic.")})


class QuantizedInfoWGANGP(InfoWGANGP):
    """The generator sees codebook values only; the code head's output is snapped to the codebook (straight-
    through) before the regression, with VQ-style quantization and commitment terms per dimension."""

    name = "qinfowgan_gp"
    defaults = {**InfoWGANGP.defaults, "quantize_weight": 2.5e-3, "commit_weight": 2.5e-3}

    def setup(self, model, total_steps, dataset_size):
        if not isinstance(model, QuantizedInfoWGAN):
            raise TypeError(f"{self.name} trains a quantized InfoWGAN generator, not a {type(model).__name__}")
        super().setup(model, total_steps, dataset_size)

    # Narrower than InfoWGANGP's on purpose: setup() refuses any other generator.
    def sample_latent(self, model: QuantizedInfoWGAN, n: int,  # type: ignore[override]
                      differentiable: bool) -> Tensor:
        codes = model.sample_codes(n).to(model.device)
        values = model.values if differentiable else model.values.detach()
        # Gathering keeps the generator's gradient flowing into the codebook values, as in the paper.
        return torch.gather(values.unsqueeze(0).expand(n, -1, -1), 2, codes.unsqueeze(-1)).squeeze(-1)

    def code_loss(self, model: QuantizedInfoWGAN, code: Tensor, z: Tensor,  # type: ignore[override]  # as above
                  train_codebook: bool):
        values = model.values if train_codebook else model.values.detach()
        dist = (code.unsqueeze(-1) - values.unsqueeze(0)).abs()
        idx = dist.argmin(-1, keepdim=True)
        zq = torch.gather(values.unsqueeze(0).expand(code.shape[0], -1, -1), 2, idx).squeeze(-1)
        z_hat = code + (zq - code).detach()
        info = F.mse_loss(z_hat, z)
        quant = F.mse_loss(zq, code.detach())
        commit = F.mse_loss(code, zq.detach())
        h = self.hparams
        term = h["info_weight"] * info + h["quantize_weight"] * quant + h["commit_weight"] * commit
        return term, {"info": info.item(), "quantize": quant.item(), "commit": commit.item()}


ADVERSARIAL_OBJECTIVES: dict[str, type[Objective]] = {
    InfoWGANGP.name: InfoWGANGP,
    QuantizedInfoWGANGP.name: QuantizedInfoWGANGP,
}
