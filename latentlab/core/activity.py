"""Active / mixed / passive latent variables (Bonheme & Grzes, "Be More Active!").

As the paper does, each latent is judged input by input first, from its posterior variance sigma_j^2(x):
*active* for that input when the variance is near 0 (the encoder is certain of the value), *passive* when
it is near the prior's 1 (the encoder says nothing about this input). Our line between the two is the
midpoint, 0.5 (``active_below``). Then per latent, by the shares over inputs: *active* when it is active on
(nearly) every input, *passive* when on (nearly) none, *mixed* otherwise, i.e. when it is active on some
inputs and passive on others ("nearly": all but ``min_share``, 5 %, of them). Passive latents are what
makes mean and sampled representations differ. Deterministic encoders (quantized models) have no
variances: a dimension whose value never changes is passive, otherwise active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE, MIXED, PASSIVE = "active", "mixed", "passive"
ACTIVE_BELOW = 0.5
MIN_SHARE = 0.05


@dataclass
class Activity:
    labels: tuple[str, ...]  # one per latent dimension
    mean_variance: np.ndarray  # (D,) mean over inputs of sigma_j^2(x); NaN for deterministic encoders
    variance_of_variance: np.ndarray  # (D,) variance over inputs of sigma_j^2(x)
    n: int
    active_share: np.ndarray | None = None  # (D,) share of inputs on which the latent is active; None: deterministic

    def indices(self, label: str) -> list[int]:
        return [j for j, lab in enumerate(self.labels) if lab == label]

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "mean_variance": self.mean_variance.tolist(),
                "variance_of_variance": self.variance_of_variance.tolist(), "n": self.n,
                "active_share": None if self.active_share is None else self.active_share.tolist()}


def label_by_share(active_share: np.ndarray, min_share: float = MIN_SHARE) -> tuple[str, ...]:
    """Per latent, from the share of inputs it is active on: active, passive, or mixed in between."""
    return tuple(ACTIVE if a >= 1.0 - min_share else PASSIVE if a <= min_share else MIXED for a in active_share)


def classify_activity(variances: np.ndarray | None, means: np.ndarray | None = None,
                      active_below: float = ACTIVE_BELOW, min_share: float = MIN_SHARE) -> Activity:
    """Label each latent dimension from posterior variances (n, D), or from means alone when deterministic."""
    if not (active_below > 0.0 and 0.0 <= min_share < 0.5):
        raise ValueError("active_below must be positive and min_share in [0, 0.5)")
    if variances is None:
        if means is None:
            raise ValueError("need posterior variances, or means for a deterministic encoder")
        spread = np.ptp(means, axis=0)
        labels = tuple(PASSIVE if s <= 1e-8 else ACTIVE for s in spread)
        nan = np.full(means.shape[1], np.nan)
        return Activity(labels, nan, nan, len(means))
    v = np.asarray(variances, dtype=np.float64)
    share = (v < active_below).mean(axis=0)  # per input first: where is the encoder certain?
    return Activity(label_by_share(share, min_share), v.mean(axis=0), v.var(axis=0), len(v), share)
