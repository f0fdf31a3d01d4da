"""``sweep``: the same metrics over many checkpoints, as tasks on Ray (or in turn), figures kept in the store.

Planning happens in the driver: each checkpoint is opened once on the CPU (a file that fails is reported in
its row and the sweep goes on), its way in is chosen (its encoder, an InfoGAN's Q head, inversion, or skipped
with the reason), and every figure already in the results store is read from it. Only the missing
(checkpoint, metric group) pairs become tasks, so a rerun of an interrupted sweep does the rest only. Workers
return plain data; the driver alone writes the store, one transaction per figure, as each task finishes.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import CheckpointError, LatentlabError, StoreUnavailable
from latentlab.core.jobs import JobCancelled, JobContext, ensure_context
from latentlab.core.metrics.base import MetricResult
from latentlab.core.metrics.registry import METRICS
from latentlab.core.metrics.runner import KIND, dataset_key, metric_key_params
from latentlab.core.store import ResultStore, canonical_json
from latentlab.core.sweep import udr as udr_math
from latentlab.core.sweep.encoders import ENCODER, SKIP, Route, choose_route
from latentlab.core.sweep.engine import Failure, RunSummary, SequentialBackend, Task, run_tasks
from latentlab.core.sweep.tasks import EvalSettings, EvalTask, group_of, run_eval

log = logging.getLogger(__name__)

UDR_NAME = "udr"
UDR_KEYS = ("udr_spearman", "udr_lasso")
# Card settings that do not make two runs different models: what is left groups seeds for UDR.
_NOT_HPARAMS = {"seed", "name", "device", "threads", "log_every"}


@dataclass
class SweepOptions:
    metrics: list[str] = field(default_factory=lambda: ["mig", "dci", "sap", "modularity", "infomec"])
    settings: EvalSettings = field(default_factory=EvalSettings)
    invert: bool = False
    invert_config: dict[str, Any] = field(default_factory=dict)
    udr: bool = False
    udr_groups: str = "card"  # "card": same training settings but the seed; "all": every checkpoint together
    force: bool = False
    trust: bool = False
    arch: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    retries: int = 2


@dataclass
class Row:
    """One checkpoint of a sweep: its figures (``metric.key`` -> value) and what happened to it."""

    file: str
    name: str | None = None
    sha256: str | None = None
    dataset: str | None = None
    error: str | None = None
    skipped: str | None = None
    note: str = ""  # how it was encoded when not by its own encoder
    values: dict[str, float | None] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)  # metrics read from the store
    computed: list[str] = field(default_factory=list)
    objective: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    udr_group: str | None = None
    store_notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "name": self.name, "sha256": self.sha256, "dataset": self.dataset,
               "objective": self.objective, "hparams": self.hparams, **self.values}
        for key in ("error", "skipped"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.note:
            out["note"] = self.note
        if self.metric_errors:
            out["metric_errors"] = self.metric_errors
        if self.store_notes:
            out["store_notes"] = self.store_notes
        out["from_store"], out["computed"] = list(self.stored), list(self.computed)
        return out


@dataclass
class SweepReport:
    rows: list[Row]
    columns: list[str]
    tasks: int = 0
    summary: RunSummary = field(default_factory=RunSummary)
    backend: str = "sequential"
    cancelled: bool = False


class SweepCancelled(JobCancelled):
    """The sweep was stopped; ``report`` has what finished (and was stored) before."""

    def __init__(self, report: SweepReport):
        super().__init__("sweep cancelled")
        self.report = report


@dataclass
class _Plan:
    row: Row
    path: Path
    route: Route
    blob: bytes | None = None
    missing: list[str] = field(default_factory=list)
    udr_rep: udr_math.Representation | None = None
    udr_needed: bool = False  # its group's UDR is not (all) in the store: encode it
    dkey: str = ""  # the dataset as stored keys name it
    card: dict[str, Any] = field(default_factory=dict)


def columns_for(metrics: list[str], udr: bool) -> list[str]:
    cols = [f"{m}.{k}" for m in metrics for k in METRICS[m].keys]
    return cols + ([f"{UDR_NAME}.{k}" for k in UDR_KEYS] if udr else [])


def hyperparameters(card: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(objective, hyper-parameters) from a model card: what the Sweep view plots figures against."""
    training = card.get("training") or {}
    config = card.get("config") or {}
    objective = training.get("objective") or config.get("arch") or card.get("architecture")
    hp: dict[str, Any] = {}
    for k, v in (config.get("objective") or training.get("objective_hparams") or {}).items():
        hp[k] = v
    for k in ("latent_dim", "steps", "lr", "batch_size", "seed"):
        if k in config and config[k] is not None:
            hp.setdefault(k, config[k])
    if "step" in training:
        hp["step"] = training["step"]
    return objective, hp


