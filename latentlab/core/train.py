"""The training loop behind ``latentlab train``: any zoo arch on any factor dataset, seeded, cancellable."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core import limits
from latentlab.core.checkpoint import make_card, save_checkpoint
from latentlab.core.data import FactorDataset, get_dataset
from latentlab.core.device import resolve_device
from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobCancelled, JobContext, ensure_context
from latentlab.core.limits import check_float, check_int, check_seed
from latentlab.core.model import ModelInfo
from latentlab.core.train_state import (
    RunState,
    check_settings,
    read_resume,
    restore,
    resume_path,
    save_resume,
    series_dir,
    snapshot_name,
)
from latentlab.core.zoo import ARCHS, Arch, build_network, build_objective
from latentlab.core.zoo.models import ZooModel
from latentlab.core.zoo.objectives import Objective, optimizer_for

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    arch: str = "beta_vae"
    dataset: str = "dsprites"
    steps: int = 1000
    batch_size: int = 64
    lr: float | None = None  # None: the arch's default
    seed: int = 0
    latent_dim: int = 10
    device: str = "auto"
    name: str | None = None
    objective: dict[str, Any] = field(default_factory=dict)  # objective hyper-parameters (beta, gamma, ...)
    network: dict[str, Any] = field(default_factory=dict)  # network hyper-parameters (base, hidden, ...)
    log_every: int = 50
    threads: int | None = None

    def validate(self) -> None:
        """Refuse, before any dataset or network is built, what cannot train or would not fit in memory."""
        if self.arch not in ARCHS:
            raise BadInput(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        check_int(self.steps, "steps", 1, limits.MAX_STEPS)
        check_int(self.batch_size, "batch_size", 2, limits.MAX_BATCH)
        check_int(self.latent_dim, "latent_dim", 1, limits.MAX_LATENT_DIM)
        check_int(self.log_every, "log_every", 1, limits.MAX_STEPS)
        check_seed(self.seed)
        if self.lr is not None:
            check_float(self.lr, "lr", 0.0, 10.0, lo_open=True)
        if self.threads is not None:
            check_int(self.threads, "threads", 1, limits.MAX_THREADS)
        for key, value in self.objective.items():
            _check_hparam(value, f"objective {key}", None)
        for key, value in self.network.items():
            _check_hparam(value, f"network {key}", limits.MAX_HIDDEN)


def _check_hparam(value: Any, name: str, max_int: int | None) -> None:
    """Numbers in a hyper-parameter (also inside lists) are finite; a network's sizes are 1..``max_int``."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if len(items) > 64:
        raise BadInput(f"{name}: a list of {len(items)} values is more than any hyper-parameter takes")
    for v in items:
        if isinstance(v, bool) or isinstance(v, str) or v is None:
            continue
        if isinstance(v, int):
            if max_int is not None:
                check_int(v, name, 1, max_int)
        elif isinstance(v, float):
            check_float(v, name)
        else:
            raise BadInput(f"{name}: expected numbers, text or a list of them, got {type(v).__name__}")


@dataclass
class TrainResult:
    model: torch.nn.Module
    card: dict[str, Any]
    history: list[dict[str, float]]
    resumed_from: int = 0  # the step a resumed run continued from (0: a fresh run)


@dataclass
class RunFiles:
    """Where a run keeps what lets it survive an interruption, and its checkpoint series.

    ``resume``: the resume state, written every ``save_every`` steps, when the run is cancelled and at its
    end (read back when ``resume_from_file``). ``snapshots``: a folder that gets a full checkpoint every
    ``snapshot_every`` steps and at the last step, each card naming its step (the compare panel's series
    slider orders them by it).
    """

    resume: Path | None = None
    resume_from_file: bool = False
    save_every: int = 1000
    snapshots: Path | None = None
    snapshot_every: int | None = None
    recipe: str | None = None


def _batches(dataset: FactorDataset, batch_size: int, rng: np.random.Generator):
    while True:
        f = dataset.sample_factors(batch_size, rng)
        yield torch.from_numpy(dataset.images(f))


def _check_config(config: TrainConfig, files: RunFiles) -> None:
    if config.arch not in ARCHS:
        raise BadInput(f"unknown arch {config.arch!r}; choose one of {', '.join(ARCHS)}")
    if config.steps < 1 or config.batch_size < 2:
        raise BadInput("steps must be >= 1 and batch_size >= 2")
    if files.save_every < 1 or (files.snapshot_every is not None and files.snapshot_every < 1):
        raise BadInput("save and snapshot intervals must be at least 1 step")


