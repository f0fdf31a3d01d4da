"""From a checkpoint and a dataset to stored metric results: encode once, compute what is missing, keep it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from latentlab.core import limits
from latentlab.core.checkpoint import Checkpoint, file_sha256, open_checkpoint
from latentlab.core.data import FactorDataset, get_dataset
from latentlab.core.encode import (
    REPRESENTATIONS,
    FactorEncodings,
    check_dataset_fits,
    encode_dataset,
    representation_fn,
    require_encoder,
)
from latentlab.core.errors import StoreUnavailable
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.limits import check_int, check_seed
from latentlab.core.metrics.base import METRICS_VERSION, MetricInputs, MetricResult
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.model import LatentModel, Quantized
from latentlab.core.store import ResultStore

log = logging.getLogger(__name__)
KIND = "metric"
# Notes the runner adds about the results store (the CLI and the panel show them; ``FROM_STORE`` marks a figure
# that was not computed this time).
FROM_STORE = "from the results store"
KEPT_FOR_LATER = "not in the results store yet"
NOT_SAVED = "not saved"


def _open_store(store: ResultStore | None | bool) -> tuple[ResultStore | None, str | None]:
    """The store to use and, when there is none to be had, why (said on every result computed)."""
    if store is not True:
        return store or None, None
    try:
        return ResultStore(), None
    except StoreUnavailable as exc:
        log.warning("%s", exc)
        return None, f"{NOT_SAVED}: {exc}"


def _save(db: ResultStore, key: tuple[str, str, str, str, dict[str, Any] | None, int], res: MetricResult) -> str | None:
    """Put one result in the store; the note to add when it did not go in (kept for later, or lost)."""
    try:
        if db.put(*key, res.to_dict()):
            return None
    except StoreUnavailable as exc:
        return f"{NOT_SAVED}: {exc}"
    why = db.problem.message if db.problem else f"{db.path}: the results store was unavailable"
    return f"{KEPT_FOR_LATER}: {why}; kept in {db.last_pending} and saved the next time the store can be written"


def prepare_inputs(model: LatentModel, dataset: FactorDataset, n: int = 10000, n_test: int | None = None,
                   seed: int = 0, batch_size: int = 256, ctx: JobContext | None = None) -> MetricInputs:
    """Encode ``n`` training and ``n_test`` (default n / 2) test points with uniformly drawn factors."""
    require_encoder(model)
    check_dataset_fits(model, dataset)
    n = check_int(n, "n (training points)", 2, limits.MAX_SAMPLES)
    n_test = max(2, n // 2) if n_test is None else check_int(n_test, "n_test (test points)", 2, limits.MAX_SAMPLES)
    batch_size = check_int(batch_size, "batch_size", 1, limits.MAX_BATCH)
    ctx = ensure_context(ctx)
    # Train and test factors come from distinct seed streams, so they are independent draws.
    train = encode_dataset(model, dataset, n, seed=2 * seed, batch_size=batch_size, ctx=ctx.sub(0, n / (n + n_test)))
    test = encode_dataset(model, dataset, n_test, seed=2 * seed + 1, batch_size=batch_size,
                          ctx=ctx.sub(n / (n + n_test), 1.0))
    encodings = FactorEncodings(model, dataset, batch_size)
    fns = {kind: representation_fn(model, dataset, kind, seed, batch_size, encodings) for kind in REPRESENTATIONS}
    info = model.info
    if info.latent_dim != train.mean.shape[1]:
        raise ValueError(f"{info.name}: the card says {info.latent_dim} latents, the encoder gives {train.mean.shape[1]}")
    return MetricInputs(train=train, test=test, factor_sizes=tuple(dataset.factor_sizes),
                        factor_names=tuple(dataset.factor_names),
                        latent_names=tuple(info.dim_label(j) for j in range(info.latent_dim)),
                        represent=lambda f, kind: fns[kind](f),
                        discrete_latents=isinstance(model, Quantized) and train.codes is not None)


def dataset_key(dataset: FactorDataset) -> str:
    """How a dataset is named in stored keys: the built-in name, or name + SHA-256 of its original file."""
    path = getattr(dataset, "path", None)
    return f"{dataset.name}@{file_sha256(path)}" if path is not None else dataset.name


def metric_key_params(name: str, params: dict[str, Any] | None, n: int, n_test: int, representation: str,
                      drop_passive: bool) -> dict[str, Any]:
    """Everything besides checkpoint, dataset and seed that a stored figure depends on."""
    return {"metric_params": ABOUT[name].resolve(params), "n": n, "n_test": n_test,
            "representation": representation, "drop_passive": bool(drop_passive), "version": METRICS_VERSION}


def evaluate(checkpoint: Checkpoint | str, dataset: FactorDataset | str | None = None,
             names: str | Iterable[str] | None = None, *, n: int = 10000, n_test: int | None = None,
             representation: str = "mean", drop_passive: bool = False, seed: int = 0,
             params: dict[str, dict[str, Any]] | None = None, store: ResultStore | None | bool = True,
             force: bool = False, device: str = "auto", batch_size: int = 256,
             ctx: JobContext | None = None) -> dict[str, MetricResult]:
    """Metrics for a checkpoint on a dataset; stored results are reused unless ``force``.

    ``store=True`` uses the default store, ``False``/``None`` none. Results that were stored come back with
    ``FROM_STORE`` in their notes. Encoding happens only when some metric is missing. A store that is locked,
    read-only or unusable never costs a figure: it is returned with a note (``KEPT_FOR_LATER`` or
    ``NOT_SAVED``) saying where it went.
    """
    from latentlab.core.metrics.registry import compute, parse_names  # scikit-learn, SciPy: only to compute

    ctx = ensure_context(ctx)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    ck = checkpoint if isinstance(checkpoint, Checkpoint) else open_checkpoint(checkpoint, device=device)
    if dataset is None:
        dataset = ck.info.dataset
        if not dataset:
            raise ValueError(f"{ck.path}: the model card names no dataset; give one (e.g. --dataset dsprites)")
    ds = get_dataset(dataset) if isinstance(dataset, str) else dataset
    require_encoder(ck.model, "metrics")
    check_dataset_fits(ck.model, ds)  # before the store is asked: no figure exists for a dataset that cannot fit
    selected = parse_names(names)
    params = params or {}
    n = check_int(n, "n (training points)", 2, limits.MAX_SAMPLES)
    n_test = max(2, n // 2) if n_test is None else check_int(n_test, "n_test (test points)", 2, limits.MAX_SAMPLES)
    seed = check_seed(seed)
    db, no_store = _open_store(store)
    dkey = dataset_key(ds)
    out: dict[str, MetricResult] = {}
    if db is not None and not force:
        for name in selected:
            kp = metric_key_params(name, params.get(name), n, n_test, representation, drop_passive)
            payload = db.get(KIND, ck.sha256, dkey, name, kp, seed)
            if payload is not None:
                res = MetricResult.from_dict(payload)
                res.notes.append(FROM_STORE)
                out[name] = res
                ctx.partial(res)
    missing = [m for m in selected if m not in out]
    if missing:
        if ck.info.factor_names and tuple(ck.info.factor_names) != tuple(ds.factor_names):
            log.warning("%s was trained on factors %s; evaluating on %s", ck.path, ck.info.factor_names, ds.factor_names)
        inputs = prepare_inputs(ck.model, ds, n, n_test, seed, batch_size, ctx.sub(0.0, 0.3))
        fresh = compute(missing, inputs, params, representation=representation, drop_passive=drop_passive,
                        seed=seed, ctx=ctx.sub(0.3, 1.0))
        for name, res in fresh.items():
            res.samples.setdefault("encoded_train", inputs.train.n)
            if res.ok and (db is not None or no_store):
                kp = metric_key_params(name, params.get(name), n, n_test, representation, drop_passive)
                note = _save(db, (KIND, ck.sha256, dkey, name, kp, seed), res) if db is not None else no_store
                if note:  # computed all the same: the figure is returned, and the user told where it went
                    res.notes.append(note)
            out[name] = res
    ctx.progress(1.0, "metrics done")
    return {m: out[m] for m in selected}


def summary_table(results: dict[str, MetricResult]) -> list[tuple[str, str, float | None, float]]:
    """(metric, figure, value, seconds) rows in registry order, for printing."""
    rows: list[tuple[str, str, float | None, float]] = []
    for name, res in results.items():
        if not res.ok:
            rows.append((name, res.message, None, res.seconds))
            continue
        for key in ABOUT[name].keys:
            if key in res.values:
                v = res.values[key]
                rows.append((name, key, None if not np.isfinite(v) else v, res.seconds))
    return rows
