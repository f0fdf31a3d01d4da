"""An extreme-value causal probe of a generator's latents (after "Approaching an unknown communication system
by latent space exploration and causal inference"): push one latent to an extreme, hold the rest, and measure
what changes in the output.

For every probed latent j and every output property p, ``probe`` draws n prior samples z, sets z_j to
+``extreme`` and to -``extreme`` prior standard deviations (an intervention do(z_j = ±a), everything else as
sampled), decodes both and takes the paired differences p(x+) - p(x-). The effect of j on p is their mean; its
95 % confidence interval comes from a bootstrap over the n pairs (percentile method); the standardised effect
divides by p's spread over plain prior samples, so properties in different units compare. A latent whose
interval excludes 0 moves that property. The forest plot of the Metrics panel and ``latentlab probe`` show it.

Properties are functions of a batch of images (B, C, H, W) in [0, 1] returning (B,) numbers: the built-ins
(``intensity``, ``centroid_x`` / ``centroid_y`` — the intensity-weighted centre, 0 left/top to 1 right/bottom —
and ``spread``), ``factor:NAME`` (a ridge read-out of a ground-truth factor from the pixels, fitted on the
model's dataset), or any ``module:function`` the user names (imported only when named: user code, never a file's).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import LatentModel, Quantized, prior_std

Property = Callable[[torch.Tensor], torch.Tensor]
MAX_SAMPLES = 100_000
MAX_BOOT = 100_000


def _grey(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1)  # (B, H, W)


def intensity(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(1, 2, 3))


def _centroid(x: torch.Tensor, axis: int) -> torch.Tensor:
    g = _grey(x)
    n = g.shape[axis]
    pos = (torch.arange(n, dtype=g.dtype, device=g.device) + 0.5) / n
    mass = g.sum(dim=(1, 2)).clamp_min(1e-8)
    marginal = g.sum(dim=2) if axis == 1 else g.sum(dim=1)  # y: each row's mass; x: each column's
    return (marginal * pos).sum(dim=1) / mass


def centroid_x(x: torch.Tensor) -> torch.Tensor:
    return _centroid(x, 2)


def centroid_y(x: torch.Tensor) -> torch.Tensor:
    return _centroid(x, 1)


def spread(x: torch.Tensor) -> torch.Tensor:
    """The intensity-weighted RMS distance from the centroid, in image widths (how large the content is)."""
    g = _grey(x)
    h, w = g.shape[1:]
    ys = ((torch.arange(h, dtype=g.dtype, device=g.device) + 0.5) / h)[:, None]
    xs = ((torch.arange(w, dtype=g.dtype, device=g.device) + 0.5) / w)[None, :]
    mass = g.sum(dim=(1, 2)).clamp_min(1e-8)
    cx, cy = centroid_x(x)[:, None, None], centroid_y(x)[:, None, None]
    return ((g * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum(dim=(1, 2)) / mass).sqrt()


BUILTIN: dict[str, Property] = {"intensity": intensity, "centroid_x": centroid_x, "centroid_y": centroid_y,
                                "spread": spread}


def factor_readout(dataset: Any, factor: str, n: int = 4000, size: int = 16, seed: int = 0) -> Property:
    """A ridge regression from (size x size) pixels to a dataset factor: a classifier's output for ``factor:NAME``."""
    from sklearn.linear_model import Ridge

    names = list(dataset.factor_names)
    if factor not in names:
        raise BadInput(f"no factor {factor!r} in {dataset.name}", f"its factors: {', '.join(names)}")
    images, factors = dataset.sample(n, np.random.default_rng(seed))
    values = dataset.factor_value_table(factors)[:, names.index(factor)]  # physical units (px, degrees, ...)
    x = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(images, dtype=torch.float32), size)
    ridge = Ridge(alpha=1.0).fit(x.reshape(len(x), -1).numpy(), values)
    coef = torch.as_tensor(ridge.coef_, dtype=torch.float32)
    bias = float(ridge.intercept_)

    def read(images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float(), size).reshape(len(images), -1)
        if pooled.shape[1] != coef.shape[0]:
            raise BadInput(f"factor:{factor} reads {dataset.name}'s images; these have another number of channels")
        return pooled @ coef.to(pooled.device) + bias

    return read


