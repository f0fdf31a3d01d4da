"""The metric registry and ``compute``: one call runs any set of metrics on one set of encoded points."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from latentlab.core.encode import REPRESENTATIONS
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.metrics import (
    activity,
    betavae,
    dci,
    factorvae,
    infomec,
    mig,
    modularity,
    representation,
    sap,
    unsupervised,
)
from latentlab.core.metrics.base import MetricInputs, MetricResult, MetricUnavailable, View
from latentlab.core.metrics.catalogue import ABOUT, MetricAbout

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class MetricSpec(MetricAbout):
    """A metric of the catalogue (what it is called and reports, its parameters) with the function computing it."""

    fn: Callable[[View, dict[str, Any], JobContext], dict[str, Any]]


def _spec(name: str, fn: Callable[[View, dict[str, Any], JobContext], dict[str, Any]],
          defaults: dict[str, Any]) -> MetricSpec:
    about = ABOUT[name]
    listed = {f.name: getattr(about, f.name) for f in fields(about)}
    return MetricSpec(**{**listed, "defaults": defaults}, fn=fn)


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    _spec("betavae", betavae.compute, betavae.DEFAULTS),
    _spec("factorvae", factorvae.compute, factorvae.DEFAULTS),
    _spec("mig", mig.compute, mig.DEFAULTS),
    _spec("dci", dci.compute, dci.DEFAULTS),
    _spec("sap", sap.compute, sap.DEFAULTS),
    _spec("modularity", modularity.compute, modularity.DEFAULTS),
    _spec("infomec", infomec.compute, infomec.DEFAULTS),
    _spec("unsupervised", unsupervised.compute, unsupervised.DEFAULTS),
    _spec("geometry", representation.compute, representation.DEFAULTS),
    _spec("kl", activity.compute_kl, {}),
    _spec("activity", activity.compute_activity, activity.DEFAULTS),
)}

DEFAULT_SUITE = tuple(METRICS)


def parse_names(names: str | Iterable[str] | None) -> list[str]:
    """'mig,dci' or a list -> known metric names in registry order; 'all' or None -> every metric."""
    if names is None:
        return list(DEFAULT_SUITE)
    items = [s.strip().lower() for s in (names.split(",") if isinstance(names, str) else names) if s.strip()]
    if not items or items == ["all"]:
        return list(DEFAULT_SUITE)
    unknown = [s for s in items if s not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    return [m for m in METRICS if m in items]


def kept_latents(inputs: MetricInputs, drop_passive: bool) -> tuple[np.ndarray, list[str]]:
    """Indices of the latents metrics look at: all of them, or all but the passive ones."""
    everything = np.arange(inputs.latent_dim)
    if not drop_passive:
        return everything, []
    labels, _ = activity.classify_encoded(inputs.train)
    keep = everything[labels != activity.PASSIVE]
    dropped = [inputs.latent_label(j) for j in everything[labels == activity.PASSIVE]]
    note = [f"passive latents dropped: {', '.join(dropped)}"] if dropped else ["no passive latent to drop"]
    return keep, note


def compute(names: str | Iterable[str] | None, inputs: MetricInputs, params: dict[str, dict[str, Any]] | None = None,
            *, representation: str = "mean", drop_passive: bool = False, seed: int = 0,
            ctx: JobContext | None = None) -> dict[str, MetricResult]:
    """Run ``names`` on ``inputs``; a metric that does not apply comes back with status 'unavailable'.

    ``params`` maps a metric name to overrides of its defaults. Results arrive one by one through
    ``ctx.partial`` as well, so a panel can show each card as soon as it is ready.
    """
    ctx = ensure_context(ctx)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    selected = parse_names(names)
    params = params or {}
    stray = set(params) - set(METRICS)
    if stray:
        raise ValueError(f"parameters given for unknown metric(s) {sorted(stray)}")
    resolved = {n: METRICS[n].resolve(params.get(n)) for n in selected}
    keep, drop_note = kept_latents(inputs, drop_passive)
    every = np.arange(inputs.latent_dim)
    total_cost = sum(METRICS[n].cost for n in selected) or 1.0
    done = 0.0
    out: dict[str, MetricResult] = {}
    for name in selected:
        spec = METRICS[name]
        ctx.check()
        latents = every if spec.per_latent else keep
        view = View(inputs, representation, latents, seed)
        sub = ctx.sub(done / total_cost, (done + spec.cost) / total_cost)
        sub.progress(0.0, spec.title)
        start = time.perf_counter()
        base: dict[str, Any] = dict(metric=name, params=resolved[name], seed=seed, representation=representation,
                                    drop_passive=drop_passive, latents=[int(j) for j in latents],
                                    latent_names=[inputs.latent_label(int(j)) for j in latents],
                                    factor_names=list(inputs.factor_names))
        try:
            # One BLAS/OpenMP thread: their thread teams spin-wait at barriers when the cores are busy (a UI,
            # a training run), which made the logistic regressions 4x slower on a loaded 2-core machine;
            # metrics that gain from parallelism use processes over factors instead (DCI).
            with threadpool_limits(1):
                raw = spec.fn(view, resolved[name], sub)
        except MetricUnavailable as exc:
            result = MetricResult(values={}, status="unavailable", message=str(exc),
                                  seconds=time.perf_counter() - start, **base)
        else:
            notes = list(raw.get("notes", [])) + ([] if spec.per_latent else drop_note)
            result = MetricResult(values={k: float(v) for k, v in raw["values"].items()},
                                  arrays={k: np.asarray(v) for k, v in raw.get("arrays", {}).items()},
                                  samples=raw.get("samples", {}), notes=notes,
                                  seconds=time.perf_counter() - start, **base)
        log.info("%s: %s in %.2fs", name, result.values or result.message, result.seconds)
        out[name] = result
        done += spec.cost
        ctx.progress(done / total_cost, f"{spec.title} done")
        ctx.partial(result)
    return out
