"""Active / mixed / passive latent variables (Bonheme & Grzes, "Be More Active!").

From the posterior variances sigma_j^2(x) over many inputs: a dimension is *passive* when its variance
barely changes across inputs and stays near 1 (it collapsed to the prior), *active* when it barely changes
and stays near 0 (the encoder is certain), and *mixed* otherwise. Deterministic encoders (quantized
models) have no variances: a dimension whose value never changes is passive, otherwise active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE, MIXED, PASSIVE = "active", "mixed", "passive"


@dataclass
class Activity:
    labels: tuple[str, ...]  # one per latent dimension
    mean_variance: np.ndarray  # (D,) mean over inputs of sigma_j^2(x); NaN for deterministic encoders
    variance_of_variance: np.ndarray  # (D,) variance over inputs of sigma_j^2(x)
    n: int

    def indices(self, label: str) -> list[int]:
        return [j for j, lab in enumerate(self.labels) if lab == label]

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "mean_variance": self.mean_variance.tolist(),
                "variance_of_variance": self.variance_of_variance.tolist(), "n": self.n}


def classify_activity(variances: np.ndarray | None, means: np.ndarray | None = None, threshold: float = 0.1) -> Activity:
    """Label each latent dimension from posterior variances (n, D), or from means alone when deterministic."""
    if variances is None:
        if means is None:
            raise ValueError("need posterior variances, or means for a deterministic encoder")
        spread = np.ptp(means, axis=0)
        labels = tuple(PASSIVE if s <= 1e-8 else ACTIVE for s in spread)
        nan = np.full(means.shape[1], np.nan)
        return Activity(labels, nan, nan, len(means))
    v = np.asarray(variances, dtype=np.float64)
    mean_v = v.mean(axis=0)
    var_v = v.var(axis=0)
    kinds = []
    for m, s in zip(mean_v, var_v, strict=True):
        if s < threshold and abs(m - 1.0) <= threshold:
            kinds.append(PASSIVE)
        elif s < threshold and m <= threshold:
            kinds.append(ACTIVE)
        else:
            kinds.append(MIXED)
    return Activity(tuple(kinds), mean_v, var_v, len(v))
