"""Concept-space paths across a training series (after "Emergence of Hidden Capabilities: Exploring Learning
Dynamics in Concept Space"): each checkpoint of a run as a point whose coordinates are how well each
ground-truth factor can be read out of its latents, so the run becomes a path and one sees when each factor
was learned.

For every checkpoint the same dataset images are encoded; per factor, DCI's informativeness read-out (a boosted
classifier from the posterior means to the factor, its test accuracy) is the coordinate. ``learned_at`` is, per
factor, the first step whose read-out has covered ``fraction`` of the way from the first checkpoint's to the
best; factors ordered by it are the order they were learned in. ``latentlab concepts`` and its plot show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.metrics.dci import DEFAULTS, importance_matrix


@dataclass
class ConceptPath:
    steps: list[int]
    names: list[str]  # the checkpoints, in training order
    factors: list[str]
    readout: np.ndarray  # (checkpoints, factors): test accuracy of reading each factor from the latents
    chance: np.ndarray  # (factors,): the accuracy of always guessing the most common class

    def learned_at(self, fraction: float = 0.5) -> dict[str, int | None]:
        """Per factor, the first step at which it covered ``fraction`` of its rise (None: it never rose)."""
        out: dict[str, int | None] = {}
        for k, name in enumerate(self.factors):
            col = self.readout[:, k]
            lo, hi = col[0], col.max()
            if hi - lo < 0.05:  # no rise worth the name: not learned in this run (or already at the start)
                out[name] = None if hi < self.chance[k] + 0.1 else self.steps[0]
                continue
            out[name] = self.steps[int(np.argmax(col >= lo + fraction * (hi - lo)))]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "checkpoints": self.names, "factors": self.factors,
                "readout": self.readout.round(4).tolist(), "chance": self.chance.round(4).tolist(),
                "learned_at": self.learned_at()}


def concept_path(models: Sequence[Any], steps: Sequence[int], names: Sequence[str], images: np.ndarray,
                 factors: np.ndarray, factor_names: Sequence[str], ctx: JobContext | None = None,
                 seed: int = 0) -> ConceptPath:
    """The read-out of every factor from every model's encodings of the same ``images`` ((n, K) ``factors``)."""
    from latentlab.core.encode import encode_images

    if len(models) < 2 or not len(models) == len(steps) == len(names):
        raise BadInput("a concept path needs two or more checkpoints of one run, each with its step")
    n = len(images)
    if n < 20 or factors.shape != (n, len(factor_names)):
        raise BadInput(f"need at least 20 images with one value per factor, got {n} and {factors.shape}")
    ctx = ensure_context(ctx)
    half = n // 2
    rows = []
    for i, model in enumerate(models):
        ctx.check()
        ctx.progress(i / len(models), f"checkpoint {i + 1}/{len(models)}: encoding and reading out")
        z = encode_images(model, images)[0]
        _, _, acc = importance_matrix(z[:half], factors[:half], z[half:], factors[half:], "fast", seed, 1,
                                      DEFAULTS["fast_stages"], DEFAULTS["fast_learning_rate"])
        rows.append(acc)
    test = factors[half:]
    chance = np.array([np.bincount(test[:, k]).max() / len(test) for k in range(test.shape[1])])
    ctx.progress(1.0, "concept path done")
    return ConceptPath(list(steps), list(names), list(factor_names), np.array(rows), chance)


def path_plot(path: ConceptPath, width: int = 520, height: int = 260) -> np.ndarray:
    """Each factor's read-out over the training steps as a line (an RGB image), a legend with when it was learned."""
    from PIL import Image, ImageDraw

    colours = [(228, 87, 46), (41, 115, 178), (76, 175, 122), (216, 165, 58), (142, 68, 173), (90, 90, 90)]
    left, top, right, bottom = 40, 14, 150, 26
    img = Image.new("RGB", (width + right, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    pw, ph = width - left, height - top - bottom
    s0, s1 = path.steps[0], max(path.steps[-1], path.steps[0] + 1)
    to_xy = lambda s, v: (left + (s - s0) / (s1 - s0) * pw, top + (1 - v) * ph)  # noqa: E731 - local
    draw.rectangle([left, top, left + pw, top + ph], outline=(180, 180, 180))
    for v in (0.0, 0.5, 1.0):
        draw.text((4, to_xy(s0, v)[1] - 6), f"{v:.1f}", fill=(60, 60, 60))
    draw.text((left, height - bottom + 8), f"step {s0} … {path.steps[-1]}   (read-out accuracy per factor)",
              fill=(60, 60, 60))
    learned = path.learned_at()
    for k, name in enumerate(path.factors):
        c = colours[k % len(colours)]
        pts = [to_xy(s, float(v)) for s, v in zip(path.steps, path.readout[:, k], strict=True)]
        draw.line(pts, fill=c, width=2)
        for x, y in pts:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=c)
        when = learned[name]
        draw.text((width + 8, top + 14 * k), f"{name[:10]}: {'-' if when is None else when}", fill=c)
    return np.asarray(img)
