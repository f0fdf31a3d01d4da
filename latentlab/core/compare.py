"""Comparing checkpoints: aligning their latent dimensions, timing their decoders, ordering a training series.

Two models trained separately (or with different latent sizes) order and orient their dimensions
arbitrarily. Encoding the same dataset samples with both and correlating their posterior means tells which
dimension of B moves with which dimension of A; a Hungarian matching on |correlation| pairs them one to
one, and the correlation's sign says whether "up" in A is "up" or "down" in B. ``Alignment.map_latent`` then
carries a latent of A into B's space, so one set of sliders can drive every compared checkpoint.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.data import FactorDataset
from latentlab.core.encode import encode_factors, require_encoder
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.model import LatentModel, Quantized, device_of

CORRELATIONS = ("pearson", "spearman")


# --- correlation and matching --------------------------------------------------------------------------------------

def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=0).astype(np.float64)


def correlation_matrix(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """(Da, Db) signed correlations between the columns of a (n, Da) and b (n, Db); 0 where a column is constant."""
    if method not in CORRELATIONS:
        raise ValueError(f"method must be one of {CORRELATIONS}, got {method!r}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(f"need (n, Da) and (n, Db) encodings of the same samples, got {a.shape} and {b.shape}")
    if len(a) < 3:
        raise ValueError("need at least 3 samples to correlate dimensions")
    if method == "spearman":
        a, b = _ranks(a), _ranks(b)
    a = a - a.mean(0)
    b = b - b.mean(0)
    na = np.sqrt((a**2).sum(0))
    nb = np.sqrt((b**2).sum(0))
    denom = np.outer(na, nb)
    # A collapsed (constant) dimension correlates with nothing: 0, not NaN.
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12 * max(1.0, float(denom.max(initial=0.0))), (a.T @ b) / denom, 0.0)
    return np.clip(corr, -1.0, 1.0)


@dataclass
class Alignment:
    """A one-to-one matching of A's latent dimensions to B's, with signs and scales."""

    corr: np.ndarray  # (Da, Db) signed correlation
    pairs: np.ndarray  # (k, 2) int: (dimension of A, dimension of B)
    signs: np.ndarray  # (k,) +1 / -1
    scales: np.ndarray  # (k,) std_b / std_a
    mean_a: np.ndarray  # (Da,) encoding means, so the mapping is centred on the data
    mean_b: np.ndarray  # (Db,)
    fill_a: np.ndarray  # (Da,) value for A's unmatched dimensions (its prior mean)
    fill_b: np.ndarray  # (Db,)
    method: str = "pearson"
    min_corr: float = 0.0
    names_a: tuple[str, ...] | None = None
    names_b: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim_a(self) -> int:
        return int(self.corr.shape[0])

    @property
    def dim_b(self) -> int:
        return int(self.corr.shape[1])

    @property
    def strength(self) -> np.ndarray:
        """|correlation| of each matched pair."""
        return np.abs(self.corr[self.pairs[:, 0], self.pairs[:, 1]]) if len(self.pairs) else np.zeros(0)

    @property
    def unmatched_a(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.dim_a), self.pairs[:, 0])

    @property
    def unmatched_b(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.dim_b), self.pairs[:, 1])

    def partner_of(self, j_a: int) -> tuple[int, int] | None:
        """(dimension of B, sign) matched to A's dimension ``j_a``, or None."""
        hit = np.nonzero(self.pairs[:, 0] == j_a)[0]
        if not len(hit):
            return None
        k = int(hit[0])
        return int(self.pairs[k, 1]), int(self.signs[k])

    def map_latent(self, z_a: np.ndarray) -> np.ndarray:
        """A latent (D_a,) or a batch (T, D_a) of model A as model B's latent(s).

        Matched dimensions move together: z_b = mean_b + sign * scale * (z_a - mean_a); B's unmatched
        dimensions stay at its prior mean.
        """
        z = np.asarray(z_a, dtype=np.float32)
        single = z.ndim == 1
        z = z[None] if single else z
        if z.shape[-1] != self.dim_a:
            raise ValueError(f"latent has {z.shape[-1]} dimensions; this alignment maps {self.dim_a}")
        out = np.repeat(self.fill_b[None].astype(np.float32), len(z), 0)
        if len(self.pairs):
            ia, ib = self.pairs[:, 0], self.pairs[:, 1]
            out[:, ib] = self.mean_b[ib] + self.signs * self.scales * (z[:, ia] - self.mean_a[ia])
        return out[0] if single else out

    def inverse(self) -> Alignment:
        """The same matching read from B to A."""
        with np.errstate(divide="ignore"):
            scales = np.where(self.scales > 0, 1.0 / self.scales, 0.0)
        return Alignment(self.corr.T.copy(), self.pairs[:, ::-1].copy(), self.signs.copy(), scales, self.mean_b,
                         self.mean_a, self.fill_b, self.fill_a, self.method, self.min_corr, self.names_b,
                         self.names_a, dict(self.meta))

    def describe(self) -> list[str]:
        """One line per matched pair, strongest first (what the CLI and a tooltip show)."""
        na = self.names_a or tuple(f"z{j}" for j in range(self.dim_a))
        nb = self.names_b or tuple(f"z{j}" for j in range(self.dim_b))
        order = np.argsort(-self.strength)
        return [f"A.{na[self.pairs[k, 0]]} -> {'+' if self.signs[k] > 0 else '-'}B.{nb[self.pairs[k, 1]]}  "
                f"|r| = {self.strength[k]:.2f}" for k in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "min_corr": self.min_corr, "dim_a": self.dim_a, "dim_b": self.dim_b,
            "corr": self.corr.tolist(), "pairs": self.pairs.tolist(), "signs": self.signs.tolist(),
            "scales": self.scales.tolist(), "strength": self.strength.tolist(),
            "mean_a": self.mean_a.tolist(), "mean_b": self.mean_b.tolist(),
            "fill_a": self.fill_a.tolist(), "fill_b": self.fill_b.tolist(),
            "unmatched_a": self.unmatched_a.tolist(), "unmatched_b": self.unmatched_b.tolist(),
            "names_a": list(self.names_a) if self.names_a else None,
            "names_b": list(self.names_b) if self.names_b else None, "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alignment:
        def arr(key: str, dtype: Any = np.float64) -> np.ndarray:
            return np.asarray(d[key], dtype=dtype)

        pairs = np.asarray(d["pairs"], dtype=np.int64).reshape(-1, 2)
        return cls(arr("corr"), pairs, arr("signs").astype(np.float32), arr("scales").astype(np.float32),
                   arr("mean_a", np.float32), arr("mean_b", np.float32), arr("fill_a", np.float32),
                   arr("fill_b", np.float32), str(d.get("method", "pearson")), float(d.get("min_corr", 0.0)),
                   tuple(d["names_a"]) if d.get("names_a") else None,
                   tuple(d["names_b"]) if d.get("names_b") else None, dict(d.get("meta") or {}))


def match_dimensions(corr: np.ndarray, min_corr: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching maximising total |corr|; pairs weaker than ``min_corr`` stay unmatched.

    Returns (pairs (k, 2), signs (k,)).
    """
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(corr, dtype=np.float64)
    rows, cols = linear_sum_assignment(-np.abs(c))
    keep = np.abs(c[rows, cols]) >= max(min_corr, 1e-12)
    rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows)
    pairs = np.stack([rows[order], cols[order]], axis=1).astype(np.int64).reshape(-1, 2)
    signs = np.where(c[pairs[:, 0], pairs[:, 1]] < 0, -1.0, 1.0).astype(np.float32)
    return pairs, signs


def prior_mean(model: LatentModel) -> np.ndarray:
    """Where a dimension rests when nothing drives it: 0 for Gaussian/uniform priors, a codebook's middle."""
    if isinstance(model, Quantized):
        return np.array([float((cb.min() + cb.max()) / 2) for cb in model.codebooks], dtype=np.float32)
    return np.zeros(model.info.latent_dim, np.float32)


def align_encodings(a: np.ndarray, b: np.ndarray, method: str = "pearson", min_corr: float = 0.2,
                    fill_a: np.ndarray | None = None, fill_b: np.ndarray | None = None,
                    names_a: Sequence[str] | None = None, names_b: Sequence[str] | None = None) -> Alignment:
    """Align from two encodings (n, Da) and (n, Db) of the same samples."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    corr = correlation_matrix(a, b, method)
    pairs, signs = match_dimensions(corr, min_corr)
    sa, sb = a.std(0), b.std(0)
    scales = np.ones(len(pairs), np.float32)
    if len(pairs):
        num, den = sb[pairs[:, 1]], sa[pairs[:, 0]]
        scales = np.where(den > 1e-12, num / np.maximum(den, 1e-12), 1.0).astype(np.float32)
    fa = np.zeros(a.shape[1], np.float32) if fill_a is None else np.asarray(fill_a, np.float32)
    fb = np.zeros(b.shape[1], np.float32) if fill_b is None else np.asarray(fill_b, np.float32)
    return Alignment(corr, pairs, signs, scales, a.mean(0).astype(np.float32), b.mean(0).astype(np.float32), fa, fb,
                     method, float(min_corr), tuple(names_a) if names_a else None,
                     tuple(names_b) if names_b else None, {"samples": int(len(a))})


def _names(model: LatentModel) -> tuple[str, ...]:
    return tuple(model.info.dim_label(j) for j in range(model.info.latent_dim))


def align_checkpoints(model_a: LatentModel, model_b: LatentModel, dataset: FactorDataset, n: int = 2000,
                      seed: int = 0, method: str = "pearson", min_corr: float = 0.2, batch_size: int = 256,
                      ctx: JobContext | None = None) -> Alignment:
    """Encode the same ``n`` dataset samples with both models and align B's dimensions to A's."""
    alignment = align_many([model_a, model_b], dataset, n, seed, method, min_corr, batch_size, ctx)[1]
    assert alignment is not None  # only the first model's own entry is None
    return alignment


def align_many(models: Sequence[LatentModel], dataset: FactorDataset, n: int = 2000, seed: int = 0,
               method: str = "pearson", min_corr: float = 0.2, batch_size: int = 256,
               ctx: JobContext | None = None) -> list[Alignment | None]:
    """Alignments of every model to the first (None for the first itself), from one shared set of samples."""
    ctx = ensure_context(ctx)
    for m in models:
        require_encoder(m)
    if n < 3:
        raise ValueError("alignment needs at least 3 samples")
    factors = dataset.sample_factors(n, np.random.default_rng(seed))
    encs = []
    for i, m in enumerate(models):
        ctx.check()
        stage = ctx.sub(0.99 * i / len(models), 0.99 * (i + 1) / len(models))
        encs.append(encode_factors(m, dataset, factors, batch_size, stage, seed).mean)
    out: list[Alignment | None] = [None]
    for m, e in zip(models[1:], encs[1:], strict=True):
        al = align_encodings(encs[0], e, method, min_corr, prior_mean(models[0]), prior_mean(m),
                             _names(models[0]), _names(m))
        al.meta.update(dataset=dataset.name, seed=seed)
        out.append(al)
    ctx.progress(1.0, "aligned")
    return out


# --- decode time ------------------------------------------------------------------------------------------------

@dataclass
class DecodeTiming:
    median_ms: float
    p90_ms: float
    min_ms: float
    runs: int
    batch: int
    device: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def decode_time(model: LatentModel, runs: int = 20, batch: int = 1, warmup: int = 3, seed: int = 0) -> DecodeTiming:
    """Median wall time of ``runs`` decodes of ``batch`` prior samples (after ``warmup``), synchronised on CUDA."""
    if runs < 1 or batch < 1:
        raise ValueError("runs and batch must be at least 1")
    dev = device_of(model)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(warmup + runs, batch, model.info.latent_dim, generator=gen).to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            sync()
            t0 = time.perf_counter()
            model.decode(z[i])
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return DecodeTiming(statistics.median(times), p90, times[0], runs, batch, str(dev))


# --- checkpoint series -----------------------------------------------------------------------------------------------

@dataclass
class SeriesEntry:
    path: Path
    step: int | None
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "step": self.step, "name": self.name}


def _natural_key(text: str) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text) if t]


def card_step(card: dict[str, Any]) -> int | None:
    """The training step a checkpoint's card records (a snapshot's ``step``, else the run's ``steps``)."""
    found = card.get("training")
    training = found if isinstance(found, dict) else {}
    for value in (training.get("step"), card.get("step"), training.get("steps")):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def checkpoint_series(paths: Sequence[str | os.PathLike], by: str = "auto") -> list[SeriesEntry]:
    """Snapshots of one run in training order: by their cards' steps when every card has one, else by name.

    ``by`` is ``auto``, ``step`` (error if a card lacks it) or ``name`` (natural order: step2 before step10).
    """
    if by not in ("auto", "step", "name"):
        raise ValueError(f"by must be auto, step or name, got {by!r}")
    from latentlab.core.checkpoint import CheckpointError, read_card

    entries = []
    for p in map(Path, paths):
        step = None
        if by != "name":
            try:
                step = card_step(read_card(p))
            except CheckpointError:
                if by == "step":
                    raise
        entries.append(SeriesEntry(p, step, p.stem))
    have_steps = all(e.step is not None for e in entries)
    if by == "step" and not have_steps:
        missing = [str(e.path) for e in entries if e.step is None]
        raise ValueError(f"no training step in the card of {', '.join(missing)}; sort by name instead")
    if have_steps and by != "name" and len({e.step for e in entries}) == len(entries):
        return sorted(entries, key=lambda e: (e.step, _natural_key(e.name)))
    return sorted(entries, key=lambda e: _natural_key(e.path.name))