def udr_group_key(card: dict[str, Any]) -> str | None:
    """Checkpoints with the same key differ only by their seed (UDR's groups); None without a training card."""
    config = card.get("config")
    if not isinstance(config, dict) or not config:
        return None
    same = {k: v for k, v in config.items() if k not in _NOT_HPARAMS}
    same["step"] = (card.get("training") or {}).get("step")
    return hashlib.sha256(canonical_json(same).encode()).hexdigest()[:16]


def _key_params(name: str, opts: SweepOptions, route: Route) -> dict[str, Any]:
    s = opts.settings
    kp = metric_key_params(name, s.params.get(name), s.n, s.resolved_n_test(), s.representation, s.drop_passive)
    if route.kind != ENCODER:  # other figures than the model's own encoder gives: never mixed up with them
        kp["encoder"] = route.kind if not route.invert else {"kind": route.kind, "inversion": route.invert}
    return kp


def _plan_one(file: str, opts: SweepOptions, db: ResultStore | None) -> _Plan:
    from latentlab.core.checkpoint import open_checkpoint

    row = Row(file=file)
    path = Path(file)
    plan = _Plan(row, path, Route(SKIP))
    try:
        ck = open_checkpoint(path, arch=opts.arch, trust=opts.trust, device="cpu")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != ck.sha256:
            raise CheckpointError(file, "it changed while it was being opened; run the sweep again")
    except (LatentlabError, OSError, ValueError) as exc:
        row.error = str(exc)
        return plan
    row.name, row.sha256, plan.card = ck.info.name, ck.sha256, ck.card
    row.objective, row.hparams = hyperparameters(ck.card)
    row.dataset = opts.settings.dataset or ck.info.dataset
    if not row.dataset:
        row.error = "the model card names no dataset; give one (--dataset dsprites)"
        return plan
    try:
        from latentlab.core.data import get_dataset

        plan.dkey = dataset_key(get_dataset(row.dataset))
    except (LatentlabError, OSError, ValueError) as exc:
        row.error = str(exc)
        return plan
    plan.route = choose_route(ck, opts.invert, opts.invert_config)
    if plan.route.kind == SKIP:
        row.skipped = plan.route.note
        return plan
    row.note = plan.route.note
    plan.blob = blob
    plan.missing = list(opts.metrics)
    if db is not None and not opts.force:
        for name in opts.metrics:
            payload = db.get(KIND, ck.sha256, plan.dkey, name, _key_params(name, opts, plan.route), opts.settings.seed)
            if payload is not None:
                _take(row, name, MetricResult.from_dict(payload))
                row.stored.append(name)
        plan.missing = [m for m in opts.metrics if m not in row.stored]
    return plan


def _take(row: Row, name: str, res: MetricResult) -> None:
    if not res.ok:
        row.metric_errors[name] = res.message
        return
    for key in METRICS[name].keys if name in METRICS else UDR_KEYS:
        v = res.values.get(key)
        row.values[f"{name}.{key}"] = None if v is None or not math.isfinite(v) else float(v)