def train(config: TrainConfig, ctx: JobContext | None = None, dataset: FactorDataset | None = None,
          files: RunFiles | None = None) -> TrainResult:
    """Train ``config.arch`` on ``config.dataset`` and return the model with its filled-in card.

    With ``files`` the run keeps a resume state and snapshots (see ``RunFiles``); a run resumed from its
    resume state continues exactly: the same seed, settings and thread count give the same weights as a
    run that was never interrupted.
    """
    ctx = ensure_context(ctx)
    files = files or RunFiles()
    config.validate()
    _check_config(config, files)
    saved = _read_saved(config, files)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = _prepare_data(config, dataset, ctx)
    run = _build_run(config, files, ctx, data, device, rng)
    if saved is not None:
        _resume_state(run, saved)
    resumed_from = run.state.step
    run.recent = deque(run.state.recent, maxlen=100)
    run.batches = _batches(data, config.batch_size, rng)
    run.clock = time.monotonic()
    run.model.train()
    _train_steps(run)
    run.save_state(config.steps)
    run.model.eval()
    run.model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # torch's stubs omit memory_format
    card = run.card_at(config.steps)
    return TrainResult(model=run.model, card=card, history=run.state.history, resumed_from=resumed_from)


@dataclass
class _Run:
    """What the steps of one training run share: the built pieces, the run's counters and its clock."""

    config: TrainConfig
    files: RunFiles
    ctx: JobContext
    data: FactorDataset
    arch: Arch
    model: ZooModel
    objective: Objective
    opt: torch.optim.Optimizer
    optimizers: dict[str, torch.optim.Optimizer]
    lr: float
    device: torch.device
    rng: np.random.Generator
    state: RunState
    recent: deque[dict[str, float]] = field(default_factory=deque)
    batches: Iterator[torch.Tensor] = field(default_factory=lambda: iter(()))
    clock: float = 0.0

    def next_batch(self) -> torch.Tensor:
        return next(self.batches).to(self.device).contiguous(memory_format=torch.channels_last)

    def card_at(self, step: int) -> dict[str, Any]:
        self.state.seconds += time.monotonic() - self.clock
        self.clock = time.monotonic()
        return _card(self.model, self.config, self.arch.objective, self.objective.hparams, self.data, self.lr,
                     self.device, step, self.state)

    def save_state(self, step: int) -> None:
        if self.files.resume is None:
            return
        self.state.step, self.state.recent = step, list(self.recent)
        self.card_at(step)  # brings state.seconds up to date
        save_resume(self.files.resume, self.state, self.model, self.objective, self.optimizers, self.rng,
                    self.device)


def _read_saved(config: TrainConfig, files: RunFiles) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """The resume state to continue from, read (and checked) before anything is built; None for a fresh run."""
    if files.resume is None or not files.resume_from_file or not files.resume.exists():
        return None
    saved = read_resume(files.resume)
    check_settings(files.resume, saved[0]["config"], int(saved[0]["step"]), asdict(config))
    return saved


def _prepare_data(config: TrainConfig, dataset: FactorDataset | None, ctx: JobContext) -> FactorDataset:
    data = dataset if dataset is not None else get_dataset(config.dataset)
    if hasattr(data, "precompute"):
        ctx.progress(0.0, "preparing the dataset renderer")
        data.precompute()
    return data


def _build_model(config: TrainConfig, arch: Arch, data: FactorDataset, device: torch.device) -> ZooModel:
    c, h, w = data.image_shape
    name = config.name or f"{config.arch}-{data.name}"
    net_hp = {"latent_dim": config.latent_dim, "channels": c, "image_size": h, **config.network}
    model = build_network(arch.network, **net_hp)
    prior = type(model).prior
    model.info = ModelInfo(name, config.latent_dim, (c, h, w), prior=prior, dataset=data.name,
                           factor_names=tuple(data.factor_names))
    model.to(device)
    # channels_last makes the CPU convolutions ~1.5x faster and costs nothing on CUDA.
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit memory_format
    return model


def _build_run(config: TrainConfig, files: RunFiles, ctx: JobContext, data: FactorDataset, device: torch.device,
               rng: np.random.Generator) -> _Run:
    """Build the network, its objective and optimizers: a fresh run at step 0."""
    arch = ARCHS[config.arch]
    model = _build_model(config, arch, data, device)
    objective = build_objective(config.arch, **config.objective)
    objective.setup(model, config.steps, data.num_samples)
    lr = config.lr if config.lr is not None else arch.lr
    opt = optimizer_for(objective, model, lr)
    optimizers = {"model": opt, **objective.optimizers()}
    return _Run(config=config, files=files, ctx=ctx, data=data, arch=arch, model=model, objective=objective,
                opt=opt, optimizers=optimizers, lr=lr, device=device, rng=rng,
                state=RunState(step=0, config=asdict(config)))


