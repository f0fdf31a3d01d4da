"""Editing a style-based generator as StyleGAN users do: the space edited, class, truncation, noise, transform.

``StyleSettings`` is everything about *how* a StyleGAN2 / SWAGAN / StyleGAN3 generator is decoded that is not
the latent itself: the latent space the sliders move (z, w or W+), the class of a conditional model (or a blend
of two classes), truncation psi with its layer cutoff, the noise (const / random from a seed / none, with a
strength), and StyleGAN3's input transform. ``view_of`` turns settings into a view of the generator
(``style_api.style_view``: same weights, its own decode), which the render service decodes like any model.

``convert_latent`` carries a latent from one view to another so the image stays the same where it can: z to w
and W+ through the mapping network (exact), w to W+ by repeating w on every layer (exact), W+ to w by the mean
over layers (exact only if the layers agree) and anything to z by the z it came from, since the mapping has
no inverse. The note it returns says when the image changed, for the status bar.

``lift`` makes a w-space direction act on a range of synthesis layers in W+ (GANSpace's coarse / middle /
fine edits), ``mix_styles`` takes the ws of chosen layers from a second latent (style mixing), and
``layer_presets`` names the usual ranges for a generator's layer count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.style_settings import EDIT_SPACES, StyleSettings, layer_presets  # noqa: F401 - re-exported
from latentlab.core.zoo.style_api import StyleGenerator, latent_dim, latent_to_ws, style_view


def is_style_generator(model: Any) -> bool:
    return isinstance(model, StyleGenerator) and hasattr(model, "latent_space")


def latent_dim_of(model: Any, space: str) -> int:
    """The size of a latent of ``space`` ("z", "w", "w+", "s") for this generator."""
    if space == "s":
        return sum(layer.style_dim for layer in model.layers)
    return int(latent_dim(model, space))


def slider_groups(view: Any) -> list[tuple[str, int, int]] | None:
    """The parts of a long latent its sliders show one at a time: W+ by layer (L0, L1, ...), S by the layers'
    style channels; None for a latent shown whole."""
    space = getattr(view, "latent_space", None)
    if space == "w+":
        return [(f"L{i}", i * view.w_dim, (i + 1) * view.w_dim) for i in range(view.num_ws)]
    if space == "s":
        return list(view.groups)
    return None


def settings_of(model: Any) -> StyleSettings:
    """The settings a freshly opened generator decodes with (its stored space, truncation and noise)."""
    return StyleSettings(space=model.latent_space, psi=float(model.truncation),
                         cutoff=model.truncation_cutoff, noise_mode=getattr(model, "noise_mode", "const"))


def class_label(model: Any, s: StyleSettings) -> torch.Tensor | None:
    """The (c_dim,) label of the settings' class or blend of two classes; None for unconditional models."""
    if not getattr(model, "c_dim", 0):
        return None
    label = model.one_hot(s.class_index)
    if s.class_blend is not None and s.class_t > 0.0:
        label = (1.0 - s.class_t) * label + s.class_t * model.one_hot(s.class_blend)
    return label


def view_of(model: Any, s: StyleSettings) -> Any:
    """``model`` (a style generator or a view of one) decoded with settings ``s``: a new view, same weights."""
    from latentlab.core.style_space import StyleSpaceView

    if isinstance(model, StyleSpaceView):
        model = model.base
    s.checked(model)
    if s.space == "s":
        return StyleSpaceView(view_of(model, s.replace(space="w+")))
    transform: Any = "keep"
    if hasattr(model, "set_input_transform"):
        transform = None if (s.translate == (0.0, 0.0) and s.rotate == 0.0) else (*s.translate, s.rotate)
    strength: Any = None if s.noise_strength == 1.0 else s.noise_strength
    if s.noise_layers:
        strength = {name: s.noise_strength * s.layer_noise(name) for name in model.noise_layers}
    return style_view(model, space=s.space, truncation=s.psi, truncation_cutoff=s.cutoff, noise_mode=s.noise_mode,
                      noise_strength=strength if model.noise_layers else None, noise_seed=s.noise_seed,
                      c=class_label(model, s), input_transform=transform)


# --- latents between spaces -------------------------------------------------------------------------------------

def ws_of(view: Any, latent: np.ndarray) -> np.ndarray:
    """(num_ws, w_dim) ws the view decodes ``latent`` (of its own space) with."""
    if view.latent_space == "s":
        raise BadInput("a StyleSpace latent has no ws (the style channels are past the mapping)",
                       "switch the latent space to W+ for this")
    param = next(view.parameters())
    with torch.no_grad():
        t = torch.as_tensor(np.asarray(latent, np.float32).reshape(1, -1), device=param.device)
        return latent_to_ws(view, t)[0].detach().cpu().numpy().astype(np.float32)


def exact_conversion(a: str, b: str) -> bool:
    """Whether a latent of space ``a`` has one exact counterpart in ``b`` (the picture stays the same)."""
    return a == b or b == "s" or (a == "z" and b in ("w", "w+")) or (a == "w" and b == "w+")


