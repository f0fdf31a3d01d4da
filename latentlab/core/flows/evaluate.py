"""How good are trained flows? Distinctness of the potentials, and which factors their paths change.

- Distinctness (the paper's variation predictability): a FRESH pair classifier is trained to tell which
  path moved an image pair, on pairs from some starting points, and scored on pairs from held-out ones.
  The same measure is applied to linear directions, so flows and baselines can be compared.
- Path effects: paths start at encoded dataset images; their end points are decoded and read back through
  the encoder, and linear readouts of each ground-truth factor say how much each factor changed
  (see ``FactorReadout.change``). Linear baselines (PCA, SeFa, supervised normals) travel the same
  latent distance as the flows' median path, from the same starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from latentlab.core.data import FactorDataset
from latentlab.core.encode import encode_dataset, encode_images, require_encoder
from latentlab.core.flows.baselines import FactorReadout, pca_directions, sefa_directions, supervised_directions
from latentlab.core.flows.classifier import PairClassifier
from latentlab.core.flows.flowset import Flows
from latentlab.core.flows.traverse import trajectories
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import LatentModel, device_of

BASELINES = ("pca", "sefa", "supervised")


# --- paths ------------------------------------------------------------------------------------------------

def prior_starts(model: LatentModel, n: int, seed: int) -> np.ndarray:
    """``n`` prior samples (n, D), seeded."""
    return model.sample_prior(n, torch.Generator().manual_seed(seed)).detach().float().cpu().numpy()


def flow_paths(flows: Flows, starts: np.ndarray, steps: int) -> np.ndarray:
    """Every potential's path from every start: (M, K, steps + 1, D)."""
    m, kk = len(starts), flows.n_potentials
    batch = trajectories(flows, np.repeat(starts, kk, axis=0), np.tile(np.arange(kk), m), steps)
    return batch.latents.reshape(m, kk, steps + 1, -1)


def linear_paths(starts: np.ndarray, directions: np.ndarray, length: float, steps: int) -> np.ndarray:
    """Straight paths of latent length ``length`` along each direction from each start: (M, R, steps + 1, D)."""
    w = np.linspace(0.0, length, steps + 1, dtype=np.float32)
    return starts[:, None, None, :] + w[None, None, :, None] * directions[None, :, None, :]


# --- distinctness -------------------------------------------------------------------------------------------

@dataclass
class DistinctnessResult:
    """Held-out accuracy of a fresh classifier telling the paths apart from image pairs."""

    accuracy: float
    chance: float
    confusion: np.ndarray  # (K, K) counts, rows = true path
    n_train: int
    n_test: int

    @property
    def per_class(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "chance": self.chance, "confusion": self.confusion.tolist(),
                "per_class": self.per_class.tolist(), "n_train": self.n_train, "n_test": self.n_test}


