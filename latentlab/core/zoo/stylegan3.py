"""StyleGAN3 generators (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), -T and -R, in plain
PyTorch: no compiled custom ops.

The network follows NVlabs/stylegan3 ``training/networks_stylegan3.py`` definition by definition (see
``stylegan3_ops.py`` for the signal processing): a mapping MLP (z normalised, with ``c_dim > 0`` a class
embedding normalised and concatenated), Fourier-feature input whose frequencies are rotated and translated
by a learned affine of the first w and by a user ``transform`` (the visualizer's translate / rotate), then
``num_layers`` modulated convolutions (3x3 for -T, 1x1 for -R) each followed by a filtered leaky ReLU —
up-sample, bias, leaky ReLU with gain and clamp at the higher rate, down-sample through Kaiser low-pass
filters (radially symmetric jinc filters in -R's non-critical layers) — input magnitudes normalised by each
layer's stored ``magnitude_ema``, a last 1x1 ToRGB and the output scale.

Parameter and buffer names are NVIDIA's (``mapping.fc0.weight``, ``synthesis.L3_52_512.up_filter``, ...), so
a pickle's G_ema maps onto it name for name (``formats/nvidia_sg3.py``) and the layer names are those its
visualizer shows. The filters are buffers: designed here as the reference designs them, replaced by a
file's own when it has them. Sizes come from the tensor shapes (and layer names); what shapes cannot tell
(cutoff schedule, margin, output scale, clamp) from the model card, defaulting to the reference's values.
The network-level API is ``style_api.py``'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo
from latentlab.core.zoo import style_api as api
from latentlab.core.zoo import stylegan3_ops as ops
from latentlab.core.zoo.models import ZooModel

CONFIGS = {  # what NVIDIA's train.py passes for --cfg (channel_base, channel_max, conv_kernel, radial filters)
    "stylegan3-t": dict(channel_base=32768, channel_max=512, conv_kernel=3, use_radial_filters=False),
    "stylegan3-r": dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True),
}
_LAYER = r"synthesis\.L(\d+)_(\d+)_(\d+)\."


class FullyConnectedLayer(nn.Module):
    """NVIDIA's equalized-learning-rate linear layer ('linear' or 'lrelu' with gain sqrt 2)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", lr_multiplier: float = 1.0,
                 bias_init: float | list[float] = 0.0, weight_init: float = 1.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        init = torch.as_tensor(np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]).copy())
        self.bias = nn.Parameter(init / lr_multiplier)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype)
        if self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return F.leaky_relu(x.matmul(w.t()) + b, 0.2) * ops.SQRT2


