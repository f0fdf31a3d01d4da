"""A StyleGAN2 generator (Karras et al. 2020) in plain PyTorch: no compiled custom ops (a network other code
bases train; ``latentlab.core.thirdparty`` maps their checkpoints onto it).

Parameter and buffer names follow the widely used rosinality ``stylegan2-pytorch`` layout, so its ``g_ema``
state_dicts load directly; NVIDIA's StyleGAN2-ADA weights are renamed onto it (``nvidia.py``). Pieces:
a mapping MLP with equalized learning rate (z -> w), a learned constant 4x4 input, modulated 3x3
convolutions with weight demodulation, per-layer noise (the stored noise maps, so decoding is
deterministic), and skip ToRGB layers summed through a [1, 3, 3, 1] up-sampling filter. ``upfirdn2d`` and
the fused leaky ReLU are written with ordinary torch operations.

The model's latent is z by default; ``latent_space="w"`` makes it a view whose latent is w (one w broadcast
to every layer), which is what inversion and editing usually want. Truncation (psi < 1) pulls w towards
the average w of the mapping network.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core.model import ModelInfo
from latentlab.core.zoo.models import ZooModel

SPACES = ("z", "w")


# --- pure-PyTorch ops ---------------------------------------------------------------------------------------

def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad (negative crops), convolve with a 2-D FIR kernel, downsample."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    kh, kw = kernel.shape
    weight = kernel.flip([0, 1]).to(x.dtype).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)  # a true convolution: the kernel is flipped above
    return x[:, :, ::down, ::down] if down > 1 else x


def fused_leaky_relu(x: Tensor, bias: Tensor, slope: float = 0.2, gain: float = math.sqrt(2)) -> Tensor:
    """Bias, leaky ReLU and the gain that keeps activations at unit variance."""
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape).to(x.dtype), slope) * gain


def make_kernel(k: list[float] | Tensor) -> Tensor:
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


# --- layers -------------------------------------------------------------------------------------------------

class PixelNorm(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with its weights scaled at run time (equalized learning rate), optionally fused lrelu."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    def __init__(self, kernel: list[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel: list[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor**2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Per-sample weights: scaled by the style, demodulated to unit output variance, run as a grouped conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: list[float] = (1, 3, 3, 1)):
        super().__init__()
        self.in_ch, self.out_ch, self.k = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(list(blur_kernel), pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_ch * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        b, _, h, w = x.shape
        s = self.modulation(style).view(b, 1, self.in_ch, 1, 1)
        weight = self.scale * self.weight * s  # B, out, in, k, k
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.out_ch, 1, 1, 1)
        x = x.reshape(1, b * self.in_ch, h, w)
        if self.upsample:
            wt = weight.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, self.k, self.k)
            out = F.conv_transpose2d(x, wt, stride=2, padding=0, groups=b)
            return self.blur(out.view(b, self.out_ch, out.shape[2], out.shape[3]))
        out = F.conv2d(x, weight.view(b * self.out_ch, self.in_ch, self.k, self.k), padding=self.padding, groups=b)
        return out.view(b, self.out_ch, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False,
                 blur_kernel: list[float] = (1, 3, 3, 1), clamp: float | None = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)
        self.clamp = clamp

    def forward(self, x: Tensor, style: Tensor, noise: Tensor) -> Tensor:
        out = self.activate(self.noise(self.conv(x, style), noise))
        return out.clamp(-self.clamp, self.clamp) if self.clamp else out


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, style_dim: int, out_ch: int = 3, upsample: bool = True,
                 blur_kernel: list[float] = (1, 3, 3, 1), clamp: float | None = None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(list(blur_kernel))
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))
        self.clamp = clamp

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        if self.clamp:
            out = out.clamp(-self.clamp, self.clamp)
        return out if skip is None else out + self.upsample(skip)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))


# --- the generator ------------------------------------------------------------------------------------------

class StyleGAN2Generator(ZooModel):
    """StyleGAN2 generator behind the LatentModel contract; images come out in [0, 1]."""

    architecture = "stylegan2"
    optional_state = ("latent_avg",)  # older rosinality files lack it; it is then estimated (fill_missing_state)

    def __init__(self, channels: list[int], mapping: list[int], img_channels: int = 3, lr_mlp: float = 0.01,
                 conv_clamp: float | None = None, latent_space: str = "z", truncation: float = 1.0,
                 info: ModelInfo | None = None):
        if len(channels) < 1 or len(mapping) < 2:
            raise ValueError("StyleGAN2 needs channels for at least the 4x4 block and a mapping of >= 1 layer")
        if latent_space not in SPACES:
            raise ValueError(f"latent_space must be one of {SPACES}, got {latent_space!r}")
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation psi must lie in [0, 1], got {truncation}")
        size = 4 * 2 ** (len(channels) - 1)
        z_dim, w_dim = mapping[0], mapping[-1]
        d = z_dim if latent_space == "z" else w_dim
        info = info or ModelInfo(self.architecture, d, (img_channels, size, size))
        super().__init__(info, dict(channels=list(channels), mapping=list(mapping), img_channels=img_channels,
                                    lr_mlp=lr_mlp, conv_clamp=conv_clamp, latent_space=latent_space,
                                    truncation=truncation))
        self.size, self.z_dim, self.w_dim = size, z_dim, w_dim
        self.latent_space, self.truncation = latent_space, float(truncation)
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(a, b, lr_mul=lr_mlp, activate=True) for a, b in zip(mapping[:-1], mapping[1:], strict=True)
        ])
        self.input = ConstantInput(channels[0])
        self.conv1 = StyledConv(channels[0], channels[0], w_dim, clamp=conv_clamp)
        self.to_rgb1 = ToRGB(channels[0], w_dim, img_channels, upsample=False, clamp=conv_clamp)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        for prev, ch in zip(channels[:-1], channels[1:], strict=True):
            self.convs.append(StyledConv(prev, ch, w_dim, upsample=True, clamp=conv_clamp))
            self.convs.append(StyledConv(ch, ch, w_dim, clamp=conv_clamp))
            self.to_rgbs.append(ToRGB(ch, w_dim, img_channels, clamp=conv_clamp))
        self.num_layers = 2 * (len(channels) - 1) + 1
        self.n_latent = 2 * len(channels)  # ws per image: one per conv plus the last ToRGB
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 4 * 2 ** ((i + 1) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        self.register_buffer("latent_avg", torch.zeros(w_dim))

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        """Sizes from a rosinality-layout state_dict: channels per resolution, mapping widths, colours."""
        n_mlp = 0
        while f"style.{n_mlp + 1}.weight" in shapes:
            n_mlp += 1
        if n_mlp == 0:
            raise KeyError("style.1.weight")
        mapping = [shapes["style.1.weight"][1]] + [shapes[f"style.{i}.weight"][0] for i in range(1, n_mlp + 1)]
        channels = [shapes["input.input"][1]]
        k = 0
        while f"convs.{k}.conv.weight" in shapes:
            channels.append(shapes[f"convs.{k}.conv.weight"][1])
            k += 2
        return dict(channels=channels, mapping=mapping, img_channels=shapes["to_rgb1.conv.weight"][1])

    # --- the two halves ---------------------------------------------------------------------------------
    def map(self, z: Tensor, truncation: float | None = None) -> Tensor:
        """z -> w, truncated towards the average w when psi < 1."""
        w = self.style(z)
        psi = self.truncation if truncation is None else truncation
        return w if psi == 1.0 else self.latent_avg + psi * (w - self.latent_avg)

    def synthesize(self, w: Tensor) -> Tensor:
        """w (B, w_dim) or per-layer ws (B, n_latent, w_dim) -> images in about [-1, 1]."""
        ws = w.unsqueeze(1).expand(-1, self.n_latent, -1) if w.ndim == 2 else w
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        out = self.input.input.expand(ws.shape[0], -1, -1, -1)
        out = self.conv1(out, ws[:, 0], noise[0])
        skip = self.to_rgb1(out, ws[:, 1])
        i = 1
        for c1, c2, to_rgb in zip(self.convs[::2], self.convs[1::2], self.to_rgbs, strict=True):
            out = c1(out, ws[:, i], noise[i])
            out = c2(out, ws[:, i + 1], noise[i + 1])
            skip = to_rgb(out, ws[:, i + 2], skip)
            i += 2
        return skip

    # --- LatentModel --------------------------------------------------------------------------------------
    def decode(self, latent: Tensor) -> Tensor:
        w = self.map(latent) if self.latent_space == "z" else latent
        return ((self.synthesize(w) + 1.0) / 2.0).clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.z_dim, generator=generator).to(self.device)
        if self.latent_space == "z":
            return z
        with torch.no_grad():
            return self.map(z)

    @property
    def latent_mean(self) -> Tensor:
        """The centre of the latent distribution (the average w in w space)."""
        if self.latent_space == "w":
            return self.latent_avg.detach()
        return torch.zeros(self.z_dim, device=self.device)

    def fill_missing_state(self, keys: list[str]) -> None:
        if "latent_avg" in keys:
            self.estimate_latent_avg()

    @torch.no_grad()
    def estimate_latent_avg(self, n: int = 4096, seed: int = 0) -> Tensor:
        """Average w over ``n`` seeded z samples (for checkpoints that do not store it)."""
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        avg = torch.cat([self.style(c) for c in z.split(1024)]).mean(0)
        self.latent_avg.copy_(avg)
        return avg


def stylegan2_view(model: StyleGAN2Generator, space: str = "w", truncation: float | None = None) -> StyleGAN2Generator:
    """The same generator (shared weights) seen through latent ``space`` ("z" or "w") and truncation psi."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    psi = model.truncation if truncation is None else float(truncation)
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"truncation psi must lie in [0, 1], got {psi}")
    view = copy.copy(model)  # shares parameters and buffers; the attributes below are the view's own
    view.latent_space, view.truncation = space, psi
    view.hparams = {**model.hparams, "latent_space": space, "truncation": psi}
    d = model.z_dim if space == "z" else model.w_dim
    names = None if model.info.latent_names is None or d != model.info.latent_dim else model.info.latent_names
    suffix = "" if space == "z" else " (w)"
    base_name = model.info.name.removesuffix(" (w)")
    view.info = ModelInfo(base_name + suffix, d, model.info.image_shape, names, model.info.prior,
                          model.info.dataset, model.info.factor_names)
    return view
