"""Disentanglement metrics: one module per metric, one registry, results as plain dataclasses.

    inputs = prepare_inputs(model, dataset, n=10_000, seed=0)          # encode once
    results = compute(["mig", "dci"], inputs, representation="mean")  # dict name -> MetricResult

``evaluate`` does both for a checkpoint and keeps results in the store (asking again is instant).
"""

from latentlab.core.metrics.base import METRICS_VERSION, MetricInputs, MetricResult, MetricUnavailable, View
from latentlab.core.metrics.registry import DEFAULT_SUITE, METRICS, MetricSpec, compute, kept_latents, parse_names
from latentlab.core.metrics.runner import dataset_key, evaluate, metric_key_params, prepare_inputs

__all__ = [
    "DEFAULT_SUITE", "METRICS", "METRICS_VERSION", "MetricInputs", "MetricResult", "MetricSpec", "MetricUnavailable",
    "View", "compute", "dataset_key", "evaluate", "kept_latents", "metric_key_params", "parse_names", "prepare_inputs",
]
