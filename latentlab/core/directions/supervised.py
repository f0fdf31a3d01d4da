"""Supervised linear directions (InterFaceGAN, Shen et al. 2020) and the difference of class means.

A linear classifier separating latents by an attribute has a boundary hyperplane; its unit normal, pointing
towards the positive class, is the direction that changes the attribute fastest while staying on the
boundary's level sets for everything else the classifier ignores. Conditional manipulation removes from it
the component along protected attributes' directions, so moving along the result leaves their
classifier scores unchanged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from latentlab.core.data import FactorDataset
from latentlab.core.directions.base import Direction, orthogonalised, project_out, unit
from latentlab.core.directions.labels import LabeledLatents, factor_labels
from latentlab.core.jobs import JobContext, ensure_context

log = logging.getLogger(__name__)

CLASSIFIERS = ("logistic", "svm", "mean")


def boundary_normal(z: np.ndarray, y: np.ndarray, classifier: str = "logistic", C: float = 1.0,
                    seed: int = 0) -> tuple[np.ndarray, float]:
    """Unit normal of the boundary between y == 0 and y == 1 (pointing to 1) and its training accuracy."""
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    if classifier == "mean":
        w = z[y == 1].mean(0) - z[y == 0].mean(0)
        if np.linalg.norm(w) < 1e-12:
            raise ValueError("both classes have the same mean latent; there is no direction between them")
        proj = z @ w
        cut = 0.5 * (z[y == 1].mean(0) + z[y == 0].mean(0)) @ w
        acc = float(((proj > cut).astype(np.int64) == y).mean())
        return unit(w), acc
    from sklearn.exceptions import ConvergenceWarning

    if classifier == "logistic":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    elif classifier == "svm":
        from sklearn.svm import LinearSVC

        clf = LinearSVC(C=C, class_weight="balanced", max_iter=20000, random_state=seed)
    else:
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    # One global scale (not per dimension, which would tilt the normal) makes the regularisation strength
    # mean the same for latents of any spread.
    scale = float(np.sqrt(z.var(0).mean()))
    if scale < 1e-12:
        raise ValueError("all the latents are identical; no boundary can separate them")
    zs = (z - z.mean(0)) / scale
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(zs, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s classifier did not fully converge; the direction may be approximate", classifier)
    w = clf.coef_[0]
    if np.linalg.norm(w) < 1e-12:
        raise ValueError("the classifier found no boundary: the latents carry no linear information about this label")
    return unit(w), float(clf.score(zs, y))


def _protected_vectors(protect: Sequence[Direction | np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    vecs, names = [], []
    for p in protect:
        if isinstance(p, Direction):
            if p.vector is None:
                raise ValueError(f"cannot protect {p.name!r}: it is a field, not a single direction")
            vecs.append(p.vector)
            names.append(p.name)
        else:
            vecs.append(unit(p))
            names.append("vector")
    return vecs, names


def supervised_directions(labeled: LabeledLatents, classifier: str = "logistic",
                          protect: Sequence[Direction | np.ndarray] = (), C: float = 1.0, seed: int = 0,
                          ctx: JobContext | None = None) -> list[Direction]:
    """One direction for binary labels (towards the second class), else one per class (one-vs-rest).

    ``protect``: directions the result must be orthogonal to (conditional manipulation).
    """
    ctx = ensure_context(ctx)
    pvecs, pnames = _protected_vectors(protect)
    targets = [(1, labeled)] if len(labeled.classes) == 2 else \
        [(1, labeled.one_vs_rest(c)) for c in range(len(labeled.classes))]
    out = []
    for i, (c, lab) in enumerate(targets):
        ctx.check()
        v, acc = boundary_normal(lab.z, lab.y == c, classifier, C, seed)
        params: dict[str, Any] = {**lab.params, "attribute": labeled.attribute, "classifier": classifier,
                                  "towards": lab.classes[c], "away_from": lab.classes[0],
                                  "train_accuracy": acc, "n": lab.n, "source": lab.source, "seed": seed}
        if classifier != "mean":
            params["C"] = C
        if pvecs:
            before = v
            v = project_out(v, pvecs)
            params["protected"] = pnames
            params["cos_before_protection"] = float(before @ v)
        name = labeled.attribute if len(targets) == 1 else f"{labeled.attribute}={lab.classes[c]}"
        method = "mean-difference" if classifier == "mean" else "interfacegan"
        out.append(Direction(name, method, params, vector=v))
        ctx.progress((i + 1) / len(targets), f"{name}: accuracy {acc:.3f}")
    return out


def factor_directions(model: Any, dataset: FactorDataset, factors: Sequence[str], *, n: int = 2000,
                      classifier: str = "logistic", mode: str = "auto", threshold: float | None = None,
                      protect: Sequence[str] = (), orthogonal: bool = False, C: float = 1.0, seed: int = 0,
                      ctx: JobContext | None = None, encoded: tuple[np.ndarray, np.ndarray] | None = None) -> list[Direction]:
    """Supervised directions for ground-truth ``factors`` of ``dataset``, from ``n`` encoded samples.

    ``protect``: factor names whose directions (fitted the same way) every result is made orthogonal to.
    ``encoded``: (latents, factor classes) to reuse instead of encoding ``n`` fresh samples.
    """
    ctx = ensure_context(ctx)
    if not factors:
        raise ValueError("name at least one factor")
    if threshold is not None and len(factors) > 1:
        raise ValueError("a threshold applies to one factor at a time; name a single factor with it")
    if encoded is None:
        from latentlab.core.encode import encode_dataset

        enc = encode_dataset(model, dataset, n, seed=seed, ctx=ctx.sub(0.0, 0.6))
        z, f = enc.mean, enc.factors
    else:
        z, f = encoded
    fit = ctx.sub(0.6, 1.0)
    protected: dict[str, list[Direction]] = {}
    for name in protect:
        if name not in factors:
            lab = factor_labels(z, f, dataset, name, "auto")
            protected[name] = supervised_directions(lab, classifier, C=C, seed=seed)
    out: list[Direction] = []
    for i, name in enumerate(factors):
        lab = factor_labels(z, f, dataset, name, mode, threshold)
        guard = [d for p, ds in protected.items() if p != name for d in ds]
        out += supervised_directions(lab, classifier, guard, C, seed, fit.sub(i / len(factors), (i + 1) / len(factors)))
    return orthogonalised(out) if orthogonal else out