def convert_latent(old: Any, new: Any, latent: np.ndarray, last_z: np.ndarray | None = None,
                   last: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, str | None]:
    """``latent`` of view ``old`` as a latent of view ``new``, and a note when the image cannot stay the same.

    ``last_z``: the z the latent was reached from, the only way back to z (the mapping has no inverse);
    ``last``: the latent each space had when it was left, the way back from S (the affines are not inverted)."""
    a, b = old.latent_space, new.latent_space
    if a == b:
        return np.asarray(latent, np.float32).copy(), None
    if b == "s":
        from latentlab.core.style_space import styles_of

        return styles_of(old, latent), None
    if a == "s" and b != "z":
        back = (last or {}).get(b)
        if back is not None and back.shape == (new.info.latent_dim,):
            return back.astype(np.float32).copy(), f"S has no way back to {b}: back to the last {b}"
        mean = new.latent_mean.detach().cpu().numpy().astype(np.float32).reshape(-1)
        return mean, f"S has no way back to {b}: {b} starts at the average"
    if b == "z":
        if last_z is not None and last_z.shape == (new.z_dim,):
            return last_z.astype(np.float32).copy(), "w has no way back to z: back to the last z"
        return np.zeros(new.z_dim, np.float32), "w has no way back to z: z starts at the origin"
    ws = ws_of(old, latent)
    if b == "w+":
        return ws.reshape(-1), None
    spread = float(np.abs(ws - ws.mean(axis=0)).max())
    note = None if spread < 1e-5 else "the W+ layers differ: w is their mean, the image changes"
    if a == "z" and old.truncation_cutoff is not None and old.truncation != 1.0:
        note = "the truncation cutoff has no place in w: every layer gets the mean w"
    return ws.mean(axis=0), note


# --- layer ranges and style mixing ----------------------------------------------------------------------------------

def check_layers(num_ws: int, start: int, stop: int) -> tuple[int, int]:
    if not 0 <= start < stop <= num_ws:
        raise BadInput(f"a layer range must satisfy 0 <= start < stop <= {num_ws}, got {start}..{stop}")
    return int(start), int(stop)


def lift(vector: np.ndarray, num_ws: int, start: int, stop: int) -> tuple[np.ndarray, float]:
    """A w-space unit ``vector`` acting on ws ``start``..``stop`` (exclusive) of W+: the unit W+ vector and the
    gain that makes a step of ``alpha`` move each of those layers by ``alpha`` (GANSpace's convention)."""
    start, stop = check_layers(num_ws, start, stop)
    v = np.asarray(vector, np.float32).reshape(-1)
    out = np.zeros((num_ws, v.shape[0]), np.float32)
    out[start:stop] = v
    gain = math.sqrt(stop - start)
    return (out / gain).reshape(-1), gain


def lifts_flow(view: Any, flow_dim: int) -> bool:
    """Whether a flow of ``flow_dim`` latents is one of w, to be played on a layer range of ``view``'s W+."""
    return getattr(view, "latent_space", None) == "w+" and flow_dim == view.w_dim


def layer_mean(wplus: np.ndarray, num_ws: int, start: int, stop: int) -> np.ndarray:
    """The mean w of layers start..stop of a W+ latent: where a w flow starts from on that range."""
    start, stop = check_layers(num_ws, start, stop)
    return np.asarray(wplus, np.float32).reshape(num_ws, -1)[start:stop].mean(axis=0)


def lift_path(wplus: np.ndarray, path_w: np.ndarray, num_ws: int, start: int, stop: int) -> np.ndarray:
    """A path of w (T, w_dim) as W+ latents (T, num_ws * w_dim): layers start..stop of ``wplus`` move by the
    path's displacement from its first point, the other layers stay (a flow on a layer range)."""
    start, stop = check_layers(num_ws, start, stop)
    path_w = np.asarray(path_w, np.float32)
    base = np.asarray(wplus, np.float32).reshape(num_ws, -1)
    out = np.repeat(base[None], len(path_w), axis=0)
    out[:, start:stop] += (path_w - path_w[0])[:, None, :]
    return out.reshape(len(path_w), -1)


def mix_styles(ws_a: np.ndarray, ws_b: np.ndarray, start: int, stop: int) -> np.ndarray:
    """W+ of ``ws_a`` with the ws of layers ``start``..``stop`` (exclusive) taken from ``ws_b``: style mixing."""
    a = np.asarray(ws_a, np.float32).copy()
    b = np.asarray(ws_b, np.float32)
    if a.shape != b.shape or a.ndim != 2:
        raise BadInput(f"style mixing needs two ws of the same shape (num_ws, w_dim), got {a.shape} and {b.shape}")
    start, stop = check_layers(a.shape[0], start, stop)
    a[start:stop] = b[start:stop]
    return a