def _decode_u8(model: LatentModel, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    dev = device_of(model)
    out = []
    with torch.inference_mode():
        for a in range(0, len(z), batch_size):
            x = model.decode(torch.as_tensor(z[a:a + batch_size], dtype=torch.float32).to(dev))
            out.append(x.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


def pair_images(model: LatentModel, paths: np.ndarray, rng: np.random.Generator,
                pairs_per_path: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image pairs (G(z_n), G(z_n+1)) at random steps n >= 1 of each path (the first step of a flow starts
    from rest): uint8 (N, C, H, W) twice, and the path index of each pair."""
    m, r, t1, d = paths.shape
    if t1 < 3:
        raise ValueError("paths need at least 2 steps for image pairs")
    n = rng.integers(1, t1 - 1, size=(m, r, pairs_per_path))
    mi, ri, _ = np.meshgrid(np.arange(m), np.arange(r), np.arange(pairs_per_path), indexing="ij")
    a = paths[mi, ri, n].reshape(-1, d)
    b = paths[mi, ri, n + 1].reshape(-1, d)
    return _decode_u8(model, a), _decode_u8(model, b), ri.reshape(-1)


def distinctness(model: LatentModel, train_paths: np.ndarray, test_paths: np.ndarray, *, steps: int = 300,
                 batch_size: int = 64, lr: float = 1e-3, pairs_per_path: int = 2, width: int = 16, seed: int = 0,
                 ctx: JobContext | None = None) -> DistinctnessResult:
    """Train a fresh ``PairClassifier`` on pairs from ``train_paths`` (M, R, T+1, D) and score it on
    ``test_paths`` (other starts, same R paths)."""
    ctx = ensure_context(ctx)
    rng = np.random.default_rng(seed)
    r = train_paths.shape[1]
    x1, x2, y = pair_images(model, train_paths, rng, pairs_per_path)
    t1, t2, ty = pair_images(model, test_paths, rng, 1)
    dev = device_of(model)
    clf = PairClassifier(r, x1.shape[1], width, seed=seed).to(dev)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def batch(u1, u2, idx):
        f = lambda u: torch.from_numpy(u[idx]).to(dev, torch.float32) / 255.0  # noqa: E731
        return f(u1), f(u2)

    clf.train()
    for s in range(steps):
        ctx.check()
        idx = torch.randint(0, len(y), (min(batch_size, len(y)),), generator=gen).numpy()
        a, b = batch(x1, x2, idx)
        loss = F.cross_entropy(clf(a, b), torch.from_numpy(y[idx]).to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ctx.progress((s + 1) / steps, f"classifier step {s + 1}/{steps}")
    clf.eval()
    preds = []
    with torch.inference_mode():
        for a0 in range(0, len(ty), 256):
            idx = np.arange(a0, min(a0 + 256, len(ty)))
            a, b = batch(t1, t2, idx)
            preds.append(clf(a, b).argmax(dim=1).cpu().numpy())
    pred = np.concatenate(preds)
    conf = np.zeros((r, r), dtype=np.int64)
    np.add.at(conf, (ty, pred), 1)
    return DistinctnessResult(float((pred == ty).mean()), 1.0 / r, conf, len(y), len(ty))


# --- path effects on ground-truth factors ------------------------------------------------------------------------

def reencode(model: LatentModel, z: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Decode latents and encode the images again: (posterior means, the decoded images as uint8)."""
    means, imgs = [], []
    dev = device_of(model)
    for a in range(0, len(z), batch_size):
        with torch.inference_mode():
            x = model.decode(torch.as_tensor(z[a:a + batch_size], dtype=torch.float32).to(dev)).float()
        means.append(encode_images(model, x, batch_size)[0])
        imgs.append(x.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())
    return np.concatenate(means), np.concatenate(imgs)


def factor_changes(model: LatentModel, readout: FactorReadout, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean change of each factor from start to end of each path, read back through the encoder (R, F), and
    the mean absolute pixel change from the first to the last image of each path (R,), in [0, 1]."""
    m, r, _, d = paths.shape
    ends = np.concatenate([paths[:, :, 0].reshape(-1, d), paths[:, :, -1].reshape(-1, d)])
    enc, imgs = reencode(model, ends)
    ch = readout.change(enc[: m * r], enc[m * r:])  # (M * R, F)
    pix = np.abs(imgs[m * r:].astype(np.float32) - imgs[: m * r].astype(np.float32)) / 255.0
    return ch.reshape(m, r, -1).mean(axis=0), pix.reshape(m, r, -1).mean(axis=(0, 2))


@dataclass
class FlowEvaluation:
    """Rows (flow potentials and linear baselines) x factors, plus distinctness per group of rows."""

    row_labels: list[str]
    row_groups: list[str]
    factor_names: list[str]
    change: np.ndarray  # (R, F) mean factor change along the rows' paths (fraction of range / TV distance)
    latent_length: np.ndarray  # (R,) mean latent distance from start to end
    image_change: np.ndarray  # (R,) mean absolute pixel change from the first to the last image, in [0, 1]
    readout_quality: np.ndarray  # (F,) held-out R^2 (ordinal) or accuracy (categorical) of each readout
    readout_categorical: list[bool]
    distinctness: dict[str, DistinctnessResult]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def share(self) -> np.ndarray:
        """Each row's change split over the factors (rows sum to 1): one-hot is a disentangled path."""
        tot = self.change.sum(axis=1, keepdims=True)
        return np.divide(self.change, tot, out=np.zeros_like(self.change), where=tot > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [{"label": lab, "group": g, "change": dict(zip(self.factor_names, map(float, c), strict=True)),
                      "share": dict(zip(self.factor_names, map(float, s), strict=True)),
                      "latent_length": float(ln), "image_change": float(ic)}
                     for lab, g, c, s, ln, ic in zip(self.row_labels, self.row_groups, self.change, self.share,
                                                     self.latent_length, self.image_change, strict=True)],
            "factor_names": self.factor_names,
            "readout_quality": dict(zip(self.factor_names, map(float, self.readout_quality), strict=True)),
            "readout_categorical": dict(zip(self.factor_names, self.readout_categorical, strict=True)),
            "distinctness": {k: v.to_dict() for k, v in self.distinctness.items()},
            "params": self.params,
        }


def evaluate_flows(model: LatentModel, flows: Flows, dataset: FactorDataset, *, steps: int | None = None,
                   n_fit: int = 2000, n_starts: int = 128, baselines: tuple[str, ...] = BASELINES,
                   distinct: bool = True, n_distinct_train: int = 256, n_distinct_test: int = 128,
                   classifier_steps: int = 300, seed: int = 0, ctx: JobContext | None = None) -> FlowEvaluation:
    """The full evaluation of ``flows`` on ``model`` with ``dataset``'s ground-truth factors."""
    ctx = ensure_context(ctx)
    _check_inputs(model, flows, baselines)
    t0 = time.monotonic()
    steps = steps or flows.config.horizon
    kk = flows.n_potentials

    fit_z, fit_f, starts, readout = _encode_and_fit(model, dataset, n_fit, n_starts, seed, ctx)
    fpaths = flow_paths(flows, starts, steps)
    lengths = np.linalg.norm(fpaths[:, :, -1] - fpaths[:, :, 0], axis=-1)
    length = float(np.median(lengths))
    groups = _path_groups(model, dataset, fit_z, fit_f, baselines, kk, seed)
    labels, glabels, changes, lens, pix = _factor_rows(model, readout, groups, fpaths, starts, length, steps, ctx)

    dist: dict[str, DistinctnessResult] = {}
    if distinct:
        dist = _distinctness_by_group(model, flows, groups, length, steps, n_distinct_train, n_distinct_test,
                                      classifier_steps, seed, ctx)
    ctx.progress(1.0, "done")
    params = {"steps": steps, "n_fit": n_fit, "n_starts": n_starts, "seed": seed, "linear_length": length,
              "classifier_steps": classifier_steps, "n_distinct_train": n_distinct_train,
              "n_distinct_test": n_distinct_test, "flows_step": flows.step, "n_potentials": kk,
              "pde": flows.config.pde, "seconds": round(time.monotonic() - t0, 1)}
    return FlowEvaluation(labels, glabels, list(dataset.factor_names), np.concatenate(changes),
                          np.concatenate(lens), np.concatenate(pix), readout.quality, list(readout.categorical), dist, params)


# Each group of rows: its row labels and its directions (None: the flows' own paths).
_Groups = dict[str, tuple[list[str], np.ndarray | None]]


def _check_inputs(model: LatentModel, flows: Flows, baselines: tuple[str, ...]) -> None:
    require_encoder(model)
    for b in baselines:
        if b not in BASELINES:
            raise ValueError(f"unknown baseline {b!r}; choose from {', '.join(BASELINES)}")
    if flows.latent_dim != model.info.latent_dim:
        raise ValueError(f"the flows are for {flows.latent_dim} latents, the model has {model.info.latent_dim}")


def _encode_and_fit(model: LatentModel, dataset: FactorDataset, n_fit: int, n_starts: int, seed: int,
                    ctx: JobContext) -> tuple[np.ndarray, np.ndarray, np.ndarray, FactorReadout]:
    """Encode dataset images: the first ``n_fit`` fit the factor readouts, the other ``n_starts`` start paths."""
    ctx.progress(0.0, "encoding the dataset")
    enc = encode_dataset(model, dataset, n_fit + n_starts, seed=seed, ctx=ctx.sub(0.0, 0.15))
    fit_z, fit_f = enc.mean[:n_fit], enc.factors[:n_fit]
    starts = enc.mean[n_fit:]
    readout = FactorReadout.fit(fit_z, fit_f, dataset.factor_names, dataset.factor_sizes, seed=seed)
    return fit_z, fit_f, starts, readout


def _path_groups(model: LatentModel, dataset: FactorDataset, fit_z: np.ndarray, fit_f: np.ndarray,
                 baselines: tuple[str, ...], kk: int, seed: int) -> _Groups:
    """The flows' potentials, then each asked-for baseline that has directions for this model."""
    groups: _Groups = {"flow": ([f"flow {k}" for k in range(kk)], None)}
    dirs: np.ndarray | None
    if "pca" in baselines:
        dirs = pca_directions(fit_z, kk)
        groups["pca"] = ([f"pca {i}" for i in range(len(dirs))], dirs)
    if "sefa" in baselines:
        dirs = sefa_directions(model, kk)
        if dirs is not None:
            groups["sefa"] = ([f"sefa {i}" for i in range(len(dirs))], dirs)
    if "supervised" in baselines:
        dirs, names = supervised_directions(fit_z, fit_f, dataset.factor_names, seed=seed)
        groups["supervised"] = ([f"sup {n}" for n in names], dirs)
    return groups


def _factor_rows(model: LatentModel, readout: FactorReadout, groups: _Groups, fpaths: np.ndarray,
                 starts: np.ndarray, length: float, steps: int, ctx: JobContext
                 ) -> tuple[list[str], list[str], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per group, its paths' factor changes, latent lengths and image changes, and the rows' labels."""
    labels: list[str] = []
    glabels: list[str] = []
    changes, lens, pix = [], [], []
    for gi, (g, (labs, dirs)) in enumerate(groups.items()):
        ctx.check()
        ctx.progress(0.15 + 0.35 * gi / len(groups), f"factor changes along {g} paths")
        paths = fpaths if dirs is None else linear_paths(starts, dirs, length, steps)
        ch, px = factor_changes(model, readout, paths)
        changes.append(ch)
        pix.append(px)
        lens.append(np.linalg.norm(paths[:, :, -1] - paths[:, :, 0], axis=-1).mean(axis=0))
        labels += labs
        glabels += [g] * len(labs)
    return labels, glabels, changes, lens, pix


def _distinctness_by_group(model: LatentModel, flows: Flows, groups: _Groups, length: float, steps: int,
                           n_train: int, n_test: int, classifier_steps: int, seed: int,
                           ctx: JobContext) -> dict[str, DistinctnessResult]:
    """Each group's distinctness on paths from fresh prior starts (a group of one direction has none)."""
    dist: dict[str, DistinctnessResult] = {}
    tr_starts = prior_starts(model, n_train, seed + 101)
    te_starts = prior_starts(model, n_test, seed + 202)
    for gi, (g, (_, dirs)) in enumerate(groups.items()):
        if dirs is not None and len(dirs) < 2:
            continue
        sub = ctx.sub(0.5 + 0.5 * gi / len(groups), 0.5 + 0.5 * (gi + 1) / len(groups))
        if dirs is None:
            ptr, pte = flow_paths(flows, tr_starts, steps), flow_paths(flows, te_starts, steps)
        else:
            ptr, pte = (linear_paths(tr_starts, dirs, length, steps), linear_paths(te_starts, dirs, length, steps))
        dist[g] = distinctness(model, ptr, pte, steps=classifier_steps, seed=seed, ctx=sub)
    return dist


def format_table(ev: FlowEvaluation) -> str:
    """The evaluation as a text table: change per factor (and the top factor's share) per row."""
    names = ev.factor_names
    w = max(11, *(len(n) + 1 for n in names))
    head = f"{'path':<16}" + "".join(f"{n:>{w}}" for n in names) + f"{'top':>14}{'share':>7}{'|dz|':>7}{'|dx|':>7}"
    lines = [head, "-" * len(head)]
    share = ev.share
    prev = None
    for i, lab in enumerate(ev.row_labels):
        if prev is not None and ev.row_groups[i] != prev:
            lines.append("")
        prev = ev.row_groups[i]
        top = int(np.argmax(ev.change[i]))
        lines.append(f"{lab:<16}" + "".join(f"{v:>{w}.3f}" for v in ev.change[i])
                     + f"{names[top]:>14}{share[i, top]:>7.2f}{ev.latent_length[i]:>7.2f}{ev.image_change[i]:>7.3f}")
    q = "".join(f"{v:>{w}.2f}" for v in ev.readout_quality)
    lines += ["", f"{'readout R2/acc':<16}" + q]
    lines.append("(change: ordinal factors = |change of the linear readout| as a fraction of the factor's range; "
                 "categorical = total-variation distance of the predicted class distributions; share = the top "
                 "factor's part of the row's total; |dz| = latent distance travelled; |dx| = mean absolute pixel "
                 "change from first to last image: a path near 0 hardly moves, however distinct it looks)")
    if ev.distinctness:
        lines.append("")
        lines.append("distinctness (held-out accuracy of a fresh classifier telling the paths apart):")
        for g, d in ev.distinctness.items():
            lines.append(f"  {g:<12} {d.accuracy:.3f}   (chance {d.chance:.3f}, {d.n_train} train / {d.n_test} test pairs)")
    return "\n".join(lines)
