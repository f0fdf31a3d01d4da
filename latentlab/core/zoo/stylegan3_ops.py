"""The signal processing of StyleGAN3 (Karras et al. 2021, "Alias-Free GANs") with plain torch operations.

- ``layer_geometry``: every synthesis layer's channels, sizes, sampling rates, cutoffs, transition bands,
  up/down factors, filter lengths and padding, from the generator's hyper-parameters, by the definitions of
  NVlabs/stylegan3 ``training/networks_stylegan3.py`` (geometric progressions of cutoffs and stopbands,
  sampling rates rounded up to powers of two, the symmetric sample-location convention of its Appendix C.3).
- ``lowpass_filter``: the reference's filter design — a Kaiser-windowed sinc (the windowed-sinc design of
  ``scipy.signal.firwin`` with the Kaiser window and beta from the transition width) or, for -R's
  rotation-equivariant layers, a Kaiser-windowed jinc (radially symmetric) — computed in float64 with numpy
  and torch, so scipy is not needed.
- ``upfirdn2d`` (separable or 2-D FIR filters) and ``filtered_lrelu``: bias, up-sampling, leaky ReLU with
  gain and clamp at the higher rate, down-sampling, in the reference's order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# --- filter design ------------------------------------------------------------------------------------------------

def kaiser_beta(atten: float) -> float:
    """Kaiser's beta for a stopband attenuation in dB (Kaiser's empirical formula)."""
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def kaiser_atten(numtaps: int, width: float) -> float:
    """Attenuation (dB) a Kaiser FIR of ``numtaps`` achieves with a transition ``width`` (1 = Nyquist)."""
    return 2.285 * (numtaps - 1) * np.pi * width + 7.95


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> Tensor | None:
    """StyleGAN3's low-pass FIR: None for one tap (identity), 1-D separable Kaiser, or 2-D radial jinc."""
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    nyq = fs / 2
    beta = kaiser_beta(kaiser_atten(numtaps, width / nyq))
    window = np.kaiser(numtaps, beta)
    if not radial:
        m = np.arange(numtaps) - (numtaps - 1) / 2
        c = cutoff / nyq
        h = c * np.sinc(c * m) * window
        return torch.as_tensor(h / h.sum(), dtype=torch.float32, device="cpu")
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    arg = torch.as_tensor(2 * cutoff * np.pi * r, dtype=torch.float64, device="cpu")
    j1 = torch.special.bessel_j1(arg).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(r > 0, j1 / (np.pi * r), cutoff)  # J1(2 pi c r) / (pi r) -> c at r = 0
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32, device="cpu")


# --- geometry -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputGeometry:
    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


@dataclass(frozen=True)
class LayerGeometry:
    index: int
    name: str
    is_torgb: bool
    is_critically_sampled: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up_factor: int
    down_factor: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]  # x0, x1, y0, y1 around the up-sampled image


def schedule(img_resolution: int, num_layers: int, num_critical: int, first_cutoff: float, first_stopband: float,
             last_stopband_rel: float, margin_size: int) -> dict[str, np.ndarray]:
    """Per-layer cutoffs, stopbands, sampling rates, transition half-widths and sizes (float64, as the reference)."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    return dict(cutoffs=cutoffs, stopbands=stopbands, sampling_rates=rates, half_widths=half_widths, sizes=sizes)


def reference_channels(img_resolution: int, img_channels: int, channel_base: int, channel_max: int,
                       num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2.0) -> list[int]:
    """The channel count of every layer as NVIDIA's SynthesisNetwork derives it (the last is the colours)."""
    cutoffs = schedule(img_resolution, num_layers, num_critical, first_cutoff, 2 ** 2.1, 2 ** 0.3, 10)["cutoffs"]
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return [int(c) for c in channels]