def mixing_grid(view: Any, rows: list[np.ndarray], cols: list[np.ndarray], start: int, stop: int,
                batch: int = 8, ctx: JobContext | None = None) -> np.ndarray:
    """The StyleGAN paper's style-mixing figure as uint8 (1 + R, 1 + C, H, W, 3) cells: row sources down the
    left, column sources across the top, and cell (r, c) = row r with layers start..stop from column c.

    ``rows``/``cols``: latents of ``view``'s space. The corner cell is blank."""
    if not rows or not cols:
        raise BadInput("a mixing grid needs at least one row source and one column source")
    ws_r = [ws_of(view, z) for z in rows]
    ws_c = [ws_of(view, z) for z in cols]
    wplus = style_view(view, space="w+")
    latents = [w.reshape(-1) for w in ws_c] + [w.reshape(-1) for w in ws_r]
    latents += [mix_styles(a, b, start, stop).reshape(-1) for a in ws_r for b in ws_c]
    images = _decode_uint8(wplus, np.stack(latents), batch, ensure_context(ctx))
    h, w = images.shape[1:3]
    grid = np.full((1 + len(rows), 1 + len(cols), h, w, 3), 255, np.uint8)
    n_c, n_r = len(cols), len(rows)
    grid[0, 1:] = images[:n_c]
    grid[1:, 0] = images[n_c:n_c + n_r]
    grid[1:, 1:] = images[n_c + n_r:].reshape(n_r, n_c, h, w, 3)
    return grid


def _decode_uint8(model: Any, latents: np.ndarray, batch: int, ctx: JobContext) -> np.ndarray:
    """(N, H, W, 3) uint8 images of ``latents``, in batches (cancellable, with progress)."""
    from latentlab.core.render import to_uint8

    param = next(model.parameters())
    out = []
    with torch.no_grad():
        for i in range(0, len(latents), batch):
            ctx.check()
            ctx.progress(i / len(latents), f"decoding {i + 1}-{min(i + batch, len(latents))} of {len(latents)}")
            img = to_uint8(model.decode(torch.as_tensor(latents[i:i + batch], device=param.device)))
            out.append(np.repeat(img[..., None], 3, axis=-1) if img.ndim == 3 else img[..., :3])
    return np.concatenate(out)


def grid_image(cells: np.ndarray, pad: int = 2) -> np.ndarray:
    """(R, C, H, W, 3) cells as one (R*(H+pad)-pad, C*(W+pad)-pad, 3) image on white."""
    r, c, h, w, _ = cells.shape
    out = np.full((r * (h + pad) - pad, c * (w + pad) - pad, 3), 255, np.uint8)
    for i in range(r):
        for j in range(c):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = cells[i, j]
    return out


# --- directions of one space used in another ------------------------------------------------------------------------

def direction_space(direction: Any, default: str | None = None) -> str | None:
    """The space a direction moves: what its file says (``params["space"]``), else ``default``."""
    space = direction.params.get("space")
    return space if space in EDIT_SPACES else default


def fit_direction(direction: Any, view: Any, layers: tuple[int, int] | None = None,
                  default_space: str | None = None) -> tuple[Any | None, str | None]:
    """``direction`` as one that moves ``view``'s latent, or None and why not.

    A w direction in W+ acts on ``layers`` (else the layers its file names, else all of them) with a gain that
    keeps alpha per layer; z and w directions cannot move one another's space (the mapping is not linear)."""
    from latentlab.core.directions.base import Direction

    have = direction_space(direction, default_space)
    want = getattr(view, "latent_space", None)
    if have is None or want is None or have == want:
        if direction.latent_dim != view.info.latent_dim:
            return None, f"moves {direction.latent_dim} dimensions; this view has {view.info.latent_dim}"
        return direction, None
    if have == "w" and want == "w+" and direction.vector is not None:
        start, stop = layers or tuple(direction.params.get("layers") or (0, view.num_ws))
        vector, gain = lift(direction.vector, view.num_ws, int(start), int(stop))
        params = {**direction.params, "space": "w+", "layers": [int(start), int(stop)], "gain": gain}
        return Direction(direction.name, direction.method, params, vector=vector), None
    hint = "W+" if have == "w+" else have
    return None, f"moves {hint}: switch the latent space to {hint} (Generator panel) to use it"


# --- blending seeds -----------------------------------------------------------------------------------------------

def blend_seeds(view: Any, weights: list[tuple[int, float]]) -> np.ndarray:
    """The weighted mean of the ws of these seeds' prior samples, (num_ws, w_dim): NVIDIA's visualizer blends
    seeds this way (in W, after the mapping, where a mean of images' codes is still an image's code).

    Weights are normalised to sum 1; a seed is drawn as the app's 'from seed' is (``torch.Generator().manual_seed``)."""
    if not weights or len(weights) > 64:
        raise BadInput("blend 1 to 64 seeds")
    total = sum(w for _, w in weights)
    if not all(math.isfinite(w) and w >= 0 for _, w in weights) or total <= 0:
        raise BadInput("blend weights must be finite, non-negative and not all zero")
    if view.latent_space == "s":
        raise BadInput("seeds are blended in W: switch the latent space from S to w or W+ first")
    z_view = style_view(view, space="z")
    out = np.zeros((view.num_ws, view.w_dim), np.float32)
    for seed, w in weights:
        z = z_view.sample_prior(1, torch.Generator().manual_seed(int(seed)))[0].detach().cpu().numpy()
        out += (w / total) * ws_of(z_view, z)
    return out
