"""Training potential flows on a frozen generative model: seeded, cancellable, resumable.

One step, for a batch of prior samples z_0 each given its own potential k_i:
1. roll the trajectory out, z_{n+1} = z_n + eta * grad_z u_k(z_n, n), n = 0 .. horizon - 1, keeping the
   graph so the image terms below reach the potentials through the path;
2. the PDE residual at every trajectory point (z_n, t = n), each sample with its own t;
3. the initial condition |grad_z u_k(z_0, 0)|^2 (averaged over dimensions too, as the reference does);
4. minus |J_G(z_m) (z_{m+1} - z_m)|^2 per pixel at a random step m of each path: the flow must change the
   image (a Jacobian-vector product of the decoder, forward-mode);
5. the cross-entropy of the pair classifier guessing k from (G(z_m), G(z_{m+1})), trained jointly.

The PDE collocation points are detached from the path: the residual is a property of u at those
points, and letting it pull the path itself would let the potentials dodge their own PDE.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.func import jvp
from torch.nn import functional as F

from latentlab.core.device import resolve_device
from latentlab.core.flows.config import FlowConfig
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.io import check_checkpoint, flows_card, load_flows, save_flows
from latentlab.core.flows.pde import residual
from latentlab.core.jobs import JobCancelled, JobContext, ensure_context
from latentlab.core.model import LatentModel, device_of

log = logging.getLogger(__name__)


def checkpoint_ref(model: LatentModel, sha256: str | None = None, file: str | Path | None = None) -> dict[str, Any]:
    """What a flows card records about the model it belongs to."""
    return {"sha256": sha256, "name": model.info.name, "latent_dim": model.info.latent_dim,
            "file": Path(file).name if file else None}


def rollout(flows: Flows, z0: torch.Tensor, k: torch.Tensor, steps: int, eta: float,
            create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectory points (steps + 1, B, D) and the velocity field at each of the first ``steps`` (steps, B, D)."""
    zs, vs = [z0], []
    z = z0
    for n in range(steps):
        t = torch.full((z.shape[0],), float(n), device=z.device, dtype=z.dtype)
        g, _ = flows.potentials.velocity(z, t, k, create_graph=create_graph)
        vs.append(g)
        z = z + eta * g
        zs.append(z)
    return torch.stack(zs), torch.stack(vs)


