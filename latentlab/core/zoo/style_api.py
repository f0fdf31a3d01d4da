"""The network-level API of latentlab's style-based generators (StyleGAN2, SWAGAN, StyleGAN3), in one place.

The explorer drives every generator below through these names only, never through a class name
(``isinstance(model, StyleGenerator)`` says a model has them). A generator is also a ``LatentModel``: its
``decode`` works in one latent space (``latent_space``: "z", "w" or "w+"; ``style_view`` gives another view
of the same weights). Images from ``synthesis`` are in NVIDIA's range, about [-1, 1]; ``to_unit`` maps
them to [0, 1] the way ``decode`` does.

Attributes
    ``z_dim``, ``w_dim``, ``c_dim`` (0 unless class-conditional), ``num_ws`` (ws per image: the W+ layout),
    ``w_avg`` (the stored average w, (w_dim,)), ``layers`` (``LayerInfo`` per synthesis layer, in order: a
    layer picker's list), ``noise_layers`` (names of the layers with a noise input; none in StyleGAN3),
    ``draft_resolutions`` (what ``stop_at_resolution`` accepts; empty for StyleGAN3, whose layers carry no
    image until the last), ``class_vector`` (the class ``decode`` and ``mapping(c=None)`` use: a one-hot
    (c_dim,) tensor; None when unconditional; set it with ``style_view(model, c=...)``).

``mapping(z, c=None, truncation_psi=1.0, truncation_cutoff=None) -> ws (B, num_ws, w_dim)``
    z (B, z_dim) to one w per synthesis input. Truncation pulls the first ``truncation_cutoff`` ws (all when
    None) towards ``w_avg``: w_avg + psi (w - w_avg), as NVIDIA's mapping network does. ``c`` (c_dim > 0): a
    (B, c_dim) float label (one-hot, or a blend of classes for class interpolation), a class index (int),
    or a (B,) integer tensor of indices; None is the model's ``class_vector``.

``synthesis(ws, *, noise_mode="const", noise_strength=None, styles=None, capture=None,
stop_at_resolution=None, generator=None) -> images (B, C, H, W)``
    ws (B, num_ws, w_dim), or (B, w_dim) for one w on every layer. ``noise_mode``: "const" (the noise maps
    stored with the weights: deterministic), "random" (fresh normal noise, from ``generator`` when given,
    so a seed reproduces it) or "none". ``noise_strength``: None (as trained), one multiplier of every
    layer's learned strength, or {layer name: multiplier} for chosen layers. ``styles``: {layer name:
    (B, style_dim)} style vectors (StyleSpace) that replace what the layers' affines compute from ws, e.g.
    ``style_vectors(ws)`` edited; with a style for every layer ws may be None. ``capture``: a layer name;
    the call then returns (images, that layer's output). ``stop_at_resolution`` (StyleGAN2 / SWAGAN): end at
    that block and return the running skip-connection RGB at its native size (a cheap draft; see
    ``draft_cost``); ``to_full_size`` upsamples it for display.

``style_vectors(ws) -> {layer name: (B, style_dim)}``
    StyleSpace S (Wu et al., CVPR 2021): each layer's affine output for its w, before the modulation.
    StyleGAN3's "input" style is its Fourier features' learned (cos, sin, tx, ty) transform.

``activations(ws, layer, **synthesis options) -> Tensor``
    One layer's output; the synthesis stops there (cheaper than ``capture``).

``one_hot(index) -> (c_dim,)``; ``draft_cost(resolution) -> float``: multiply-adds of the synthesis up to
that draft resolution over those of the whole synthesis.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from latentlab.core.choices import NOISE_MODES, SPACES  # noqa: F401 - re-exported (the UI reads them torch-free)
from latentlab.core.errors import BadInput
from latentlab.core.model import ModelInfo


@dataclass(frozen=True)
class LayerInfo:
    """One synthesis layer as a layer picker shows it."""

    name: str          # the key for capture / styles / noise_strength ("b64.conv0", "L3_52_512", "input")
    kind: str          # "input", "conv" or "torgb"
    resolution: int    # side of its output feature map (StyleGAN3: including the margin)
    channels: int      # channels of its output
    ws_index: int | None  # which of the num_ws ws modulates it (None: the StyleGAN2 constant input)
    style_dim: int     # length of its style vector (0: it has none)
    has_noise: bool = False


@runtime_checkable
class StyleGenerator(Protocol):
    z_dim: int
    w_dim: int
    c_dim: int
    num_ws: int
    layers: tuple[LayerInfo, ...]

    def mapping(self, z: Tensor, c: Any = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor: ...

    def synthesis(self, ws: Tensor | None, **options: Any) -> Any: ...

    def style_vectors(self, ws: Tensor) -> dict[str, Tensor]: ...


# --- shared helpers --------------------------------------------------------------------------------------------

def to_unit(images: Tensor) -> Tensor:
    """NVIDIA's [-1, 1] image range to [0, 1], clamped."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)