def resolve_property(spec: str, dataset: Any = None) -> Property:
    """A property by name: a built-in, ``factor:NAME`` (needs ``dataset``) or ``module:function`` (user code)."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    kind, _, rest = spec.partition(":")
    if kind == "factor" and rest:
        if dataset is None:
            raise BadInput(f"{spec}: the model names no dataset to fit the read-out on", "give --dataset")
        return factor_readout(dataset, rest)
    if rest and all(part.isidentifier() for part in (*kind.split("."), rest)):
        try:
            fn = getattr(importlib.import_module(kind), rest)
        except (ImportError, AttributeError) as exc:
            raise BadInput(f"{spec}: cannot import it ({exc})") from None
        if not callable(fn):
            raise BadInput(f"{spec} is not a function")
        return fn
    raise BadInput(f"unknown property {spec!r}",
                   f"built-ins: {', '.join(BUILTIN)}; or factor:NAME, or module:function")


def properties_for(names: Sequence[str], dataset_name: str | None) -> dict[str, Property]:
    """The properties named, the dataset loaded only when a ``factor:NAME`` read-out needs it."""
    from latentlab.core.data import get_dataset

    needs = any(n.startswith("factor:") for n in names)
    dataset = get_dataset(dataset_name) if dataset_name and needs else None
    return {n: resolve_property(n, dataset) for n in names}


@dataclass
class Effect:
    latent: int
    prop: str
    effect: float  # mean of p(x+) - p(x-)
    low: float  # 95 % bootstrap interval of that mean
    high: float
    standardised: float  # effect / std of p over prior samples

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass
class ProbeResult:
    latents: list[int]
    latent_names: list[str]
    properties: list[str]
    extreme: float
    n: int
    effects: list[Effect] = field(default_factory=list)
    scales: dict[str, float] = field(default_factory=dict)  # each property's SD over prior samples

    def matrix(self, what: str = "standardised") -> np.ndarray:
        """(latents, properties) of ``what`` ("effect", "low", "high", "standardised")."""
        out = np.zeros((len(self.latents), len(self.properties)))
        for e in self.effects:
            out[self.latents.index(e.latent), self.properties.index(e.prop)] = getattr(e, what)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"extreme_sd": self.extreme, "n": self.n, "properties": self.properties, "scales": self.scales,
                "latents": [{"latent": j, "name": name} for j, name in zip(self.latents, self.latent_names, strict=True)],
                "effects": [{**e.__dict__, "significant": e.significant} for e in self.effects]}


def _decode_props(model: LatentModel, z: torch.Tensor, props: Sequence[Property], batch: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(z), batch):
            x = model.decode(z[i:i + batch])
            out.append(torch.stack([p(x).reshape(-1).float().cpu() for p in props], dim=1))
    values = torch.cat(out).numpy().astype(np.float64)
    if not np.isfinite(values).all():
        raise BadInput("a property gave NaN or infinite values")
    return values


def _check(n: int, extreme: float, n_boot: int, dims: Sequence[int], d: int) -> None:
    if not 2 <= n <= MAX_SAMPLES or not 100 <= n_boot <= MAX_BOOT:
        raise BadInput(f"n must lie in [2, {MAX_SAMPLES}] and the bootstrap count in [100, {MAX_BOOT}]")
    if not (math.isfinite(extreme) and 0 < extreme <= 100):
        raise BadInput("the extreme value must be a positive number of standard deviations (at most 100)")
    bad = [j for j in dims if not 0 <= j < d]
    if bad or not dims:
        raise BadInput(f"latents to probe must lie in [0, {d - 1}]" + (f", got {bad[0]}" if bad else ""))


def _extremes(model: LatentModel, extreme: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per latent, the low and high values pushed to: ±extreme prior SDs, or a quantized latent's codebook ends."""
    if isinstance(model, Quantized):
        books = list(model.codebooks)
        return (torch.stack([cb.min() for cb in books]).to(device).float(),
                torch.stack([cb.max() for cb in books]).to(device).float())
    std = prior_std(model).to(device)
    return -extreme * std, extreme * std


