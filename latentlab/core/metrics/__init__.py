"""Disentanglement metrics: one module per metric, one registry, results as plain dataclasses.

    inputs = prepare_inputs(model, dataset, n=10_000, seed=0)          # encode once
    results = compute(["mig", "dci"], inputs, representation="mean")  # dict name -> MetricResult

``evaluate`` does both for a checkpoint and keeps results in the store (asking again is instant).

The names below are imported on first use (PEP 562): the metrics pull torch, scikit-learn and SciPy, and
``catalogue`` (what each metric is called) must stay importable without them while the window is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from latentlab.core.lazy_exports import lazy_exports

_WHERE = {
    "METRICS_VERSION": "base", "MetricInputs": "base", "MetricResult": "base", "MetricUnavailable": "base",
    "View": "base", "DEFAULT_SUITE": "registry", "METRICS": "registry", "MetricSpec": "registry",
    "compute": "registry", "kept_latents": "registry", "parse_names": "registry", "dataset_key": "runner",
    "evaluate": "runner", "metric_key_params": "runner", "prepare_inputs": "runner",
}

__all__ = [
    "DEFAULT_SUITE", "METRICS", "METRICS_VERSION", "MetricInputs", "MetricResult", "MetricSpec", "MetricUnavailable",
    "View", "compute", "dataset_key", "evaluate", "kept_latents", "metric_key_params", "parse_names", "prepare_inputs",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)


if TYPE_CHECKING:
    from latentlab.core.metrics.base import METRICS_VERSION, MetricInputs, MetricResult, MetricUnavailable, View
    from latentlab.core.metrics.registry import (
        DEFAULT_SUITE,
        METRICS,
        MetricSpec,
        compute,
        kept_latents,
        parse_names,
    )
    from latentlab.core.metrics.runner import dataset_key, evaluate, metric_key_params, prepare_inputs
