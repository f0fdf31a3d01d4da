"""The training loop behind ``latentlab train``: any zoo arch on any factor dataset, seeded, cancellable."""

from __future__ import annotations

import logging
import time
from collections import deque
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
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.limits import check_float, check_int, check_seed
from latentlab.core.model import ModelInfo
from latentlab.core.zoo import ARCHS, build_network, build_objective
from latentlab.core.zoo.objectives import optimizer_for

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


def _batches(dataset: FactorDataset, batch_size: int, rng: np.random.Generator):
    while True:
        f = dataset.sample_factors(batch_size, rng)
        yield torch.from_numpy(dataset.images(f))


def train(config: TrainConfig, ctx: JobContext | None = None, dataset: FactorDataset | None = None) -> TrainResult:
    """Train ``config.arch`` on ``config.dataset`` and return the model with its filled-in card."""
    ctx = ensure_context(ctx)
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = dataset if dataset is not None else get_dataset(config.dataset)
    if hasattr(data, "precompute"):
        ctx.progress(0.0, "preparing the dataset renderer")
        data.precompute()

    c, h, w = data.image_shape
    arch = ARCHS[config.arch]
    name = config.name or f"{config.arch}-{data.name}"
    net_hp = {"latent_dim": config.latent_dim, "channels": c, "image_size": h, **config.network}
    model = build_network(arch.network, **net_hp)
    prior = type(model).prior
    model.info = ModelInfo(name, config.latent_dim, (c, h, w), prior=prior, dataset=data.name,
                           factor_names=tuple(data.factor_names))
    model.to(device)
    # channels_last makes the CPU convolutions ~1.5x faster and costs nothing on CUDA.
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit memory_format
    objective = build_objective(config.arch, **config.objective)
    objective.setup(model, config.steps, data.num_samples)
    lr = config.lr if config.lr is not None else arch.lr
    opt = optimizer_for(objective, model, lr)

    history: list[dict[str, float]] = []
    recent: deque[dict[str, float]] = deque(maxlen=100)
    batches = _batches(data, config.batch_size, rng)

    def next_batch() -> torch.Tensor:
        return next(batches).to(device).contiguous(memory_format=torch.channels_last)

    t0 = time.monotonic()
    model.train()
    for step in range(1, config.steps + 1):
        ctx.check()
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
        recent.append(logs)
        if step % config.log_every == 0 or step == config.steps:
            mean = {k: float(np.mean([r[k] for r in recent if k in r])) for k in logs}
            history.append({"step": step, **mean})
            ctx.partial({"step": step, **mean})
            ctx.progress(step / config.steps, f"step {step}  " + "  ".join(f"{k} {v:.4g}" for k, v in mean.items()))
    model.eval()
    model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # as above
    final = {k: round(v, 5) for k, v in history[-1].items() if k != "step"} if history else {}
    training = {
        "arch": config.arch,
        "objective": arch.objective,
        "objective_hparams": objective.hparams,
        "steps": config.steps,
        "batch_size": config.batch_size,
        "lr": lr,
        "seed": config.seed,
        "dataset": data.name,
        "factor_names": list(data.factor_names),
        "final_losses": final,
        "seconds": round(time.monotonic() - t0, 1),
        "device": str(device),
        "torch": torch.__version__,
    }
    card = make_card(model, training=training, config=asdict(config))
    return TrainResult(model=model, card=card, history=history)


def train_to_file(config: TrainConfig, out: str | Path, ctx: JobContext | None = None, recipe: str | None = None) -> Path:
    """Train and save atomically; ``recipe`` (the command line) is kept in the card."""
    result = train(config, ctx)
    card = dict(result.card)
    if recipe:
        card["recipe"] = recipe
    return save_checkpoint(result.model.cpu(), out, card)
