"""What every metric shares: its inputs, its result, the error it raises when it does not apply."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentlab.core.encode import REPRESENTATIONS, Encoded
from latentlab.core.errors import BadInput

# Bump when a change to any metric's code changes its figures: stored results carry it in their key, so a
# newer release never serves figures computed by older code.
METRICS_VERSION = 2


class MetricUnavailable(BadInput):
    """The metric does not apply to this model or data (e.g. KL without posterior variances)."""


@dataclass
class MetricInputs:
    """Encoded training and test points plus what the metrics need to know about factors and latents.

    ``train`` and ``test`` are independent draws (disentanglement_lib: 10,000 training, 5,000 test points).
    ``represent`` ((factors, kind) -> representations) is what the BetaVAE and FactorVAE scores draw fresh
    samples from (the reference protocol); without it they fall back to batches of the encoded points.
    """

    train: Encoded
    test: Encoded
    factor_sizes: tuple[int, ...]
    factor_names: tuple[str, ...]
    latent_names: tuple[str, ...] | None = None
    represent: Callable[[np.ndarray, str], np.ndarray] | None = None  # (factors, "mean"|"sampled") -> z
    discrete_latents: bool = False  # quantized models: latents take a few values per dimension

    def __post_init__(self) -> None:
        k = len(self.factor_sizes)
        for part, enc in (("train", self.train), ("test", self.test)):
            if enc.factors.ndim != 2 or enc.factors.shape[1] != k:
                raise ValueError(f"{part} factors must have shape (n, {k}), got {enc.factors.shape}")
            if enc.mean.ndim != 2 or len(enc.mean) != len(enc.factors):
                raise ValueError(f"{part}: {len(enc.mean)} latents for {len(enc.factors)} factor rows")
            if enc.n < 2:
                raise ValueError(f"{part}: at least 2 points are needed, got {enc.n}")
        if self.train.mean.shape[1] != self.test.mean.shape[1]:
            raise ValueError("train and test latents have different sizes")
        if len(self.factor_names) != k:
            raise ValueError(f"{len(self.factor_names)} factor names for {k} factors")

    @property
    def latent_dim(self) -> int:
        return int(self.train.mean.shape[1])

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def latent_label(self, j: int) -> str:
        return self.latent_names[j] if self.latent_names else f"z{j}"


@dataclass
class View:
    """The representation one metric sees: a choice of mean/sampled and of latent dimensions."""

    inputs: MetricInputs
    representation: str
    latents: np.ndarray  # indices into the model's latent dimensions, in order
    seed: int

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")
        self._cache: dict[str, np.ndarray] = {}

    def _rep(self, part: str) -> np.ndarray:
        if part not in self._cache:
            enc = self.inputs.train if part == "train" else self.inputs.test
            # The sampled draw depends on the seed, and the test draw differs from the training one.
            z = enc.mean if self.representation == "mean" else enc.sampled(self.seed + (part == "test"))
            self._cache[part] = np.asarray(z, dtype=np.float64)[:, self.latents]
        return self._cache[part]

    @property
    def z_train(self) -> np.ndarray:
        return self._rep("train")

    @property
    def z_test(self) -> np.ndarray:
        return self._rep("test")

    @property
    def y_train(self) -> np.ndarray:
        return self.inputs.train.factors

    @property
    def y_test(self) -> np.ndarray:
        return self.inputs.test.factors

    def represent(self, factors: np.ndarray) -> np.ndarray:
        """Fresh representations for given factors (the exact-protocol sampling mode)."""
        if self.inputs.represent is None:
            raise MetricUnavailable("fresh sampling needs a model and dataset (a representation function)")
        return np.asarray(self.inputs.represent(factors, self.representation), dtype=np.float64)[:, self.latents]


@dataclass
class MetricResult:
    """One metric's figures, the matrices a UI plots, and how they were obtained."""

    metric: str
    values: dict[str, float]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    samples: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    representation: str = "mean"
    drop_passive: bool = False
    latents: list[int] = field(default_factory=list)  # model latent index of each matrix row
    latent_names: list[str] = field(default_factory=list)
    factor_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"  # "ok" or "unavailable" (then ``message`` says why)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def score(self) -> float:
        """The headline figure (the first value)."""
        return next(iter(self.values.values())) if self.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays become (nested) lists with their dtype noted."""
        return {
            "metric": self.metric,
            "values": {k: _jsonable_float(v) for k, v in self.values.items()},
            "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": _jsonable_list(v)}
                       for k, v in self.arrays.items()},
            "params": self.params,
            "seed": self.seed,
            "samples": self.samples,
            "seconds": self.seconds,
            "representation": self.representation,
            "drop_passive": self.drop_passive,
            "latents": list(self.latents),
            "latent_names": list(self.latent_names),
            "factor_names": list(self.factor_names),
            "notes": list(self.notes),
            "status": self.status,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricResult:
        arrays = {}
        for k, a in d.get("arrays", {}).items():
            data = [np.nan if x is None else x for x in np.ravel(np.array(a["data"], dtype=object))]
            arrays[k] = np.array(data, dtype=a["dtype"]).reshape(a["shape"])
        return cls(
            metric=d["metric"], values={k: (np.nan if v is None else float(v)) for k, v in d["values"].items()},
            arrays=arrays, params=d.get("params", {}), seed=int(d.get("seed", 0)), samples=d.get("samples", {}),
            seconds=float(d.get("seconds", 0.0)), representation=d.get("representation", "mean"),
            drop_passive=bool(d.get("drop_passive", False)), latents=list(d.get("latents", [])),
            latent_names=list(d.get("latent_names", [])), factor_names=list(d.get("factor_names", [])),
            notes=list(d.get("notes", [])), status=d.get("status", "ok"), message=d.get("message", ""),
        )


def _jsonable_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable_list(a: np.ndarray) -> Any:
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        obj = a.astype(object)
        obj[~np.isfinite(a)] = None  # strict JSON has no NaN/inf
        return obj.tolist()
    return a.tolist()


def child_seed(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent, reproducible generator for one part of one metric."""
    material = [seed] + [sum(ord(c) * 31**i for i, c in enumerate(k)) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence([abs(int(m)) % (2**63) for m in material]))


def parallel_map(fn: Callable[[Any], Any], items, n_jobs: int) -> list[Any]:
    """``[fn(x) for x in items]`` on up to ``n_jobs`` threads, in order (for per-factor classifier fits).

    Threads, not processes: scikit-learn's solvers spend their time in compiled code that releases the GIL,
    and threads share the data instead of copying it.
    """
    items = list(items)
    n_jobs = max(1, min(int(n_jobs), len(items), os.cpu_count() or 1))
    if n_jobs == 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        return list(pool.map(fn, items))
