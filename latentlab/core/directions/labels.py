"""Labelled latents for the supervised and gradient-based finders, from three sources.

1. Ground-truth factors of the model's dataset (``factor_labels``): an ordinal factor is binarised at a
   threshold (default: the median of its values), a categorical one (shape, colour) gives one class per
   value, used one-vs-rest.
2. A CSV file the user gives (``read_label_csv`` / ``csv_labels``): dataset samples by flat index and a label
   each; the images are rendered and encoded. Format::

       # comment lines start with '#'; blank lines are ignored
       index,label
       12,smiling
       40501,neutral

   The header row is required and names the two columns: ``index`` (aliases ``sample_id``, ``id``) and
   ``label``, in either order; other columns are ignored. ``index`` is the dataset's flat index (C-ordered
   over the factor grid, the last factor fastest, as in the original dSprites / 3D Shapes files); labels
   are any text (class names); every label needs at least two samples and there must be two labels or more.
3. Latents the user tagged in the app (``tagged_labels``): (latent, label) pairs.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.data import FactorDataset
from latentlab.core.errors import BadInput
from latentlab.core.input_files import read_bytes
from latentlab.core.jobs import JobContext, ensure_context

LABEL_MODES = ("auto", "binary", "classes")
INDEX_COLUMNS = ("index", "sample_id", "id")
MIN_PER_CLASS = 2
_MAX_CSV_BYTES = 256 * 1024 * 1024

# Factors whose values are names, not magnitudes: "above the median" means nothing for them.
_CATEGORICAL = {
    ("shape", 3): ("square", "ellipse", "heart"),
    ("shape", 4): ("cube", "cylinder", "sphere", "capsule"),
    ("colour", 6): ("red", "yellow", "green", "cyan", "blue", "magenta"),
    ("color", 6): ("red", "yellow", "green", "cyan", "blue", "magenta"),
}


class LabelError(BadInput):
    """Labels that cannot train a direction; the message says which input and why."""


@dataclass
class LabeledLatents:
    """Latents ``z`` (n, D) with integer labels ``y`` (n,) indexing ``classes``, for one attribute."""

    attribute: str
    z: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    source: str = ""
    params: dict[str, Any] = dc_field(default_factory=dict)

    def __post_init__(self) -> None:
        self.z = np.asarray(self.z, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64).reshape(-1)
        self.classes = tuple(str(c) for c in self.classes)
        if self.z.ndim != 2 or len(self.z) != len(self.y):
            raise LabelError(f"{self.attribute}: {self.z.shape} latents for {len(self.y)} labels")
        if not np.isfinite(self.z).all():
            raise LabelError(f"{self.attribute}: the latents contain NaN or infinite values")
        if len(self.classes) < 2:
            raise LabelError(f"{self.attribute}: need at least two different labels, got {list(self.classes)}")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise LabelError(f"{self.attribute}: label indices out of range 0..{len(self.classes) - 1}")
        counts = self.counts
        few = [f"{c!r} ({n})" for c, n in zip(self.classes, counts, strict=True) if n < MIN_PER_CLASS]
        if few:
            raise LabelError(
                f"{self.attribute}: every label needs at least {MIN_PER_CLASS} samples; too few for {', '.join(few)}"
            )

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=len(self.classes))

    def one_vs_rest(self, c: int) -> LabeledLatents:
        """Binary labels: class ``c`` (1) against all the others (0)."""
        return LabeledLatents(self.attribute, self.z, (self.y == c).astype(np.int64),
                              (f"not {self.classes[c]}", self.classes[c]), self.source,
                              {**self.params, "one_vs_rest": self.classes[c]})


def categorical_class_names(dataset: FactorDataset, k: int) -> tuple[str, ...] | None:
    """Class names when factor ``k`` is categorical (a dataset may declare ``categorical_factors``)."""
    name, size = dataset.factor_names[k], int(dataset.factor_sizes[k])
    declared = getattr(dataset, "categorical_factors", None)
    if declared is not None and name not in declared:
        return None
    known = _CATEGORICAL.get((name.lower(), size))
    if known is not None:
        return known
    if declared is not None:
        return tuple(_fmt(v) for v in dataset.factor_values(k))
    return None


def factor_index(dataset: FactorDataset, factor: str) -> int:
    names = list(dataset.factor_names)
    if factor not in names:
        raise LabelError(f"{dataset.name} has no factor {factor!r}; its factors are {', '.join(names)}")
    return names.index(factor)


def factor_labels(z: np.ndarray, factors: np.ndarray, dataset: FactorDataset, factor: str, mode: str = "auto",
                  threshold: float | None = None) -> LabeledLatents:
    """Labels for latents ``z`` of samples with factor classes ``factors`` (n, K).

    ``binary``: value > threshold (default: the median of the factor's values, a balanced split).
    ``classes``: one class per factor value present. ``auto``: classes for categorical factors, else binary.
    """
    if mode not in LABEL_MODES:
        raise LabelError(f"label mode must be one of {', '.join(LABEL_MODES)}, got {mode!r}")
    k = factor_index(dataset, factor)
    f = np.asarray(factors, dtype=np.int64)[:, k]
    grid = np.asarray(dataset.factor_values(k), dtype=float)
    names = categorical_class_names(dataset, k)
    if mode == "auto":
        mode = "classes" if names is not None or len(grid) == 2 else "binary"
    source = f"dataset:{dataset.name}"
    if mode == "binary":
        if names is not None and threshold is None:
            raise LabelError(f"{factor!r} is categorical ({', '.join(names)}); binarising it at a median means "
                             "nothing: use classes (one-vs-rest) or give a threshold")
        thr = float(np.median(grid)) if threshold is None else float(threshold)
        y = (grid[f] > thr).astype(np.int64)
        if y.min() == y.max():
            side = "above" if y.min() == 0 else "at or below"
            raise LabelError(f"{factor}: no sample is {side} the threshold {thr:g} (values {grid.min():g}..{grid.max():g})")
        return LabeledLatents(factor, z, y, (f"{factor}<={thr:g}", f"{factor}>{thr:g}"), source,
                              {"factor": factor, "mode": "binary", "threshold": thr})
    present = np.unique(f)
    remap = np.full(len(grid), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    labels = tuple((names[c] if names is not None else _fmt(grid[c])) for c in present)
    return LabeledLatents(factor, z, remap[f], labels, source, {"factor": factor, "mode": "classes"})


def _fmt(v: float) -> str:
    return f"{v:.4g}"


# --- CSV ----------------------------------------------------------------------------------------------------

def read_label_csv(path: str | os.PathLike, num_samples: int | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Parse a label CSV (format in the module docstring) -> (flat indices, label indices, class names)."""
    p = Path(path)
    data = read_bytes(p, "a label file", max_bytes=_MAX_CSV_BYTES, allow_empty=True, error=LabelError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabelError(f"{p}: not a UTF-8 text file") from None
    try:
        rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)
                if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    except csv.Error as exc:  # a field past the csv module's size limit, a stray quote in strict mode, ...
        raise LabelError(f"{p}: not a readable CSV file ({exc})") from None
    if not rows:
        raise LabelError(f"{p}: empty label file; expected a header 'index,label' and one row per sample")
    line, header = rows[0]
    cols = [c.strip().lower() for c in header]
    idx_col = next((cols.index(c) for c in INDEX_COLUMNS if c in cols), None)
    if idx_col is None or "label" not in cols:
        raise LabelError(f"{p}: line {line}: the header must name an 'index' and a 'label' column, got {header}")
    lab_col = cols.index("label")
    indices: list[int] = []
    labels: list[str] = []
    seen: dict[int, str] = {}
    for line, row in rows[1:]:
        if len(row) <= max(idx_col, lab_col):
            raise LabelError(f"{p}: line {line}: expected {len(cols)} columns, got {len(row)}")
        raw, label = row[idx_col].strip(), row[lab_col].strip()
        try:
            i = int(raw)
        except ValueError:
            raise LabelError(f"{p}: line {line}: sample index {raw!r} is not an integer") from None
        if i < 0 or (num_samples is not None and i >= num_samples):
            rng = f"0..{num_samples - 1}" if num_samples is not None else "non-negative"
            raise LabelError(f"{p}: line {line}: sample index {i} out of range ({rng})")
        if not label:
            raise LabelError(f"{p}: line {line}: empty label for sample {i}")
        if i in seen:
            if seen[i] != label:
                raise LabelError(f"{p}: line {line}: sample {i} labelled both {seen[i]!r} and {label!r}")
            continue
        seen[i] = label
        indices.append(i)
        labels.append(label)
    if not indices:
        raise LabelError(f"{p}: the file has a header but no samples")
    classes = _sorted_classes(set(labels))
    lookup = {c: j for j, c in enumerate(classes)}
    y = np.array([lookup[lab] for lab in labels], dtype=np.int64)
    if len(classes) < 2:
        raise LabelError(f"{p}: every sample has the label {classes[0]!r}; need at least two different labels")
    counts = np.bincount(y, minlength=len(classes))
    few = [f"{c!r} ({n})" for c, n in zip(classes, counts, strict=True) if n < MIN_PER_CLASS]
    if few:
        raise LabelError(f"{p}: every label needs at least {MIN_PER_CLASS} samples; too few for {', '.join(few)}")
    return np.array(indices, dtype=np.int64), y, classes


def _sorted_classes(labels: set[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted(labels, key=float))  # numeric labels in numeric order (so "10" follows "9")
    except ValueError:
        return tuple(sorted(labels))


def csv_labels(model: Any, dataset: FactorDataset, path: str | os.PathLike, attribute: str | None = None,
               ctx: JobContext | None = None) -> LabeledLatents:
    """Labels from a CSV: the listed dataset samples are rendered, encoded (posterior mean) and labelled."""
    from latentlab.core.encode import encode_factors

    ctx = ensure_context(ctx)
    indices, y, classes = read_label_csv(path, dataset.num_samples)
    enc = encode_factors(model, dataset, dataset.index_to_factors(indices), ctx=ctx)
    return LabeledLatents(attribute or Path(path).stem, enc.mean, y, classes, f"csv:{Path(path).name}",
                          {"csv": str(path), "n": len(y)})


def tagged_labels(pairs: Sequence[tuple[np.ndarray, Any]], attribute: str = "tag") -> LabeledLatents:
    """Labels from (latent, label) pairs the user tagged in the app."""
    if not pairs:
        raise LabelError(f"{attribute}: no tagged samples")
    z = np.stack([np.asarray(p[0], dtype=np.float32).reshape(-1) for p in pairs])
    labels = [str(p[1]) for p in pairs]
    classes = _sorted_classes(set(labels))
    lookup = {c: j for j, c in enumerate(classes)}
    y = np.array([lookup[x] for x in labels], dtype=np.int64)
    return LabeledLatents(attribute, z, y, classes, "tagged", {"n": len(labels)})