def layer_geometry(img_resolution: int, channels: list[int], num_critical: int = 2, first_cutoff: float = 2.0,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                   conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                   use_radial_filters: bool = False) -> tuple[InputGeometry, list[LayerGeometry]]:
    """The Fourier-feature input and every synthesis layer (the last is ToRGB), as the reference builds them."""
    n = len(channels) - 1
    if n < 1 or not 0 <= num_critical < n:
        raise ValueError(f"StyleGAN3 needs >= 1 layer and 0 <= num_critical < num_layers, got {n} / {num_critical}")
    sch = schedule(img_resolution, n, num_critical, first_cutoff, first_stopband, last_stopband_rel, margin_size)
    cut, rate, hw, size = sch["cutoffs"], sch["sampling_rates"], sch["half_widths"], sch["sizes"]
    inp = InputGeometry(int(channels[0]), int(size[0]), float(rate[0]), float(cut[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        torgb = idx == n
        critical = idx >= n - num_critical
        in_rate, out_rate = int(rate[prev]), int(rate[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if torgb else lrelu_upsampling)
        k = 1 if torgb else conv_kernel
        up = int(np.rint(tmp_rate / in_rate))
        down = int(np.rint(tmp_rate / out_rate))
        if in_rate * up != tmp_rate or out_rate * down != tmp_rate:
            raise ValueError(f"layer {idx}: sampling rates {in_rate} -> {out_rate} are not integer ratios")
        up_taps = filter_size * up if up > 1 and not torgb else 1
        down_taps = filter_size * down if down > 1 and not torgb else 1
        in_size, out_size = int(size[prev]), int(size[idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        layers.append(LayerGeometry(
            idx, f"L{idx}_{out_size}_{int(channels[idx])}", torgb, critical, int(channels[prev]), int(channels[idx]),
            in_size, out_size, in_rate, out_rate, float(cut[prev]), float(cut[idx]), float(hw[prev]), float(hw[idx]),
            k, up, down, up_taps, down_taps, use_radial_filters and not critical, (pad_lo, pad_hi, pad_lo, pad_hi)))
    return inp, layers


# --- resampling ----------------------------------------------------------------------------------------------------

def upfirdn2d(x: Tensor, f: Tensor | None, up: int = 1, down: int = 1, padding: tuple[int, int, int, int] = (0, 0, 0, 0),
              gain: float = 1.0) -> Tensor:
    """Zero-insert ``up``, pad (negative crops), convolve with ``f`` (1-D: separable; 2-D), keep every ``down``-th.

    ``gain`` scales the filter's DC response (``up ** 2`` keeps the up-sampled signal's level).
    """
    b, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is None:
        if gain == 1 and down == 1:
            return x
        f = torch.ones(1, 1, dtype=x.dtype, device=x.device)
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))  # flipped: a true convolution
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c, stride=down)
    else:
        x = F.conv2d(x, f.view(1, 1, 1, -1).expand(c, 1, 1, f.shape[0]), groups=c, stride=(1, down))
        x = F.conv2d(x, f.view(1, 1, -1, 1).expand(c, 1, f.shape[0], 1), groups=c, stride=(down, 1))
    return x


def _window(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """x[start : start + length] along ``dim``, zeros where that reaches outside x."""
    lo, hi = max(0, -start), max(0, start + length - x.shape[dim])
    if lo or hi:
        x = F.pad(x, [lo, hi, 0, 0] if dim == 3 else [0, 0, lo, hi])
        start += lo
    return x.narrow(dim, start, length)


def upsample_separable(x: Tensor, f: Tensor, up: int, padding: tuple[int, int, int, int]) -> Tensor:
    """``upfirdn2d(x, f, up=up, padding=padding, gain=up**2)`` for a 1-D filter, one axis at a time.

    A transposed convolution with stride ``up`` is the convolution of the zero-inserted signal, computed
    without the inserted zeros; the window then applies the padding. Same sums as the reference's, in
    another order (differences are float rounding).
    """
    b, c, h, w = x.shape
    k = f.shape[0]
    g = (f * up).to(x.dtype)  # gain up**2 split over the two passes
    px0, px1, py0, py1 = padding
    x = F.conv_transpose2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), stride=(1, up), groups=c)
    x = _window(x, 3, k - 1 - px0, w * up + px0 + px1 - k + 1)
    x = F.conv_transpose2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), stride=(up, 1), groups=c)
    return _window(x, 2, k - 1 - py0, h * up + py0 + py1 - k + 1)


def filtered_lrelu(x: Tensor, fu: Tensor | None, fd: Tensor | None, bias: Tensor, up: int, down: int,
                   padding: tuple[int, int, int, int], gain: float, slope: float, clamp: float | None) -> Tensor:
    """Bias, up-sample by ``up`` through ``fu``, leaky ReLU times ``gain`` clamped to +-clamp, down-sample
    by ``down`` through ``fd``: the reference's filtered_lrelu, step by step.

    The resampling runs channels-last: PyTorch's CPU depthwise convolutions are several times faster so.
    """
    b = bias.to(x.dtype).view(1, -1, 1, 1)
    # Without autograd the activation works in place on tensors made here (fewer passes over big arrays).
    inplace = not (torch.is_grad_enabled() and (x.requires_grad or b.requires_grad))
    if inplace:
        x = torch.add(x, b, out=torch.empty_like(x, memory_format=torch.channels_last))
    else:
        x = (x + b).contiguous(memory_format=torch.channels_last)
    if up > 1 and fu is not None and fu.ndim == 1:
        x = upsample_separable(x, fu, up, padding)
    else:
        x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    if slope != 1.0:
        x = F.leaky_relu(x, slope, inplace=inplace)
    if gain != 1.0:
        x = x.mul_(gain) if inplace else x * gain
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down).contiguous()


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, padding: int, demodulate: bool,
                     input_gain: Tensor | None) -> Tensor:
    """StyleGAN3's modulated convolution (with its pre-normalisation of weights and styles) as a grouped conv."""
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()  # over the whole batch, as the reference does
    w = weight.unsqueeze(0) * styles.view(batch, 1, in_ch, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().view(batch, out_ch, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(batch, in_ch).view(batch, 1, in_ch, 1, 1)
    x = x.reshape(1, batch * in_ch, *x.shape[2:])
    x = F.conv2d(x, w.reshape(batch * out_ch, in_ch, kh, kw).to(x.dtype), padding=padding, groups=batch)
    return x.reshape(batch, out_ch, *x.shape[2:])


SQRT2 = math.sqrt(2)
