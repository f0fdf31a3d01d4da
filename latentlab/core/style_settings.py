"""What a style generator's editing settings are, without torch: ``StyleSettings`` and the layer presets.

Split from ``core/style_edit.py`` (which re-exports them) so the app model and the Generator panel can be
built before torch is imported: the window appears first, models open after (``ui/app.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from latentlab.core.choices import EDIT_SPACES, NOISE_MODES
from latentlab.core.errors import BadInput
from latentlab.core.text import printable

__all__ = ["EDIT_SPACES", "NOISE_MODES", "StyleSettings", "layer_presets"]


@dataclass(frozen=True)
class StyleSettings:
    """How a style generator is decoded, apart from its latent (see the module docstring)."""

    space: str = "z"
    class_index: int = 0  # conditional models: the class shown ...
    class_blend: int | None = None  # ... blended towards this one ...
    class_t: float = 0.0  # ... by this much (0: class_index only, 1: class_blend only)
    psi: float = 1.0
    cutoff: int | None = None  # truncate the first `cutoff` ws only (None: all)
    noise_mode: str = "const"
    noise_strength: float = 1.0
    noise_seed: int = 0
    noise_layers: tuple[tuple[str, float], ...] = ()  # per noise layer, a multiplier on top of noise_strength
    translate: tuple[float, float] = (0.0, 0.0)  # StyleGAN3: the Fourier features' translation ...
    rotate: float = 0.0  # ... and rotation, in turns

    def checked(self, model: Any) -> StyleSettings:
        """These settings, validated against ``model``; BadInput names what does not fit."""
        if self.space not in EDIT_SPACES:
            raise BadInput(f"the latent space must be one of {', '.join(EDIT_SPACES)}, not {self.space!r}")
        c_dim = int(getattr(model, "c_dim", 0))
        for label, idx in (("class", self.class_index), ("blend class", self.class_blend)):
            if idx is not None and c_dim and not 0 <= idx < c_dim:
                raise BadInput(f"{label} {idx} outside [0, {c_dim - 1}]", f"{model.info.name} has {c_dim} classes")
        if not 0.0 <= self.class_t <= 1.0 or not 0.0 <= self.psi <= 1.0:
            raise BadInput("the class blend and truncation psi must lie in [0, 1]")
        if self.cutoff is not None and not 0 <= self.cutoff <= model.num_ws:
            raise BadInput(f"the truncation cutoff must lie in [0, {model.num_ws}], got {self.cutoff}")
        if self.noise_mode not in NOISE_MODES:
            raise BadInput(f"noise must be one of {', '.join(NOISE_MODES)}, not {self.noise_mode!r}")
        unknown = [name for name, _ in self.noise_layers if name not in model.noise_layers]
        if unknown:
            have = ", ".join(model.noise_layers) or "none"
            raise BadInput(f"no noise input in layer {printable(unknown[0], 60)}", f"noise layers: {have}")
        if not all(math.isfinite(v) and 0.0 <= v <= 100.0 for _, v in self.noise_layers):
            raise BadInput("a layer's noise strength must be a finite number in [0, 100]")
        numbers = (self.noise_strength, *self.translate, self.rotate)
        if not all(math.isfinite(v) for v in numbers) or not 0.0 <= self.noise_strength <= 100.0:
            raise BadInput("noise strength, translation and rotation must be finite (strength in [0, 100])")
        return self

    def replace(self, **changes: Any) -> StyleSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["translate"] = list(self.translate)
        d["noise_layers"] = [[name, v] for name, v in self.noise_layers]
        return d

    def layer_noise(self, name: str) -> float:
        """The multiplier of layer ``name``'s noise on top of ``noise_strength`` (1 unless set)."""
        return next((v for n, v in self.noise_layers if n == name), 1.0)

    def with_layer_noise(self, name: str, value: float) -> StyleSettings:
        kept = tuple((n, v) for n, v in self.noise_layers if n != name)
        return self.replace(noise_layers=kept if value == 1.0 else (*kept, (name, float(value))))

    @classmethod
    def from_dict(cls, d: Any) -> StyleSettings:
        """Settings from a session; BadInput for anything of the wrong type (values are checked later)."""
        if not isinstance(d, dict):
            raise BadInput("style settings must be a JSON object")
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name == "noise_layers":
                if not (isinstance(v, list) and len(v) <= 1024 and all(
                        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_number(p[1]) for p in v)):
                    raise BadInput("style setting 'noise_layers' must be a list of [layer name, number] pairs")
                v = tuple((str(p[0]), float(p[1])) for p in v)
            elif f.name == "translate":
                if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)):
                    raise BadInput("style setting 'translate' must be two numbers")
                v = (float(v[0]), float(v[1]))
            elif f.name in ("space", "noise_mode"):
                if not isinstance(v, str):
                    raise BadInput(f"style setting {f.name!r} must be a string")
            elif f.name in ("class_index", "noise_seed") or (f.name in ("class_blend", "cutoff") and v is not None):
                if not isinstance(v, int) or isinstance(v, bool):
                    raise BadInput(f"style setting {f.name!r} must be an integer")
            elif f.name in ("class_t", "psi", "noise_strength", "rotate"):
                if not _is_number(v):
                    raise BadInput(f"style setting {f.name!r} must be a number")
                v = float(v)
            out[f.name] = v
        return cls(**out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def layer_presets(num_ws: int) -> dict[str, tuple[int, int]]:
    """GANSpace's coarse / middle / fine ranges scaled to ``num_ws`` (18 at 1024 px: 0-4, 4-8, 8-18)."""
    coarse = max(1, round(num_ws * 4 / 18))
    middle = max(coarse + 1, min(num_ws, round(num_ws * 8 / 18)))
    return {"all": (0, num_ws), "coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, num_ws)}