def _resume_state(run: _Run, saved: tuple[dict[str, Any], dict[str, torch.Tensor]]) -> None:
    """Load the saved weights, optimizer states, RNG states and counters into the freshly built run."""
    assert run.files.resume is not None
    run.state = restore(run.files.resume, *saved, run.model, run.objective, run.optimizers, run.rng, run.device)
    run.state.config = asdict(run.config)
    log.info("resuming %s from step %d", run.files.resume, run.state.step)
    run.ctx.progress(run.state.step / run.config.steps, f"resumed at step {run.state.step}")


def _train_steps(run: _Run) -> None:
    """The steps after ``run.state.step``; a cancelled run saves its resume state before the error goes on."""
    config, files = run.config, run.files
    step = run.state.step
    try:
        for step in range(run.state.step + 1, config.steps + 1):
            run.ctx.check()
            logs = _one_step(run.model, run.objective, run.opt, run.next_batch, run.batches, run.device, step)
            run.recent.append(logs)
            if step % config.log_every == 0 or step == config.steps:
                _log_window(run, step, logs)
            if files.snapshots is not None and files.snapshot_every and (
                    step % files.snapshot_every == 0 or step == config.steps):
                _snapshot(run.model, run.card_at(step), files, step)
            if step % files.save_every == 0 and step < config.steps:
                run.save_state(step)
    except JobCancelled:
        run.save_state(step - 1)  # ctx.check() runs before a step starts: the state is that of the step before
        raise


def _log_window(run: _Run, step: int, logs: dict[str, float]) -> None:
    """Record and report the mean of the recent steps' losses (those of ``logs``' keys)."""
    mean = {k: float(np.mean([r[k] for r in run.recent if k in r])) for k in logs}
    run.state.history.append({"step": step, **mean})
    run.ctx.partial({"step": step, **mean})
    run.ctx.progress(step / run.config.steps, f"step {step}  " + "  ".join(f"{k} {v:.4g}" for k, v in mean.items()))


def _one_step(model, objective, opt, next_batch, batches, device, step: int) -> dict[str, float]:
    pre_logs = objective.pre_step(model, next_batch, step)  # a GAN's critic updates
    x = next_batch()
    loss, logs = objective.loss(model, x, step)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss.item()} at step {step}; try a lower learning rate")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if objective.grad_clip_value:
        torch.nn.utils.clip_grad_value_(model.parameters(), objective.grad_clip_value)
    opt.step()
    logs = {**pre_logs, **logs}
    if objective.has_aux:
        x2 = next(batches).to(device).contiguous(memory_format=torch.channels_last)
        logs.update(objective.aux_step(model, x, x2))
    return logs


def _card(model, config: TrainConfig, objective_name: str, objective_hparams: dict[str, Any], data, lr: float,
          device, step: int, run: RunState) -> dict[str, Any]:
    final = {k: round(v, 5) for k, v in run.history[-1].items() if k != "step"} if run.history else {}
    training = {
        "arch": config.arch,
        "objective": objective_name,
        "objective_hparams": objective_hparams,
        "steps": config.steps,
        "step": step,
        "batch_size": config.batch_size,
        "lr": lr,
        "seed": config.seed,
        "dataset": data.name,
        "factor_names": list(data.factor_names),
        "final_losses": final,
        "seconds": round(run.seconds, 1),
        "device": str(device),
        "torch": torch.__version__,
    }
    return make_card(model, training=training, config=asdict(config))


def _snapshot(model: torch.nn.Module, card: dict[str, Any], files: RunFiles, step: int) -> Path:
    assert files.snapshots is not None
    if files.recipe:
        card["recipe"] = files.recipe
    # save_checkpoint copies every tensor to a contiguous CPU one, so the training model is left as it is.
    return save_checkpoint(model, files.snapshots / snapshot_name(step), card)


def train_to_file(config: TrainConfig, out: str | Path, ctx: JobContext | None = None, recipe: str | None = None,
                  resume: bool = False, snapshot_every: int | None = None, save_every: int = 1000) -> Path:
    """Train and save atomically; ``recipe`` (the command line) is kept in the card.

    ``resume``: keep a resume state beside ``out`` (``<out>.resume``) and continue from it when it exists.
    ``snapshot_every``: also write a checkpoint every that many steps into ``<out stem>.series/``.
    """
    out = Path(out)
    files = RunFiles(resume=resume_path(out) if resume else None, resume_from_file=resume, save_every=save_every,
                     snapshots=series_dir(out) if snapshot_every else None, snapshot_every=snapshot_every,
                     recipe=recipe)
    result = train(config, ctx, files=files)
    card = dict(result.card)
    if recipe:
        card["recipe"] = recipe
    return save_checkpoint(result.model.cpu(), out, card)