def to_full_size(images: Tensor, size: int, mode: str = "bilinear") -> Tensor:
    """A draft image upsampled to ``size`` pixels (for showing it where the full image goes)."""
    if images.shape[-1] == size:
        return images
    if mode == "nearest":
        return F.interpolate(images, size=(size, size), mode="nearest")
    return F.interpolate(images, size=(size, size), mode=mode, align_corners=False)


def layer_index(model: Any, name: str) -> int:
    for i, layer in enumerate(model.layers):
        if layer.name == name:
            return i
    names = ", ".join(x.name for x in model.layers)
    raise BadInput(f"no synthesis layer named {name!r}", f"the layers are {names}")


def check_noise_mode(mode: str) -> str:
    if mode not in NOISE_MODES:
        raise BadInput(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {mode!r}")
    return mode


def noise_multipliers(model: Any, strength: float | Mapping[str, float] | None) -> dict[str, float]:
    """{noise layer: multiplier} for the layers whose noise is scaled (empty: all as trained)."""
    if strength is None:
        return {}
    if isinstance(strength, Mapping):
        unknown = sorted(set(strength) - set(model.noise_layers))
        if unknown:
            have = ", ".join(model.noise_layers) or "none: this generator has no noise inputs"
            raise BadInput(f"no noise input in layer(s) {', '.join(map(str, unknown))}", f"noise layers: {have}")
        out = {k: float(v) for k, v in strength.items()}
    else:
        out = {name: float(strength) for name in model.noise_layers}
    if not all(math.isfinite(v) for v in out.values()):
        raise BadInput("noise strengths must be finite numbers")
    return {k: v for k, v in out.items() if v != 1.0}


@overload
def as_ws(model: Any, ws: Tensor, styles: Mapping[str, Tensor] | None = None) -> Tensor: ...
@overload
def as_ws(model: Any, ws: Tensor | None, styles: Mapping[str, Tensor] | None = None) -> Tensor | None: ...
def as_ws(model: Any, ws: Tensor | None, styles: Mapping[str, Tensor] | None = None) -> Tensor | None:
    """ws as (B, num_ws, w_dim); (B, w_dim) is one w broadcast to every layer. None only with every style given."""
    if ws is None:
        needed = [x.name for x in model.layers if x.style_dim > 0]
        missing = [n for n in needed if not styles or n not in styles]
        if missing:
            raise BadInput(f"no ws given and no style vector for layer(s) {', '.join(missing[:4])}")
        return None
    # While tracing (the preview's TorchScript decode) sizes are tensors: the shape checks are skipped there.
    if ws.ndim == 2 and (tracing() or ws.shape[1] == model.w_dim):
        return ws.unsqueeze(1).expand(-1, model.num_ws, -1)
    if ws.ndim == 3 and (tracing() or tuple(ws.shape[1:]) == (model.num_ws, model.w_dim)):
        return ws
    raise BadInput(f"ws must be (B, {model.num_ws}, {model.w_dim}) or (B, {model.w_dim}), "
                   f"got {tuple(ws.shape)}")


def tracing() -> bool:
    return torch.jit.is_tracing()


def check_z(model: Any, z: Tensor) -> None:
    if z.ndim != 2 or (not tracing() and z.shape[1] != model.z_dim):
        raise BadInput(f"z must be (B, {model.z_dim}), got {tuple(z.shape)}")


def batch_size(ws: Tensor | None, styles: Mapping[str, Tensor] | None) -> int:
    if ws is not None:
        return ws.shape[0]
    assert styles is not None  # as_ws refused a call with neither ws nor every style
    return next(iter(styles.values())).shape[0]


def check_styles(model: Any, styles: Mapping[str, Tensor] | None, batch: int) -> None:
    for name, s in (styles or {}).items():
        layer = model.layers[layer_index(model, name)]
        if layer.style_dim == 0:
            raise BadInput(f"layer {name!r} has no style vector")
        if tuple(s.shape) != (batch, layer.style_dim):
            raise BadInput(f"the style of {name!r} must be ({batch}, {layer.style_dim}), got {tuple(s.shape)}")


def truncate(ws: Tensor, w_avg: Tensor, psi: float, cutoff: int | None) -> Tensor:
    """ws (B, num_ws, w_dim) pulled towards w_avg on the first ``cutoff`` layers (all when None)."""
    if psi == 1.0:
        return ws
    if not math.isfinite(psi):
        raise BadInput(f"truncation psi must be a finite number, got {psi}")
    if cutoff is None or cutoff >= ws.shape[1]:
        return w_avg + psi * (ws - w_avg)
    if cutoff < 0:
        raise BadInput(f"truncation_cutoff must be >= 0, got {cutoff}")
    head = w_avg + psi * (ws[:, :cutoff] - w_avg)
    return torch.cat([head, ws[:, cutoff:]], dim=1)


def class_labels(model: Any, c: Any, batch: int, device: torch.device) -> Tensor | None:
    """c in any accepted form as a float (B, c_dim) label; None for unconditional models."""
    if model.c_dim == 0:
        if c is not None:
            raise BadInput("this generator is not class-conditional (c_dim = 0); give no class")
        return None
    if c is None:
        c = model.class_vector
    if isinstance(c, int):
        c = model.one_hot(c)
    c = c.to(device) if isinstance(c, Tensor) else torch.as_tensor(c, device=device)
    if not c.is_floating_point():
        if c.ndim != 1:
            raise BadInput(f"class indices must be a (B,) tensor, got shape {tuple(c.shape)}")
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= model.c_dim):
            raise BadInput(f"class indices must lie in [0, {model.c_dim - 1}]")
        c = F.one_hot(c.long(), model.c_dim).float()
    if c.ndim == 1:
        c = c.unsqueeze(0).expand(batch, -1)  # one label for the whole batch (decode's class)
    if tracing():  # sizes are tensors while tracing; the label is the model's own
        return c.float()
    if c.shape[-1] != model.c_dim:
        raise BadInput(f"a class label must have {model.c_dim} entries, got {c.shape[-1]}")
    if c.shape[0] == 1:
        c = c.expand(batch, -1)
    if c.shape[0] != batch:
        raise BadInput(f"{c.shape[0]} class labels for a batch of {batch}")
    return c.float()


