"""A sweep as a table of figures, and what the Sweep view draws from it (no Qt here).

Rows come from a sweep's report (a folder of checkpoints, figures read from the store or computed) or from the
results store alone (every checkpoint it has figures for, named by SHA-256 when no file is known). The
metric x metric rank correlation is Spearman's over the models that have both figures, as in Locatello et al.
2019, Fig. 3; figures per hyper-parameter value are grouped per objective for the violin plots.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.metrics.catalogue import ABOUT


@dataclass
class TableRow:
    label: str
    file: str | None  # None: known to the store only (by SHA-256)
    sha256: str | None
    objective: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    status: str = ""  # an error, a skip reason or how it was encoded


@dataclass
class SweepTable:
    rows: list[TableRow]
    columns: list[str]

    def column(self, name: str) -> np.ndarray:
        return np.array([_num(r.values.get(name)) for r in self.rows], dtype=np.float64)

    @property
    def objectives(self) -> list[str]:
        return sorted({r.objective for r in self.rows if r.objective})

    def hyperparameters(self, objective: str | None = None) -> list[str]:
        """Hyper-parameters that take more than one value among the rows (of ``objective``)."""
        seen: dict[str, set] = defaultdict(set)
        for r in self.rows:
            if objective is None or r.objective == objective:
                for k, v in r.hparams.items():
                    seen[k].add(_hashable(v))
        return sorted(k for k, vals in seen.items() if len(vals) > 1 and k != "seed")


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def _hashable(v: Any) -> Any:
    return repr(v) if isinstance(v, (list, dict)) else v


def from_report(report) -> SweepTable:
    rows = []
    for r in report.rows:
        status = r.error or r.skipped or r.note or "; ".join(f"{k}: {v}" for k, v in r.metric_errors.items())
        label = r.name or Path(r.file).name
        if r.name and sum(1 for o in report.rows if o.name == r.name) > 1:
            label = f"{r.name} ({Path(r.file).stem})"  # seeds of one setting share a name
        rows.append(TableRow(label, r.file, r.sha256, r.objective, dict(r.hparams), dict(r.values), status))
    return SweepTable(rows, list(report.columns))


def from_store(store, names: dict[str, str] | None = None) -> SweepTable:
    """Every checkpoint the store has metric figures for (its newest figure per metric key)."""
    from latentlab.core.metrics.base import MetricResult

    names = names or {}
    by_subject: dict[str, dict[str, float | None]] = defaultdict(dict)
    columns: list[str] = []
    for res in sorted(store.find(kind="metric"), key=lambda r: r.created):
        metric = MetricResult.from_dict(res.payload)
        if not metric.ok:
            continue
        keys = ABOUT[res.name].keys if res.name in ABOUT else tuple(metric.values)
        for key in keys:
            if key in metric.values:
                col = f"{res.name}.{key}"
                by_subject[res.subject][col] = _num(metric.values[key])
                if col not in columns:
                    columns.append(col)
    order = {c: i for i, c in enumerate(f"{m}.{k}" for m in ABOUT for k in ABOUT[m].keys)}
    columns.sort(key=lambda c: order.get(c, len(order)))
    rows = [TableRow(names.get(sha, sha[:12]), None, sha, values=vals) for sha, vals in by_subject.items()]
    return SweepTable(rows, columns)


def rank_correlation(table: SweepTable, columns: list[str] | None = None, min_models: int = 3
                     ) -> tuple[np.ndarray, list[str]]:
    """Spearman rank correlation between every two figures across models (NaN where fewer than ``min_models``
    models have both, or a figure does not vary); figures nobody has are left out."""
    from scipy.stats import spearmanr

    cols = [c for c in (columns or table.columns) if np.isfinite(table.column(c)).sum() >= min_models]
    m = np.full((len(cols), len(cols)), np.nan)
    data = {c: table.column(c) for c in cols}
    for i, a in enumerate(cols):
        for j, b in enumerate(cols):
            both = np.isfinite(data[a]) & np.isfinite(data[b])
            if both.sum() >= min_models and np.ptp(data[a][both]) > 0 and np.ptp(data[b][both]) > 0:
                m[i, j] = 1.0 if i == j else float(spearmanr(data[a][both], data[b][both])[0])
    return m, cols


def by_hyperparameter(table: SweepTable, objective: str | None, metric: str, hparam: str
                      ) -> list[tuple[Any, np.ndarray]]:
    """(value of ``hparam``, figures of ``metric``) per value, for the models of ``objective``, in value order."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for r in table.rows:
        if (objective is None or r.objective == objective) and hparam in r.hparams:
            v = _num(r.values.get(metric))
            if math.isfinite(v):
                groups[_hashable(r.hparams[hparam])].append(v)

    def order(k: Any) -> tuple:
        return (0, float(k), "") if isinstance(k, (int, float)) else (1, 0.0, str(k))

    return [(k, np.asarray(groups[k])) for k in sorted(groups, key=order)]