def probe(model: LatentModel, properties: dict[str, Property], dims: Sequence[int] | None = None, n: int = 256,
          extreme: float = 3.0, n_boot: int = 2000, seed: int = 0, batch: int = 64,
          ctx: JobContext | None = None) -> ProbeResult:
    """The effect of pushing each latent of ``dims`` (default: all) to ±``extreme`` prior SDs on each property."""
    d = model.info.latent_dim
    dims = list(range(d)) if dims is None else [int(j) for j in dims]
    _check(n, extreme, n_boot, dims, d)
    if not properties:
        raise BadInput("give at least one property to measure")
    ctx = ensure_context(ctx)
    device = next((p.device for p in getattr(model, "parameters", lambda: iter(()))()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    z = model.sample_prior(n, gen).to(device)
    props, names = list(properties.values()), list(properties)
    scale = _decode_props(model, z, props, batch).std(axis=0, ddof=1)
    lo_v, hi_v = _extremes(model, extreme, device)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, size=(n_boot, n))
    result = ProbeResult(dims, [model.info.dim_label(j) for j in dims], names, float(extreme), n,
                         scales={k: float(v) for k, v in zip(names, scale, strict=True)})
    for i, j in enumerate(dims):
        ctx.check()
        ctx.progress(i / len(dims), f"latent {model.info.dim_label(j)}: ±{extreme:g} SD on {n} samples")
        hi, lo = z.clone(), z.clone()
        hi[:, j], lo[:, j] = hi_v[j], lo_v[j]
        diff = _decode_props(model, hi, props, batch) - _decode_props(model, lo, props, batch)
        means = diff[boot].mean(axis=1)  # (n_boot, properties)
        low, high = np.percentile(means, [2.5, 97.5], axis=0)
        for k, name in enumerate(names):
            eff = float(diff[:, k].mean())
            result.effects.append(Effect(j, name, eff, float(low[k]), float(high[k]),
                                         eff / scale[k] if scale[k] > 0 else 0.0))
    ctx.progress(1.0, "probe done")
    return result


def forest_plot(result: ProbeResult, row_px: int = 18, width: int = 360) -> np.ndarray:
    """The forest plot as an RGB image: one panel per property, one row per latent, the standardised effect as a
    dot and its 95 % interval as a bar around a zero line; significant rows in colour, the rest grey."""
    from PIL import Image, ImageDraw

    label_w, pad, head = 90, 8, 22
    panels = len(result.properties)
    img = Image.new("RGB", (label_w + panels * (width + pad) + pad, head + row_px * len(result.latents) + 2 * pad),
                    (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for r, name in enumerate(result.latent_names):
        draw.text((4, head + pad + r * row_px + 3), name[:14], fill=(40, 40, 40))
    for c, prop in enumerate(result.properties):
        x0 = label_w + c * (width + pad)
        scale = result.scales.get(prop) or 1.0
        rows = [e for e in result.effects if e.prop == prop]
        span = max([abs(v) for e in rows for v in (e.low / scale, e.high / scale)] + [1e-6]) * 1.1
        to_x = lambda v, x0=x0, span=span: x0 + (v / span + 1.0) * width / 2  # noqa: E731 - one line, local
        draw.text((x0 + 4, 4), f"{prop} (SD units, ±{span:.2g})", fill=(40, 40, 40))
        draw.line([(to_x(0.0), head), (to_x(0.0), img.height - pad)], fill=(170, 170, 170))
        for e in rows:
            y = head + pad + result.latents.index(e.latent) * row_px + row_px // 2
            colour = (200, 60, 40) if e.significant else (150, 150, 150)
            draw.line([(to_x(e.low / scale), y), (to_x(e.high / scale), y)], fill=colour, width=2)
            cx = to_x(e.standardised)
            draw.ellipse([cx - 3, y - 3, cx + 3, y + 3], fill=colour)
    return np.asarray(img)
