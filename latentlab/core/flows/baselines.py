"""What flows are compared with: linear latent directions, and readouts of factors from latents.

The few lines of PCA, SeFa and supervised (logistic-regression normal) directions the flows evaluation
needs live here so flows do not depend on the directions package being built beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from latentlab.core.model import LatentModel


def _unit_rows(m: np.ndarray) -> np.ndarray:
    return (m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def pca_directions(latents: np.ndarray, n: int) -> np.ndarray:
    """The top ``n`` principal axes of encoded latents (n, D), unit length, largest variance first."""
    x = np.asarray(latents, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return _unit_rows(vt[: min(n, vt.shape[0])])


def first_layer_weight(model: LatentModel) -> np.ndarray | None:
    """The weight (hidden, D) of the dense layer latents enter first, or None when it cannot be found."""
    d = model.info.latent_dim
    decoder = getattr(model, "decoder", None)
    layer = getattr(decoder, "first_layer", None)
    if isinstance(layer, nn.Linear) and layer.in_features == d:
        return layer.weight.detach().cpu().numpy()
    modules = getattr(decoder if isinstance(decoder, nn.Module) else model, "modules", None)
    if callable(modules):
        for mod in modules():
            if isinstance(mod, nn.Linear) and mod.in_features == d:
                return mod.weight.detach().cpu().numpy()
    return None


def sefa_directions(model: LatentModel, n: int) -> np.ndarray | None:
    """SeFa (Shen & Zhou 2021): top eigenvectors of A^T A for the decoder's first weight A; None if no A."""
    a = first_layer_weight(model)
    if a is None:
        return None
    vals, vecs = np.linalg.eigh(a.T.astype(np.float64) @ a.astype(np.float64))
    order = np.argsort(vals)[::-1][: min(n, len(vals))]
    return _unit_rows(vecs[:, order].T)


def is_categorical(name: str) -> bool:
    """Factors whose classes have no order (a shape), as opposed to ordinal ones (scale, position)."""
    return "shape" in name.lower() and "scale" not in name.lower()


def supervised_directions(latents: np.ndarray, factors: np.ndarray, factor_names: tuple[str, ...] | list[str],
                          seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Per factor, the unit normal of a logistic regression separating its upper classes from its lower.

    Ordinal factors split at the median class; categorical ones separate class 0 from the rest. Each
    direction points towards the upper classes. Factors with one class are skipped.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(latents, dtype=np.float64)
    dirs, names = [], []
    for j, name in enumerate(factor_names):
        f = np.asarray(factors[:, j])
        if len(np.unique(f)) < 2:
            continue
        y = (f > 0) if is_categorical(name) else (f > np.median(f))
        if y.all() or not y.any():
            y = f > f.min()
        clf = LogisticRegression(max_iter=2000, random_state=seed).fit(x, y)
        dirs.append(clf.coef_[0])
        names.append(str(name))
    return _unit_rows(np.asarray(dirs).reshape(len(dirs), x.shape[1])), names


@dataclass
class FactorReadout:
    """Linear readouts of each ground-truth factor from encoded latents.

    Ordinal factors: ridge regression onto the class index scaled to [0, 1]. Categorical factors:
    multinomial logistic regression. ``quality`` is the held-out R^2 or accuracy of each readout, so a
    table can say how far its factor changes can be trusted.
    """

    factor_names: list[str]
    categorical: list[bool]
    sizes: list[int]
    models: list[Any] = field(repr=False)
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)
    quality: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(cls, latents: np.ndarray, factors: np.ndarray, factor_names, factor_sizes, seed: int = 0,
            holdout: float = 0.25) -> FactorReadout:
        """Fit on (1 - holdout) of the points; quality is measured on the rest."""
        from sklearn.linear_model import LogisticRegression, Ridge

        x = np.asarray(latents, dtype=np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-8
        xs = (x - mean) / std
        n = len(xs)
        perm = np.random.default_rng(seed).permutation(n)
        n_test = max(1, int(round(holdout * n)))
        te, tr = perm[:n_test], perm[n_test:]
        models: list[Any] = []
        cats, quality, sizes = [], [], []
        for j, name in enumerate(factor_names):
            f = np.asarray(factors[:, j])
            size = int(factor_sizes[j])
            cat = is_categorical(name)
            if len(np.unique(f[tr])) < 2:
                models.append(None)
                quality.append(float("nan"))
            elif cat:
                clf = LogisticRegression(max_iter=2000, random_state=seed).fit(xs[tr], f[tr])
                models.append(clf)
                quality.append(float(clf.score(xs[te], f[te])))
            else:
                y = f / max(size - 1, 1)
                reg = Ridge(alpha=1.0).fit(xs[tr], y[tr])
                models.append(reg)
                quality.append(float(reg.score(xs[te], y[te])))
            cats.append(cat)
            sizes.append(size)
        return cls(list(map(str, factor_names)), cats, sizes, models, mean, std, np.asarray(quality))

    def change(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per point pair and factor, how much the factor changed from latents a to latents b: (n, F) in [0, 1].

        Ordinal: |predicted value change| as a fraction of the factor's range; categorical: the total
        variation distance between the predicted class distributions.
        """
        xa = (np.asarray(a, dtype=np.float64) - self.mean) / self.std
        xb = (np.asarray(b, dtype=np.float64) - self.mean) / self.std
        out = np.zeros((len(xa), len(self.models)))
        for j, m in enumerate(self.models):
            if m is None:
                continue
            if self.categorical[j]:
                out[:, j] = 0.5 * np.abs(m.predict_proba(xb) - m.predict_proba(xa)).sum(axis=1)
            else:
                out[:, j] = np.abs(np.clip(m.predict(xb), 0, 1) - np.clip(m.predict(xa), 0, 1))
        return out