def one_hot(model: Any, index: int) -> Tensor:
    if model.c_dim == 0:
        raise BadInput("this generator is not class-conditional (c_dim = 0)")
    if not 0 <= int(index) < model.c_dim:
        raise BadInput(f"class index {index} outside [0, {model.c_dim - 1}]")
    v = torch.zeros(model.c_dim)
    v[int(index)] = 1.0
    return v


# --- the LatentModel side: latent spaces and views -----------------------------------------------------------------

def latent_dim(model: Any, space: str) -> int:
    return {"z": model.z_dim, "w": model.w_dim, "w+": model.num_ws * model.w_dim}[space]


def latent_to_ws(model: Any, latent: Tensor) -> Tensor:
    """A latent of the model's space to ws (B, num_ws, w_dim), with the view's truncation and class."""
    if model.latent_space == "z":
        return model.mapping(latent, None, model.truncation, model.truncation_cutoff)
    if model.latent_space == "w":
        return latent.unsqueeze(1).expand(-1, model.num_ws, -1)
    return latent.reshape(latent.shape[0], model.num_ws, model.w_dim)


def decode_options(model: Any, device: torch.device) -> dict[str, Any]:
    """The synthesis options a view's decode uses (random noise is re-seeded per call: decodes repeat)."""
    mode = getattr(model, "noise_mode", "const")
    options: dict[str, Any] = {"noise_mode": mode, "noise_strength": getattr(model, "noise_strength", None)}
    if mode == "random":
        options["generator"] = torch.Generator(device=device).manual_seed(int(getattr(model, "noise_seed", 0)))
    return options