class _Keeper:
    """Writes what tasks return into the store (the driver's only job besides scheduling)."""

    def __init__(self, db: ResultStore | None, opts: SweepOptions):
        self.db, self.opts = db, opts

    def put(self, plan: _Plan, name: str, kp: dict[str, Any], res: MetricResult) -> None:
        sha = plan.row.sha256
        if self.db is None or not res.ok or sha is None:  # no digest: the file was never read, nothing ran
            return
        try:
            if not self.db.put(KIND, sha, plan.dkey, name, kp, self.opts.settings.seed, res.to_dict()):
                plan.row.store_notes.append(f"{name}: kept in {self.db.last_pending} until the store can be written")
        except StoreUnavailable as exc:
            plan.row.store_notes.append(f"{name}: not saved ({exc})")


def _tasks_for(plans: list[_Plan], opts: SweepOptions, share) -> list[Task]:
    tasks: list[Task] = []
    for i, plan in enumerate(plans):
        if plan.blob is None:
            continue
        groups: dict[str, list[str]] = {}
        for m in plan.missing:
            groups.setdefault(group_of(m), []).append(m)
        if not groups and not plan.udr_needed:
            continue
        ref = share(plan.blob)
        base: dict[str, Any] = dict(file_name=plan.path.name, sha256=plan.row.sha256, dataset=plan.row.dataset,
                    settings=opts.settings, route=plan.route, trusted=bool(opts.trust), arch=opts.arch)
        for g, names in groups.items():
            et = EvalTask(task_id=f"{i}:{g}", metrics=tuple(names), **base)
            weight = sum(METRICS[m].cost for m in names) + 0.5
            tasks.append(Task(et.task_id, run_eval, (et, ref), f"{plan.path.name} {g}", weight,
                              opts.cpus_per_task, opts.gpus_per_task))
        if plan.udr_needed:
            et = EvalTask(task_id=f"{i}:udr", metrics=(), udr=True, **base)
            tasks.append(Task(et.task_id, run_eval, (et, ref), f"{plan.path.name} udr", 0.5,
                              opts.cpus_per_task, opts.gpus_per_task))
    return tasks


def _udr_groups(plans: list[_Plan], opts: SweepOptions) -> dict[str, list[_Plan]]:
    groups: dict[str, list[_Plan]] = {}
    for plan in plans:
        if plan.blob is None:
            continue
        key = "all" if opts.udr_groups == "all" else udr_group_key(plan.card)
        if key is None:
            plan.row.metric_errors[UDR_NAME] = "no training settings in its card to find its seed siblings by"
            continue
        plan.row.udr_group = key
        groups.setdefault(key, []).append(plan)
    for key, members in list(groups.items()):
        if len(members) < 2:
            members[0].row.metric_errors[UDR_NAME] = ("UDR needs models of the same hyper-parameters with other seeds;"
                                                      " this one has none in the sweep")
            del groups[key]
    return groups


def _udr_params(opts: SweepOptions, members: list[_Plan]) -> dict[str, Any]:
    peers = sorted(str(p.row.sha256) for p in members)
    return {"udr_version": udr_math.UDR_VERSION, "n": opts.settings.udr_n, "kl_threshold": udr_math.KL_THRESHOLD,
            "alpha": udr_math.LASSO_ALPHA, "peers": hashlib.sha256("".join(peers).encode()).hexdigest(),
            "encoder": sorted({p.route.kind for p in members})}


def _plan_udr(groups: dict[str, list[_Plan]], opts: SweepOptions, db: ResultStore | None) -> None:
    for members in groups.values():
        kp = _udr_params(opts, members)
        for plan in members:
            payload = None
            if db is not None and not opts.force and plan.row.sha256 is not None:
                payload = db.get(KIND, plan.row.sha256, plan.dkey, UDR_NAME, kp, opts.settings.seed)
            if payload is not None:
                _take(plan.row, UDR_NAME, MetricResult.from_dict(payload))
                plan.row.stored.append(UDR_NAME)
        if any(UDR_NAME not in p.row.stored for p in members):
            for plan in members:
                plan.udr_needed = True