def loss_terms(model: LatentModel, flows: Flows, generator: torch.Generator,
               batch_size: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted training loss for one batch, and its parts as plain floats."""
    cfg = flows.config
    dev = flows.device
    b, kk, horizon = batch_size or cfg.batch_size, cfg.n_potentials, cfg.horizon
    z0 = model.sample_prior(b, generator).to(dev, torch.float32)
    k = torch.randint(0, kk, (b,), generator=generator).to(dev)
    m = torch.randint(0, horizon - 1, (b,), generator=generator).to(dev)  # which step each classified pair is
    swap = (torch.rand(b, generator=generator) < 0.5).to(dev) if cfg.swap_pairs else torch.zeros(b, dtype=torch.bool, device=dev)

    path, vel = rollout(flows, z0, k, horizon, cfg.eta, create_graph=True)

    # PDE residual at every point of every path, each with its own time (collocation points detached).
    pts = path.detach().reshape(-1, path.shape[-1])  # ((horizon + 1) * B, D)
    times = torch.arange(horizon + 1, device=dev, dtype=pts.dtype).repeat_interleave(b)
    ks = k.repeat(horizon + 1)
    pots = flows.potentials
    res = residual(lambda z, t, rows: pots(z, t, ks[rows]), pts, times, pots.coefficient(ks), cfg.pde_options, generator)
    pde = res.pow(2).mean()

    # Mean over samples and dimensions, as the reference code scales it (= |grad u|^2 / D), so a weight
    # means the same here as there.
    ic = vel[0].pow(2).mean()

    rows = torch.arange(b, device=dev)
    z_a = path[m + 1, rows]
    step_b = cfg.eta * vel[m + 1, rows]  # the step that takes z_a to z_b = z_a + step_b
    x_a, jv = _decoder_jvp(model, z_a, step_b)
    x_b = model.decode(z_a + step_b)
    change = jv.pow(2).flatten(1).mean(dim=1).mean()

    x1 = torch.where(swap[:, None, None, None], x_b, x_a)
    x2 = torch.where(swap[:, None, None, None], x_a, x_b)
    logits = flows.classifier(x1, x2)
    cls = F.cross_entropy(logits, k)

    w = cfg.weights
    loss = w["pde"] * pde + w["ic"] * ic - w["jvp"] * change + w["cls"] * cls
    with torch.no_grad():
        acc = (logits.argmax(dim=1) == k).float().mean()
        step_size = (path[1:] - path[:-1]).norm(dim=-1).mean()
    logs = {"loss": loss.item(), "pde": pde.item(), "ic": ic.item(), "jvp": change.item(), "cls": cls.item(),
            "acc": acc.item(), "step_size": step_size.item(), "speed": pots.c.detach().abs().mean().item()}
    return loss, logs


_jvp_ready = False


def _decoder_jvp(model: LatentModel, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(G(z), J_G(z) v) by forward-mode AD: one pass, and differentiable in z and v."""
    global _jvp_ready
    if _jvp_ready:
        return cast(tuple[torch.Tensor, torch.Tensor], jvp(model.decode, (z,), (v,)))  # has_aux=False: 2-tuple
    with warnings.catch_warnings():
        # On first use torch scripts its forward-AD decompositions and warns that torch.jit.script is
        # deprecated: torch's own business, not something a user of latentlab can act on.
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
        out = cast(tuple[torch.Tensor, torch.Tensor], jvp(model.decode, (z,), (v,)))
    _jvp_ready = True
    return out


def measure(model: LatentModel, flows: Flows, batch_size: int = 256, seed: int = 12345) -> dict[str, float]:
    """The loss terms on a fresh batch (its own seed, no update): held-out figures for tests and the UI."""
    _freeze(model)
    _, logs = loss_terms(model, flows, torch.Generator().manual_seed(seed), batch_size)
    return logs


def _optimizer(flows: Flows) -> torch.optim.Adam:
    cfg = flows.config
    return torch.optim.Adam([
        {"params": list(flows.potentials.parameters()), "lr": cfg.lr},
        {"params": list(flows.classifier.parameters()), "lr": cfg.classifier_lr or cfg.lr},
    ])


def _freeze(model: LatentModel) -> None:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            p.requires_grad_(False)
    if hasattr(model, "eval"):
        model.eval()


def train(model: LatentModel, config: FlowConfig | None = None, ctx: JobContext | None = None, *,
          checkpoint_sha256: str | None = None, checkpoint_file: str | Path | None = None,
          resume_from: str | Path | Flows | None = None, allow_mismatch: bool = False) -> Flows:
    """Train K potentials on ``model`` (frozen); returns the flows (save them with ``save_flows``).

    ``ctx.partial`` receives a dict of the losses after every step (``step``, ``loss``, ``pde``, ``ic``,
    ``jvp``, ``cls``, ``acc``, ``step_size``, ``speed``); ``ctx.check`` is polled every step.
    On cancellation the raised exception carries the flows trained so far as ``partial_flows`` (consistent,
    and resumable exactly, when the job was cancelled through ``ctx``: that happens between steps).
    ``resume_from`` (a flows file or object) continues from its step with its hyper-parameters and its
    optimizer and random state, up to ``config.steps`` total; it takes the same batches and steps as an
    uninterrupted run of the same seed on the same device, bit for bit with one CPU thread (multi-threaded
    MKL kernels, and CUDA, may round differently from run to run, so results then agree to ~1e-7).
    """
    ctx = ensure_context(ctx)
    config = config or FlowConfig()
    model, device = _model_on_device(model, config)
    _freeze(model)
    info = model.info

    if resume_from is not None:
        flows = _resumed_flows(resume_from, config, info.latent_dim, checkpoint_sha256, allow_mismatch)
    else:
        flows = Flows.build(config, info.latent_dim, info.image_shape[0],
                            checkpoint_ref(model, checkpoint_sha256, checkpoint_file))
    flows.to(device)
    flows.potentials.train()
    flows.classifier.train()
    opt, generator = _optimizer_and_generator(flows)
    _train_steps(model, flows, opt, generator, ctx)
    return flows


def _model_on_device(model: LatentModel, config: FlowConfig) -> tuple[LatentModel, torch.device]:
    """The device training runs on (the model's own unless the config names one), and the model moved there."""
    if config.device in (None, "auto", "model"):
        return model, device_of(model)
    device = resolve_device(config.device)
    if device_of(model) != device:
        model = model.to(device)
    return model, device


def _resumed_flows(resume_from: str | Path | Flows, config: FlowConfig, latent_dim: int,
                   checkpoint_sha256: str | None, allow_mismatch: bool) -> Flows:
    """The flows to continue from, checked against the model, with ``config``'s length, device and logging."""
    flows = resume_from if not isinstance(resume_from, (str, Path)) else load_flows(
        resume_from, checkpoint_sha256=checkpoint_sha256, latent_dim=latent_dim,
        allow_mismatch=allow_mismatch)
    if not isinstance(resume_from, (str, Path)):
        check_checkpoint(flows_card(flows), "flows", checkpoint_sha256, latent_dim, allow_mismatch)
    # What training does stays as it was; only how long, where and how often to log may change.
    flows.config = type(config).from_dict({**flows.config.to_dict(), "steps": config.steps,
                                           "device": config.device, "log_every": config.log_every})
    if flows.step >= config.steps:
        raise ValueError(f"these flows are already trained for {flows.step} steps; "
                         f"ask for more than that (--steps) to resume")
    return flows


def _optimizer_and_generator(flows: Flows) -> tuple[torch.optim.Adam, torch.Generator]:
    """The optimizer and the batch generator, in the state the flows saved them in (fresh ones at step 0)."""
    opt = _optimizer(flows)
    generator = torch.Generator().manual_seed(flows.config.seed)
    if flows.optimizer_state is not None:
        opt.load_state_dict(flows.optimizer_state)
    if flows.rng_state is not None:
        generator.set_state(flows.rng_state.clone())
    elif flows.step > 0:
        log.warning("resuming without the saved random state: the run will not repeat an uninterrupted one exactly")
    return opt, generator


def _train_steps(model: LatentModel, flows: Flows, opt: torch.optim.Adam, generator: torch.Generator,
                 ctx: JobContext) -> None:
    """The steps after ``flows.step``; whatever happens, ``flows`` is left holding the last completed one."""
    cfg = flows.config
    window: deque[dict[str, float]] = deque(maxlen=cfg.log_every)
    start_step, t0, seconds0 = flows.step, time.monotonic(), flows.seconds
    ctx.progress(start_step / cfg.steps, f"step {start_step}")
    try:
        for step in range(start_step + 1, cfg.steps + 1):
            ctx.check()
            logs = _one_step(model, flows, opt, generator, step)
            window.append(logs)
            ctx.partial({"step": step, **logs})
            if step % cfg.log_every == 0 or step == cfg.steps:
                _log_window(flows, window, step, logs)
            ctx.progress(step / cfg.steps, f"step {step}  loss {logs['loss']:.4g}  acc {logs['acc']:.2f}")
    except (JobCancelled, KeyboardInterrupt) as exc:
        # The steps done so far are not lost: the caller may save them and resume later.
        exc.partial_flows = flows  # type: ignore[union-attr]  # an attribute of our own, for the caller
        raise
    finally:
        # Whatever happened, the object reflects the last completed step (a cancelled job can be saved).
        flows.seconds = seconds0 + time.monotonic() - t0
        flows.optimizer_state = copy.deepcopy(opt.state_dict())
        flows.rng_state = generator.get_state()
        flows.potentials.eval()
        flows.classifier.eval()


def _one_step(model: LatentModel, flows: Flows, opt: torch.optim.Adam, generator: torch.Generator,
              step: int) -> dict[str, float]:
    """One update of the potentials and the classifier; returns the step's loss terms."""
    loss, logs = loss_terms(model, flows, generator)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the flows loss became {loss.item()} at step {step}; "
                                 "try a lower learning rate or a smaller eta")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    flows.step = step
    return logs


def _log_window(flows: Flows, window: deque[dict[str, float]], step: int, logs: dict[str, float]) -> None:
    """Record the mean of the window's loss terms in the flows' history and start a new window."""
    flows.history.append({"step": step, **{k: float(np.mean([w[k] for w in window])) for k in logs}})
    window.clear()


def train_to_file(model: LatentModel, config: FlowConfig, out: str | Path, ctx: JobContext | None = None,
                  **kwargs: Any) -> tuple[Flows, Path]:
    """Train (or resume, see ``train``) and save the flows atomically."""
    flows = train(model, config, ctx, **kwargs)
    return flows, save_flows(flows, out)