class MappingNetwork(nn.Module):
    w_avg: Tensor  # a buffer

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_layers: int = 2, lr_multiplier: float = 0.01):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_layers = z_dim, c_dim, w_dim, num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, w_dim)
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], "lrelu", lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None) -> Tensor:
        """z (and c) -> one w per sample (B, w_dim)."""
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            assert c is not None  # a conditional generator's callers pass class_labels' label
            y = self.embed(c.to(torch.float32))
            y = y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            x = torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class SynthesisInput(nn.Module):
    """Fourier features: random frequencies in a disc, transformed per sample by the learned (rotation,
    translation) and by ``transform`` (the user's inverse transform with respect to the image)."""

    transform: Tensor  # buffers
    freqs: Tensor
    phases: Tensor
    grid: Tensor

    def __init__(self, w_dim: int, geo: ops.InputGeometry):
        super().__init__()
        self.channels, self.size = geo.channels, geo.size
        self.sampling_rate, self.bandwidth = geo.sampling_rate, geo.bandwidth
        freqs = torch.randn(self.channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= self.bandwidth
        self.weight = nn.Parameter(torch.randn(self.channels, self.channels))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(self.channels) - 0.5)
        # The sampling grid is a constant: made once (not part of the state), which also keeps the traced
        # decode free of affine_grid's shape checks.
        theta = torch.eye(2, 3)
        theta[0, 0] = 0.5 * self.size / self.sampling_rate
        theta[1, 1] = 0.5 * self.size / self.sampling_rate
        self.register_buffer("grid", F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size],
                                                   align_corners=False), persistent=False)

    def forward(self, t: Tensor, user_transform: Tensor | None = None) -> Tensor:
        """The features for affine outputs ``t`` (B, 4) = (r_c, r_s, t_x, t_y)."""
        batch, dev = t.shape[0], t.device
        transforms = (self.transform if user_transform is None else user_transform.to(dev)).unsqueeze(0)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=dev).unsqueeze(0).repeat([batch, 1, 1])  # inverse rotation wrt. the image
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = torch.eye(3, device=dev).unsqueeze(0).repeat([batch, 1, 1])  # inverse translation
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ transforms
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Frequencies a user transform pushes out of band fade out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        x = (self.grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv, then the filtered leaky ReLU (the last layer: ToRGB, 1x1, linear, no resampling)."""

    magnitude_ema: Tensor  # buffers
    up_filter: Tensor
    down_filter: Tensor

    def __init__(self, w_dim: int, geo: ops.LayerGeometry, lrelu_upsampling: int, conv_clamp: float | None):
        super().__init__()
        self.geo, self.conv_clamp = geo, conv_clamp
        self.is_torgb = geo.is_torgb
        self.affine = FullyConnectedLayer(w_dim, geo.in_channels, bias_init=1.0)
        k = geo.conv_kernel
        self.weight = nn.Parameter(torch.randn(geo.out_channels, geo.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(geo.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        tmp_rate = max(geo.in_sampling_rate, geo.out_sampling_rate) * (1 if geo.is_torgb else lrelu_upsampling)
        self.register_buffer("up_filter", ops.lowpass_filter(geo.up_taps, geo.in_cutoff, geo.in_half_width * 2,
                                                             tmp_rate))
        self.register_buffer("down_filter", ops.lowpass_filter(geo.down_taps, geo.out_cutoff, geo.out_half_width * 2,
                                                               tmp_rate, radial=geo.down_radial))

    def forward(self, x: Tensor, styles: Tensor) -> Tensor:
        """``styles``: this layer's affine output (B, in_channels)."""
        geo = self.geo
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(geo.in_channels * geo.conv_kernel ** 2))
        x = ops.modulated_conv2d(x, self.weight, styles, padding=geo.conv_kernel - 1, demodulate=not self.is_torgb,
                                 input_gain=self.magnitude_ema.rsqrt())
        gain, slope = (1.0, 1.0) if self.is_torgb else (ops.SQRT2, 0.2)
        return ops.filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, geo.up_factor, geo.down_factor,
                                  geo.padding, gain, slope, self.conv_clamp)


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, inp: ops.InputGeometry, layers: list[ops.LayerGeometry], lrelu_upsampling: int,
                 conv_clamp: float | None, output_scale: float):
        super().__init__()
        self.output_scale = output_scale
        self.input = SynthesisInput(w_dim, inp)
        self.layer_names = [g.name for g in layers]
        for g in layers:
            setattr(self, g.name, SynthesisLayer(w_dim, g, lrelu_upsampling, conv_clamp))