def _finish_udr(groups: dict[str, list[_Plan]], opts: SweepOptions, keeper: _Keeper) -> None:
    for members in groups.values():
        if all(UDR_NAME in p.row.stored for p in members):
            continue
        reps = [p.udr_rep for p in members if p.udr_rep is not None]
        have = [p for p in members if p.udr_rep is not None]
        lost = [p for p in members if p.udr_rep is None]
        if len(have) < 2:
            for p in members:
                p.row.metric_errors.setdefault(UDR_NAME, "too few models of its group could be encoded for UDR")
            continue
        kp = _udr_params(opts, have)
        results = {v: udr_math.udr(reps, v, seed=opts.settings.seed) for v in udr_math.VARIANTS}
        for i, plan in enumerate(have):
            res = MetricResult(
                metric=UDR_NAME, values={f"udr_{v}": float(r.scores[i]) for v, r in results.items()},
                arrays={f"pairwise_{v}": np.asarray(r.pairwise[i]) for v, r in results.items()},
                params=kp, seed=opts.settings.seed, samples={"n": opts.settings.udr_n, "models": len(have)},
                latents=[int(j) for j in np.flatnonzero(results["spearman"].informative[i])],
                notes=[f"median over {len(have) - 1} other seed(s) of the same hyper-parameters"]
                + ([f"{len(lost)} model(s) of the group could not be encoded and were left out"] if lost else []))
            _take(plan.row, UDR_NAME, res)
            plan.row.computed.append(UDR_NAME)
            keeper.put(plan, UDR_NAME, kp, res)


def run_sweep(files: list[str], opts: SweepOptions, backend: Any | None = None, ctx: JobContext | None = None,
              store: ResultStore | None | bool = True, compute: bool = True, on_tick=None) -> SweepReport:
    """Evaluate ``files`` (see the module docstring); ``compute=False`` only reads what the store has."""
    ctx = ensure_context(ctx)
    db = ResultStore() if store is True else (store or None)
    backend = backend if backend is not None else SequentialBackend()
    plans = []
    for i, f in enumerate(files):
        ctx.check()
        ctx.progress(0.0, f"opening {Path(f).name} ({i + 1}/{len(files)})")
        plans.append(_plan_one(f, opts, db))
    groups = _udr_groups(plans, opts) if opts.udr else {}
    _plan_udr(groups, opts, db)
    report = SweepReport([p.row for p in plans], columns_for(opts.metrics, opts.udr), backend=backend.name)
    if not compute:
        return report
    share = getattr(backend, "share", None) or (lambda obj: obj)
    tasks = _tasks_for(plans, opts, share)
    report.tasks = len(tasks)
    keeper = _Keeper(db, opts)
    by_index = {str(i): p for i, p in enumerate(plans)}

    def on_result(task: Task, value: dict[str, Any]) -> None:
        plan = by_index[task.task_id.split(":", 1)[0]]
        if "udr" in value:
            u = value["udr"]
            plan.udr_rep = udr_math.Representation(np.asarray(u["mean"]), None if u["logvar"] is None
                                                   else np.asarray(u["logvar"]))
            return
        for name, d in value["results"].items():
            res = MetricResult.from_dict(d)
            _take(plan.row, name, res)
            plan.row.computed.append(name)
            keeper.put(plan, name, _key_params(name, opts, plan.route), res)

    def on_error(failure: Failure) -> None:
        plan = by_index[failure.task_id.split(":", 1)[0]]
        group = failure.task_id.split(":", 1)[1]
        names = [UDR_NAME] if group == "udr" else [m for m in plan.missing if group_of(m) == group]
        for name in names:
            plan.row.metric_errors[name] = failure.message

    try:
        report.summary = run_tasks(tasks, backend, on_result, on_error, ctx, opts.retries, on_tick=on_tick)
    except (JobCancelled, KeyboardInterrupt) as exc:
        report.cancelled = True
        raise SweepCancelled(report) from exc
    _finish_udr(groups, opts, keeper)
    ctx.progress(1.0, "sweep done")
    return report
