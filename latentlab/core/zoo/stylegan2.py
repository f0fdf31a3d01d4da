"""A StyleGAN2 generator (Karras et al. 2020) in plain PyTorch: no compiled custom ops (a network other code
bases train; ``latentlab.core.formats`` maps their checkpoints onto it).

Parameter and buffer names follow the widely used rosinality ``stylegan2-pytorch`` layout, so its ``g_ema``
state_dicts load directly; NVIDIA's StyleGAN2-ADA weights are renamed onto it (``nvidia.py``). Pieces:
a mapping MLP with equalized learning rate (z -> w; with ``c_dim > 0`` the StyleGAN2-ADA class embedding,
normalised and concatenated to the normalised z), a learned constant 4x4 input, modulated 3x3 convolutions
with weight demodulation, per-layer noise (the stored noise maps by default, so decoding is deterministic),
and skip ToRGB layers summed through a [1, 3, 3, 1] up-sampling filter. Channels per resolution are read
from the weights, so every channel multiplier (config-e, config-f, rosinality's ``channel_multiplier``) and
every size from 4 px to 1024 px and beyond opens.

The network-level API (mapping, synthesis with noise / styles / capture / early stop, StyleSpace) is the one
``style_api.py`` documents for all style-based generators. The model's latent is z by default;
``latent_space="w"`` makes it a view whose latent is w (one w broadcast to every layer), "w+" one w per
layer; truncation (psi < 1, optionally on the first ``truncation_cutoff`` layers only) pulls w towards the
average w of the mapping network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo
from latentlab.core.progressive import StopDecoding
from latentlab.core.zoo import style_api as api
from latentlab.core.zoo.models import ZooModel
from latentlab.core.zoo.stylegan2_layers import (  # noqa: F401  (re-exported: the layers' historical home)
    Blur,
    ConstantInput,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    StyledConv,
    ToRGB,
    Upsample,
    fused_leaky_relu,
    make_kernel,
    upfirdn2d,
)

SPACES = api.SPACES


class StyleGAN2Generator(ZooModel):
    """StyleGAN2 generator behind the LatentModel contract; images come out in [0, 1]."""

    architecture = "stylegan2"
    optional_state = ("latent_avg",)  # older rosinality files lack it; it is then estimated (fill_missing_state)
    noise_mode = "const"  # what decode uses; style_api.style_view makes views with other settings
    noise_strength: float | Mapping[str, float] | None = None
    noise_seed = 0
    latent_avg: Tensor  # a buffer

    def __init__(self, channels: list[int], mapping: list[int], img_channels: int = 3, lr_mlp: float = 0.01,
                 conv_clamp: float | None = None, latent_space: str = "z", truncation: float = 1.0,
                 c_dim: int = 0, embed_dim: int | None = None, truncation_cutoff: int | None = None,
                 info: ModelInfo | None = None):
        if len(channels) < 1 or len(mapping) < 2:
            raise ValueError("StyleGAN2 needs channels for at least the 4x4 block and a mapping of >= 1 layer")
        api.check_space(latent_space)
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation psi must lie in [0, 1], got {truncation}")
        if c_dim < 0:
            raise ValueError(f"c_dim must be >= 0, got {c_dim}")
        self.size = self._image_size(len(channels))
        self.z_dim, self.w_dim, self.c_dim = mapping[0], mapping[-1], int(c_dim)
        self.num_layers = 2 * (len(channels) - 1) + 1
        self.n_latent = self.num_ws = 2 * len(channels)  # ws per image: one per conv plus the last ToRGB
        info = info or ModelInfo(self.architecture, api.latent_dim(self, latent_space),
                                 (img_channels, self.size, self.size))
        embed = (embed_dim or self.w_dim) if c_dim else None
        super().__init__(info, dict(channels=list(channels), mapping=list(mapping), img_channels=img_channels,
                                    lr_mlp=lr_mlp, conv_clamp=conv_clamp, latent_space=latent_space,
                                    truncation=truncation, c_dim=self.c_dim, embed_dim=embed,
                                    truncation_cutoff=truncation_cutoff))
        self.latent_space, self.truncation, self.truncation_cutoff = latent_space, float(truncation), truncation_cutoff
        if embed is not None:  # c_dim
            self.embed = EqualLinear(c_dim, embed)
        widths = [self.z_dim + (embed or 0)] + list(mapping[1:])
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(a, b, lr_mul=lr_mlp, activate=True) for a, b in zip(widths[:-1], widths[1:], strict=True)
        ])
        self.input = ConstantInput(channels[0])
        self.conv1 = StyledConv(channels[0], channels[0], self.w_dim, clamp=conv_clamp)
        self.to_rgb1 = self._to_rgb(channels[0], img_channels, upsample=False, clamp=conv_clamp)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        for prev, ch in zip(channels[:-1], channels[1:], strict=True):
            self.convs.append(StyledConv(prev, ch, self.w_dim, upsample=True, clamp=conv_clamp))
            self.convs.append(StyledConv(ch, ch, self.w_dim, clamp=conv_clamp))
            self.to_rgbs.append(self._to_rgb(ch, img_channels, upsample=True, clamp=conv_clamp))
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 4 * 2 ** ((i + 1) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        self.register_buffer("latent_avg", torch.zeros(self.w_dim))
        self.class_vector = api.one_hot(self, 0) if c_dim else None
        self.layers = self._layer_table(list(channels), img_channels)
        self.noise_layers = tuple(x.name for x in self.layers if x.has_noise)
        self.draft_resolutions = tuple(self._image_res(x.resolution) for x in self.layers if x.kind == "torgb")

    # --- what SWAGAN changes ----------------------------------------------------------------------------------
    @staticmethod
    def _image_size(n_blocks: int) -> int:
        return 4 * 2 ** (n_blocks - 1)

    def _to_rgb(self, ch: int, img_channels: int, upsample: bool, clamp: float | None) -> nn.Module:
        return ToRGB(ch, self.w_dim, img_channels, upsample=upsample, clamp=clamp)

    def _rgb_channels(self, img_channels: int) -> int:
        return img_channels

    def _image_res(self, block_res: int) -> int:
        return block_res

    def _skip_image(self, skip: Tensor) -> Tensor:
        return skip

    # --- sizes ------------------------------------------------------------------------------------------------
    @classmethod
    def hparams_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        """Sizes from a rosinality-layout state_dict: channels per resolution, mapping widths, colours, classes."""
        n_mlp = 0
        while f"style.{n_mlp + 1}.weight" in shapes:
            n_mlp += 1
        if n_mlp == 0:
            raise KeyError("style.1.weight")
        c_dim, embed = (shapes["embed.weight"][1], shapes["embed.weight"][0]) if "embed.weight" in shapes else (0, 0)
        mapping = [shapes["style.1.weight"][1] - embed] + [shapes[f"style.{i}.weight"][0] for i in range(1, n_mlp + 1)]
        channels = [shapes["input.input"][1]]
        k = 0
        while f"convs.{k}.conv.weight" in shapes:
            channels.append(shapes[f"convs.{k}.conv.weight"][1])
            k += 2
        hp = dict(channels=channels, mapping=mapping, img_channels=cls._colours(shapes["to_rgb1.conv.weight"][1]),
                  c_dim=c_dim)
        if c_dim:
            hp["embed_dim"] = embed
        return hp

    @staticmethod
    def _colours(rgb_out: int) -> int:
        return rgb_out

    def _layer_table(self, channels: list[int], img_channels: int) -> tuple[api.LayerInfo, ...]:
        rgb = self._rgb_channels(img_channels)
        L = api.LayerInfo
        rows = [L("input", "input", 4, channels[0], None, 0),
                L("b4.conv1", "conv", 4, channels[0], 0, channels[0], True),
                L("b4.torgb", "torgb", 4, rgb, 1, channels[0])]
        for k, (prev, ch) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
            r = 8 * 2 ** k
            rows += [L(f"b{r}.conv0", "conv", r, ch, 2 * k + 1, prev, True),
                     L(f"b{r}.conv1", "conv", r, ch, 2 * k + 2, ch, True),
                     L(f"b{r}.torgb", "torgb", r, rgb, 2 * k + 3, ch)]
        return tuple(rows)

    def _plan(self) -> list[tuple[api.LayerInfo, Any, int | None]]:
        """(layer, module, noise buffer index) for every layer after the constant input; the modules are
        StyledConv and ToRGB, or the subclass's own kinds of them (duck-typed: conv, run, rgb, add_skip)."""
        out: list[tuple[api.LayerInfo, Any, int | None]] = [
            (self.layers[1], self.conv1, 0), (self.layers[2], self.to_rgb1, None)]
        for k in range(len(self.to_rgbs)):
            info = self.layers[3 + 3 * k: 6 + 3 * k]
            out += [(info[0], self.convs[2 * k], 2 * k + 1), (info[1], self.convs[2 * k + 1], 2 * k + 2),
                    (info[2], self.to_rgbs[k], None)]
        return out

    def draft_cost(self, resolution: int) -> float:
        """Multiply-adds of the convolutions up to the draft at ``resolution``, over the whole synthesis's."""
        if resolution not in self.draft_resolutions:
            raise BadInput(f"no draft at {resolution} px", f"drafts: {', '.join(map(str, self.draft_resolutions))}")
        done = total = 0.0
        for layer, module, _ in self._plan():
            k, r = module.conv.k, layer.resolution
            # an up-sampling conv runs (transposed, stride 2) at its input's resolution
            cost = layer.style_dim * layer.channels * k * k * (r // 2 if module.conv.upsample else r) ** 2
            total += cost
            if self._image_res(layer.resolution) <= resolution:
                done += cost
        return done / total

    # --- mapping ----------------------------------------------------------------------------------------------
    def _mlp(self, z: Tensor, c: Tensor | None) -> Tensor:
        if c is None:
            return self.style(z)
        y = self.style[0](self.embed(c))
        x = torch.cat([self.style[0](z), y], dim=1)
        for layer in list(self.style)[1:]:
            x = layer(x)
        return x

    def map(self, z: Tensor, truncation: float | None = None, c: Any = None) -> Tensor:
        """z -> one w (B, w_dim), truncated towards the average w when psi < 1."""
        w = self._mlp(z, api.class_labels(self, c, z.shape[0], z.device))
        psi = self.truncation if truncation is None else truncation
        return w if psi == 1.0 else self.latent_avg + psi * (w - self.latent_avg)

    def mapping(self, z: Tensor, c: Any = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        """z (B, z_dim) -> ws (B, num_ws, w_dim); see style_api."""
        api.check_z(self, z)
        w = self._mlp(z, api.class_labels(self, c, z.shape[0], z.device))
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        return api.truncate(ws, self.latent_avg, float(truncation_psi), truncation_cutoff)

    @property
    def w_avg(self) -> Tensor:
        return self.latent_avg

    def one_hot(self, index: int) -> Tensor:
        return api.one_hot(self, index)

    # --- synthesis --------------------------------------------------------------------------------------------
    def synthesis(self, ws: Tensor | None, *, noise_mode: str = "const",
                  noise_strength: float | Mapping[str, float] | None = None,
                  styles: Mapping[str, Tensor] | None = None, capture: str | None = None,
                  stop_at_resolution: int | None = None, generator: torch.Generator | None = None) -> Any:
        """ws -> images in about [-1, 1] (with ``capture``: (images, activations)); see style_api."""
        ws = api.as_ws(self, ws, styles)
        batch = api.batch_size(ws, styles)
        api.check_styles(self, styles, batch)
        api.check_noise_mode(noise_mode)
        mult = api.noise_multipliers(self, noise_strength)
        if stop_at_resolution is not None:
            if stop_at_resolution not in self.draft_resolutions:
                raise BadInput(f"no draft at {stop_at_resolution} px",
                               f"drafts: {', '.join(map(str, self.draft_resolutions))}")
            if capture is not None and self._image_res(
                    self.layers[api.layer_index(self, capture)].resolution) > stop_at_resolution:
                raise BadInput(f"layer {capture!r} comes after the draft at {stop_at_resolution} px")
        if capture is not None:
            api.layer_index(self, capture)
        img, act = self._run(ws, styles or {}, batch, noise_mode, mult, generator, capture, False, stop_at_resolution)
        return (img, act) if capture is not None else img

    def activations(self, ws: Tensor | None, layer: str, *, noise_mode: str = "const",
                    noise_strength: float | Mapping[str, float] | None = None,
                    styles: Mapping[str, Tensor] | None = None, generator: torch.Generator | None = None) -> Tensor:
        """The output of synthesis layer ``layer``; nothing after it is computed."""
        api.layer_index(self, layer)
        ws = api.as_ws(self, ws, styles)
        batch = api.batch_size(ws, styles)
        api.check_styles(self, styles, batch)
        mult = api.noise_multipliers(self, noise_strength)
        out = self._run(ws, styles or {}, batch, api.check_noise_mode(noise_mode), mult, generator, layer, True,
                        None)[1]
        assert out is not None  # layer_index checked the name: it is captured
        return out

    def style_vectors(self, ws: Tensor) -> dict[str, Tensor]:
        """StyleSpace: {layer name: its modulation's output (B, in_channels)} for every modulated layer."""
        ws = api.as_ws(self, ws)
        return {layer.name: module.conv.modulation(ws[:, layer.ws_index]) for layer, module, _ in self._plan()}

    def synthesize(self, w: Tensor) -> Tensor:
        """w (B, w_dim) or per-layer ws (B, n_latent, w_dim) -> images in about [-1, 1] (stored noise)."""
        return self.synthesis(w)

    def _noise(self, index: int, layer: api.LayerInfo, batch: int, mode: str, mult: dict[str, float],
               generator: torch.Generator | None, like: Tensor) -> Tensor | None:
        if mode == "none":
            return None
        if mode == "const":
            noise = getattr(self.noises, f"noise_{index}")
        else:
            r = layer.resolution
            noise = torch.randn(batch, 1, r, r, generator=generator, device=like.device, dtype=like.dtype)
        m = mult.get(layer.name)
        return noise if m is None else noise * m

    def _run(self, ws: Tensor | None, styles: Mapping[str, Tensor], batch: int, mode: str, mult: dict[str, float],
             generator: torch.Generator | None, capture: str | None, stop_at_capture: bool,
             stop_res: int | None, on_rgb: Callable[[int, Tensor], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[Tensor | None, Tensor | None]:
        x = self.input.input.expand(batch, -1, -1, -1)
        captured = x if capture == "input" else None
        if captured is not None and stop_at_capture:
            return None, captured
        skip = None
        for layer, module, noise_index in self._plan():
            if should_stop is not None and should_stop():
                raise StopDecoding()
            s = styles.get(layer.name)
            if s is None:
                assert ws is not None  # as_ws refused a call with neither ws nor every style
                s = module.conv.modulation(ws[:, layer.ws_index])
            if layer.kind == "conv":
                assert noise_index is not None  # every conv layer has a noise buffer
                x = out = module.run(x, s, self._noise(noise_index, layer, batch, mode, mult, generator, x))
            else:
                out = module.rgb(x, s)
                skip = module.add_skip(out, skip)
            if layer.name == capture:
                captured = out
                if stop_at_capture:
                    return None, captured
            if layer.kind == "torgb" and on_rgb is not None:
                assert skip is not None  # a torgb layer has just added to it
                on_rgb(self._image_res(layer.resolution), self._skip_image(skip))
            if layer.kind == "torgb" and stop_res is not None and self._image_res(layer.resolution) == stop_res:
                break
        assert skip is not None  # the plan ends in a ToRGB, and a draft stops at one
        return self._skip_image(skip), captured

    # --- LatentModel --------------------------------------------------------------------------------------
    @property
    def traceable(self) -> bool:
        return self.noise_mode != "random"  # a seeded generator inside decode does not trace

    def decode(self, latent: Tensor) -> Tensor:
        ws = api.latent_to_ws(self, latent)
        return api.to_unit(self.synthesis(ws, **api.decode_options(self, latent.device)))

    def decode_levels(self, latent: Tensor, on_level: Callable[[int, Tensor], None] | None = None,
                      should_stop: Callable[[], bool] | None = None, stop_at: int | None = None) -> Tensor:
        """``decode``, handing over the skip-connection RGB after each block (in [0, 1], at its resolution).

        The image of the last level is exactly ``decode``'s. ``should_stop`` is asked before every layer
        (``StopDecoding`` when it says so); ``stop_at`` ends at that draft resolution (progressive previews).
        """
        ws = api.latent_to_ws(self, latent)
        opts = api.decode_options(self, latent.device)
        mult = api.noise_multipliers(self, opts.get("noise_strength"))
        emit = (lambda res, rgb: on_level(res, api.to_unit(rgb))) if on_level is not None else None
        img, _ = self._run(ws, {}, ws.shape[0], api.check_noise_mode(opts["noise_mode"]), mult, opts.get("generator"),
                           None, False, stop_at, emit, should_stop)
        assert img is not None  # no capture was asked for, so the run went to an image
        return api.to_unit(img)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.z_dim, generator=generator).to(self.device)
        if self.latent_space == "z":
            return z
        with torch.no_grad():
            if self.latent_space == "w":
                return self.map(z)
            return self.mapping(z, None, self.truncation, self.truncation_cutoff).reshape(n, -1)

    @property
    def latent_mean(self) -> Tensor:
        """The centre of the latent distribution (the average w in w and w+ space)."""
        if self.latent_space == "w":
            return self.latent_avg.detach()
        if self.latent_space == "w+":
            return self.latent_avg.detach().repeat(self.num_ws)
        return torch.zeros(self.z_dim, device=self.device)

    def fill_missing_state(self, keys: list[str]) -> None:
        if "latent_avg" in keys:
            self.estimate_latent_avg()

    @torch.no_grad()
    def estimate_latent_avg(self, n: int = 4096, seed: int = 0) -> Tensor:
        """Average w over ``n`` seeded z samples (for checkpoints that do not store it); classes drawn uniformly."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=g).to(self.device)
        c = None if not self.c_dim else torch.randint(0, self.c_dim, (n,), generator=g).to(self.device)
        ws = [self._mlp(z[i:i + 1024], None if c is None else api.class_labels(self, c[i:i + 1024], len(z[i:i + 1024]),
                                                                                z.device))
              for i in range(0, n, 1024)]
        avg = torch.cat(ws).mean(0)
        self.latent_avg.copy_(avg)
        return avg


def stylegan2_view(model: StyleGAN2Generator, space: str = "w", truncation: float | None = None) -> StyleGAN2Generator:
    """The same generator (shared weights) seen through latent ``space`` ("z", "w" or "w+") and truncation psi."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    return api.style_view(model, space, truncation)