def check_space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"latent_space must be one of {SPACES}, got {space!r}")
    return space


def style_view(model: Any, space: str | None = None, truncation: float | None = None,
               truncation_cutoff: int | None | Literal["keep"] = "keep", noise_mode: str | None = None,
               noise_strength: float | Mapping[str, float] | None | Literal["keep"] = "keep",
               noise_seed: int | None = None, c: Any = None,
               input_transform: tuple[float, float, float] | None | Literal["keep"] = "keep") -> Any:
    """The same generator (shared weights) seen through another latent space, truncation, noise or class.

    ``space``: "z", "w" or "w+"; ``truncation`` psi in [0, 1] with ``truncation_cutoff`` (layers truncated;
    None = all); ``noise_mode`` / ``noise_strength`` / ``noise_seed`` for its decode (random noise is drawn
    from ``noise_seed`` on every decode, so the view stays a function); ``c``: the class (index or label);
    ``input_transform`` (StyleGAN3): (translate x, translate y, rotation in turns) of the Fourier features,
    None for the stored transform. What is not given is kept from ``model``.

    Change these through a new view rather than by setting attributes on a model in use: the live preview
    keys its traced decode on the model object, and a trace holds the class and transform as constants.
    """
    space = check_space(model.latent_space if space is None else space)
    psi = model.truncation if truncation is None else float(truncation)
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"truncation psi must lie in [0, 1], got {psi}")
    cutoff = model.truncation_cutoff if truncation_cutoff == "keep" else truncation_cutoff
    if cutoff is not None and not 0 <= int(cutoff) <= model.num_ws:
        raise ValueError(f"truncation_cutoff must lie in [0, {model.num_ws}], got {cutoff}")
    view = copy.copy(model)  # shares parameters and buffers; the attributes below are the view's own
    view.latent_space, view.truncation = space, psi
    view.truncation_cutoff = None if cutoff is None else int(cutoff)
    view.hparams = {**model.hparams, "latent_space": space, "truncation": psi,
                    "truncation_cutoff": view.truncation_cutoff}
    if noise_mode is not None:
        view.noise_mode = check_noise_mode(noise_mode)
    if noise_strength != "keep":
        noise_multipliers(model, noise_strength)  # validates the names
        view.noise_strength = noise_strength
    if noise_seed is not None:
        view.noise_seed = int(noise_seed)
    if c is not None:
        label = class_labels(model, c, 1, torch.device("cpu"))
        assert label is not None  # a class given to an unconditional generator raised BadInput
        view.class_vector = label[0]
    if input_transform != "keep":
        if not hasattr(model, "set_input_transform"):
            raise BadInput("only StyleGAN3 generators have an input transform")
        if input_transform is None:
            view.set_input_transform()
        else:
            tx, ty, rot = input_transform
            view.set_input_transform((float(tx), float(ty)), float(rot))
    d = latent_dim(model, space)
    names = _latent_names(model, space)
    suffix = {"z": "", "w": " (w)", "w+": " (w+)"}[space]
    base_name = model.info.name.removesuffix(" (w)").removesuffix(" (w+)")
    view.info = ModelInfo(base_name + suffix, d, model.info.image_shape, names, model.info.prior,
                          model.info.dataset, model.info.factor_names)
    return view


def _latent_names(model: Any, space: str) -> tuple[str, ...] | None:
    """What a slider of ``space`` is called: w12 in w, L3·w12 (layer 3's w) in W+; z keeps the model's names."""
    if space == "w":
        return tuple(f"w{j}" for j in range(model.w_dim))
    if space == "w+":
        return tuple(f"L{i}·w{j}" for i in range(model.num_ws) for j in range(model.w_dim))
    return None  # z: z0, z1, ... (no generator names its inputs)