class StyleGAN3Generator(ZooModel):
    """StyleGAN3 (-T or -R) generator behind the LatentModel contract and the style_api network API.

    Its submodules keep NVIDIA's names ``mapping`` and ``synthesis`` (so the state_dict does), which the API
    methods of the same names shadow as attributes: the modules are ``mapping_network`` and ``synthesis_network``.
    """

    architecture = "stylegan3"
    noise_mode = "const"  # StyleGAN3 has no noise inputs; kept for the uniform API
    noise_strength: float | Mapping[str, float] | None = None
    noise_seed = 0
    noise_layers: tuple[str, ...] = ()
    draft_resolutions: tuple[int, ...] = ()

    def __init__(self, channels: list[int], img_resolution: int, z_dim: int = 512, w_dim: int = 512, c_dim: int = 0,
                 mapping_layers: int = 2, lr_mlp: float = 0.01, conv_kernel: int = 3,
                 use_radial_filters: bool = False, num_critical: int = 2, first_cutoff: float = 2.0,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, filter_size: int = 6, lrelu_upsampling: int = 2,
                 conv_clamp: float | None = 256.0, latent_space: str = "z", truncation: float = 1.0,
                 truncation_cutoff: int | None = None, info: ModelInfo | None = None):
        api.check_space(latent_space)
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation psi must lie in [0, 1], got {truncation}")
        if channels[-1] not in (1, 3):
            raise ValueError(f"the last layer (ToRGB) must have 1 or 3 channels, got {channels[-1]}")
        inp, geos = ops.layer_geometry(img_resolution, list(channels), num_critical, first_cutoff, first_stopband,
                                       last_stopband_rel, margin_size, conv_kernel, filter_size, lrelu_upsampling,
                                       use_radial_filters)
        self.z_dim, self.w_dim, self.c_dim = int(z_dim), int(w_dim), int(c_dim)
        self.num_ws = len(channels) + 1  # the input, every layer, ToRGB
        self.size = int(img_resolution)
        hp = dict(channels=[int(c) for c in channels], img_resolution=self.size, z_dim=self.z_dim, w_dim=self.w_dim,
                  c_dim=self.c_dim, mapping_layers=mapping_layers, lr_mlp=lr_mlp, conv_kernel=conv_kernel,
                  use_radial_filters=bool(use_radial_filters), num_critical=num_critical, first_cutoff=first_cutoff,
                  first_stopband=first_stopband, last_stopband_rel=last_stopband_rel, margin_size=margin_size,
                  output_scale=output_scale, filter_size=filter_size, lrelu_upsampling=lrelu_upsampling,
                  conv_clamp=conv_clamp, latent_space=latent_space, truncation=truncation,
                  truncation_cutoff=truncation_cutoff)
        info = info or ModelInfo(self.architecture, api.latent_dim(self, latent_space),
                                 (int(channels[-1]), self.size, self.size))
        super().__init__(info, hp)
        self.latent_space, self.truncation, self.truncation_cutoff = latent_space, float(truncation), truncation_cutoff
        # Submodules named as in NVIDIA's state dicts: Module.__setattr__ files them under _modules, so the
        # methods of the same names stay the API (add_module refuses names the class already has).
        self.mapping = MappingNetwork(  # type: ignore[method-assign]  # see above
            self.z_dim, self.c_dim, self.w_dim, mapping_layers, lr_mlp)
        self.synthesis = SynthesisNetwork(  # type: ignore[method-assign]  # see above
            self.w_dim, inp, geos, lrelu_upsampling, conv_clamp, output_scale)
        self.geometry = (inp, geos)
        self.class_vector = api.one_hot(self, 0) if self.c_dim else None
        self.input_transform: Tensor | None = None  # set_input_transform; None: the stored buffer
        L = api.LayerInfo
        self.layers = (L("input", "input", inp.size, inp.channels, 0, 4),) + tuple(
            L(g.name, "torgb" if g.is_torgb else "conv", g.out_size, g.out_channels, g.index + 1, g.in_channels)
            for g in geos)

    @property
    def mapping_network(self) -> MappingNetwork:
        return cast(MappingNetwork, self._modules["mapping"])  # set in __init__; the name is NVIDIA's

    @property
    def synthesis_network(self) -> SynthesisNetwork:
        return cast(SynthesisNetwork, self._modules["synthesis"])

    @classmethod
    def from_config(cls, config: str, img_resolution: int, img_channels: int = 3, channel_base: int | None = None,
                    channel_max: int | None = None, num_layers: int = 14, **kwargs: Any) -> StyleGAN3Generator:
        """A freshly initialised generator sized as NVIDIA's train.py sizes ``--cfg stylegan3-t|stylegan3-r``."""
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {', '.join(CONFIGS)}, got {config!r}")
        cfg = CONFIGS[config]
        channels = ops.reference_channels(img_resolution, img_channels, channel_base or cfg["channel_base"],
                                          channel_max or cfg["channel_max"], num_layers,
                                          kwargs.get("num_critical", 2), kwargs.get("first_cutoff", 2.0))
        kwargs.setdefault("conv_kernel", cfg["conv_kernel"])
        kwargs.setdefault("use_radial_filters", cfg["use_radial_filters"])
        return cls(channels, img_resolution, **kwargs)

    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        """Sizes from NVIDIA-named tensors: mapping widths and classes, channels per layer (and the image
        size, from the last layer's name), kernel size, radial filters."""
        import re

        n_fc = 0
        while f"mapping.fc{n_fc}.weight" in shapes:
            n_fc += 1
        if n_fc == 0:
            raise KeyError("mapping.fc0.weight")
        w_dim = shapes["mapping.fc0.weight"][0]
        c_dim, embed = (shapes["mapping.embed.weight"][1], shapes["mapping.embed.weight"][0]) \
            if "mapping.embed.weight" in shapes else (0, 0)
        layers: dict[int, tuple[int, tuple[int, ...]]] = {}
        radial = False
        for key, shape in shapes.items():
            m = re.match(_LAYER + r"(weight|down_filter)$", key)
            if m and m.group(4) == "weight":
                layers[int(m.group(1))] = (int(m.group(2)), shape)
            elif m:
                radial = radial or len(shape) == 2
        if not layers:
            raise KeyError("synthesis.L0_*.weight")
        n = max(layers)
        missing = [i for i in range(n + 1) if i not in layers]
        if missing:
            raise KeyError(f"synthesis.L{missing[0]}_*.weight")
        if "synthesis.input.weight" not in shapes:
            raise KeyError("synthesis.input.weight")
        return dict(channels=[layers[i][1][0] for i in range(n + 1)], img_resolution=layers[n][0],
                    z_dim=shapes["mapping.fc0.weight"][1] - embed, w_dim=w_dim, c_dim=c_dim, mapping_layers=n_fc,
                    conv_kernel=layers[0][1][-1], use_radial_filters=radial)

    # --- mapping ----------------------------------------------------------------------------------------------
    def mapping(self, z: Tensor, c: Any = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        """z (B, z_dim) -> ws (B, num_ws, w_dim); see style_api."""
        api.check_z(self, z)
        w = self.mapping_network(z, api.class_labels(self, c, z.shape[0], z.device))
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        return api.truncate(ws, self.w_avg, float(truncation_psi), truncation_cutoff)

    def map(self, z: Tensor, truncation: float | None = None, c: Any = None) -> Tensor:
        """z -> one w (B, w_dim), truncated with psi (the view's by default)."""
        psi = self.truncation if truncation is None else truncation
        return self.mapping(z, c, psi)[:, 0]

    @property
    def w_avg(self) -> Tensor:
        return self.mapping_network.w_avg

    def one_hot(self, index: int) -> Tensor:
        return api.one_hot(self, index)

    # --- the input transform ----------------------------------------------------------------------------------
    @staticmethod
    def transform_matrix(translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> Tensor:
        """The ``transform`` that moves the image by ``translate`` (image widths) and turns it by ``rotate``
        (full turns), as NVIDIA's visualizer builds it (the inverse of the user's transform)."""
        a = rotate * 2 * np.pi
        m = np.array([[np.cos(a), np.sin(a), translate[0]], [-np.sin(a), np.cos(a), translate[1]], [0, 0, 1]])
        return torch.as_tensor(np.linalg.inv(m), dtype=torch.float32)

    def set_input_transform(self, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0,
                            matrix: Tensor | None = None) -> None:
        """Translate / rotate the Fourier features of this object only (the stored buffer is kept; views made
        from it before do not change). ``matrix``: a 3x3 inverse transform given directly; all defaults: back
        to the stored transform. For a model the preview shows, make a view instead:
        ``style_view(model, input_transform=(tx, ty, turns))``."""
        if matrix is None and tuple(translate) == (0.0, 0.0) and rotate == 0.0:
            self.input_transform = None
            return
        m = self.transform_matrix(translate, rotate) if matrix is None else torch.as_tensor(matrix, dtype=torch.float32)
        if tuple(m.shape) != (3, 3) or not torch.isfinite(m).all():
            raise BadInput(f"an input transform must be a finite 3x3 matrix, got shape {tuple(m.shape)}")
        self.input_transform = m

    # --- synthesis --------------------------------------------------------------------------------------------
    def synthesis(self, ws: Tensor | None, *, noise_mode: str = "const",
                  noise_strength: float | Mapping[str, float] | None = None,
                  styles: Mapping[str, Tensor] | None = None, capture: str | None = None,
                  stop_at_resolution: int | None = None, generator: torch.Generator | None = None) -> Any:
        """ws -> images in about [-1, 1] (with ``capture``: (images, activations)); see style_api."""
        if stop_at_resolution is not None:
            raise BadInput("StyleGAN3 has no draft resolutions: its layers carry no image before the last")
        img, act = self._run(ws, styles, noise_mode, noise_strength, capture, stop_at_capture=False)
        return (img, act) if capture is not None else img

    def activations(self, ws: Tensor | None, layer: str, *, noise_mode: str = "const",
                    noise_strength: float | Mapping[str, float] | None = None,
                    styles: Mapping[str, Tensor] | None = None, generator: torch.Generator | None = None) -> Tensor:
        """The output of synthesis layer ``layer``; nothing after it is computed."""
        out = self._run(ws, styles, noise_mode, noise_strength, layer, stop_at_capture=True)[1]
        assert out is not None  # _run checked the layer's name: it is captured
        return out

    def style_vectors(self, ws: Tensor) -> dict[str, Tensor]:
        """StyleSpace: {layer name: its affine output}; "input" is (B, 4), the Fourier features' transform."""
        ws = api.as_ws(self, ws)
        net = self.synthesis_network
        out = {"input": net.input.affine(ws[:, 0])}
        for i, name in enumerate(net.layer_names):
            out[name] = getattr(net, name).affine(ws[:, i + 1])
        return out

    def _run(self, ws: Tensor | None, styles: Mapping[str, Tensor] | None, noise_mode: str,
             noise_strength: float | Mapping[str, float] | None, capture: str | None,
             stop_at_capture: bool) -> tuple[Tensor | None, Tensor | None]:
        ws = api.as_ws(self, ws, styles)
        api.check_styles(self, styles, api.batch_size(ws, styles))
        api.check_noise_mode(noise_mode)
        api.noise_multipliers(self, noise_strength)  # no noise inputs: rejects per-layer strengths
        if capture is not None:
            api.layer_index(self, capture)
        styles = styles or {}
        net = self.synthesis_network
        ws_f = None if ws is None else ws.to(torch.float32)

        def style(name: str, index: int, module: SynthesisInput | SynthesisLayer) -> Tensor:
            s = styles.get(name)
            if s is None:
                assert ws_f is not None  # as_ws refused a call with neither ws nor every style
                s = module.affine(ws_f[:, index])
            return s

        x = net.input(style("input", 0, net.input), self.input_transform)
        captured = x if capture == "input" else None
        if captured is not None and stop_at_capture:
            return None, captured
        for i, name in enumerate(net.layer_names):
            layer = getattr(net, name)
            x = layer(x, style(name, i + 1, layer))
            if name == capture:
                captured = x
                if stop_at_capture:
                    return None, captured
        if net.output_scale != 1:
            x = x * net.output_scale
        return x.to(torch.float32), captured

    # --- LatentModel --------------------------------------------------------------------------------------
    def decode(self, latent: Tensor) -> Tensor:
        return api.to_unit(self.synthesis(api.latent_to_ws(self, latent)))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.z_dim, generator=generator).to(self.device)
        if self.latent_space == "z":
            return z
        with torch.no_grad():
            ws = self.mapping(z, None, self.truncation, self.truncation_cutoff)
        return ws[:, 0] if self.latent_space == "w" else ws.reshape(n, -1)

    @property
    def latent_mean(self) -> Tensor:
        if self.latent_space == "w":
            return self.w_avg.detach()
        if self.latent_space == "w+":
            return self.w_avg.detach().repeat(self.num_ws)
        return torch.zeros(self.z_dim, device=self.device)
