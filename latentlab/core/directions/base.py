"""Directions in latent space: a unit vector, or a field giving a unit direction at every latent.

A ``Direction`` moves a latent by ``apply(z, alpha)``. For a vector that is ``z + alpha * v``; for a field
(gradient-based directions) the path is integrated in small steps of length ``step`` so ``alpha`` is the
path length travelled, whatever the field's curvature. Several directions apply one after the other
(``DirectionSet.apply``), which is what the Directions dock's sliders do on top of the current latent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Protocol, runtime_checkable

import numpy as np

_EPS = 1e-12


@runtime_checkable
class DirectionField(Protocol):
    """A latent-dependent direction: (B, D) latents -> (B, D) unit directions (zero where undefined)."""

    latent_dim: int
    step: float  # default integration step (path length per step)

    def __call__(self, z: np.ndarray) -> np.ndarray: ...


class SavableField(DirectionField, Protocol):
    """A field that can be written to a direction file: a JSON spec plus named tensors, no code."""

    kind: str

    def spec(self) -> dict[str, Any]: ...

    def tensors(self) -> dict[str, Any]: ...


def unit(v: np.ndarray) -> np.ndarray:
    """``v / |v|`` as float32; a zero vector is an error (it has no direction)."""
    v = np.asarray(v).reshape(-1)
    n = float(np.linalg.norm(v.astype(np.float64)))
    if not np.isfinite(n) or n < _EPS:
        raise ValueError("a direction cannot be the zero vector (or contain NaN/inf)")
    if v.dtype == np.float32 and abs(n - 1.0) < 1e-6:
        return v.copy()  # already unit: leave the bits alone so a saved direction reloads exactly
    return (v.astype(np.float64) / n).astype(np.float32)


def sign_canonical(v: np.ndarray) -> np.ndarray:
    """Flip ``v`` so that its largest-magnitude entry is positive (eigen/singular vectors have no sign)."""
    v = np.asarray(v)
    return v if v[int(np.argmax(np.abs(v)))] >= 0 else -v


def json_safe(obj: Any) -> Any:
    """numpy scalars/arrays and tuples -> plain JSON types, so params survive a save/load unchanged."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class Direction:
    """A named direction found by ``method`` with ``params``: a unit ``vector`` (D,) or a ``field``."""

    name: str
    method: str
    params: dict[str, Any] = dc_field(default_factory=dict)
    vector: np.ndarray | None = None
    field: DirectionField | None = None

    def __post_init__(self) -> None:
        if (self.vector is None) == (self.field is None):
            raise ValueError(f"direction {self.name!r}: give exactly one of a vector or a field")
        if self.vector is not None:
            self.vector = unit(self.vector)
        self.params = json_safe(dict(self.params))

    @property
    def kind(self) -> str:
        return "vector" if self.vector is not None else "field"

    @property
    def _field(self) -> DirectionField:
        assert self.field is not None  # __post_init__: a direction without a vector has a field
        return self.field

    @property
    def latent_dim(self) -> int:
        return int(self.vector.shape[0]) if self.vector is not None else int(self._field.latent_dim)

    @property
    def gain(self) -> float:
        """Latent distance per unit of ``alpha`` (1 but for a w direction lifted onto k layers of W+: sqrt(k),
        so that a step of alpha moves each of those layers by alpha, as GANSpace's sliders do)."""
        g = self.params.get("gain", 1.0)
        return float(g) if isinstance(g, (int, float)) and math.isfinite(g) and g > 0 else 1.0

    def at(self, z: np.ndarray) -> np.ndarray:
        """Unit direction(s) at ``z``: (D,) -> (D,), (B, D) -> (B, D)."""
        z = self._check(z)
        if self.vector is not None:
            return np.broadcast_to(self.vector, z.shape).copy()
        out = np.asarray(self._field(np.atleast_2d(z)), dtype=np.float32)
        return out.reshape(z.shape)

    def apply(self, z: np.ndarray, alpha: float, step: float | None = None) -> np.ndarray:
        """Move ``z`` (D,) or (B, D) by ``alpha`` along this direction (path length for fields)."""
        z = self._check(z)
        if self.vector is not None:
            return (z + np.float32(alpha * self.gain) * self.vector).astype(np.float32)
        return self._integrate(np.atleast_2d(z), float(alpha), step).reshape(z.shape)

    def sweep(self, z: np.ndarray, alphas: Sequence[float] | np.ndarray, step: float | None = None) -> np.ndarray:
        """(len(alphas), D): ``apply(z, a)`` for each a; a field is integrated once per side, not per a."""
        z = self._check(z).reshape(-1)
        a = np.asarray(alphas, dtype=np.float64).reshape(-1)
        if self.vector is not None:
            return (z[None] + (a[:, None] * self.gain).astype(np.float32) * self.vector[None]).astype(np.float32)
        out = np.empty((len(a), z.shape[0]), dtype=np.float32)
        for sign in (1.0, -1.0):
            idx = [i for i in np.argsort(sign * a, kind="stable") if sign * a[i] > 0]
            cur, travelled = z[None].copy(), 0.0
            for i in idx:
                cur = self._integrate(cur, sign * (abs(a[i]) - travelled), step)
                travelled = abs(a[i])
                out[i] = cur[0]
        out[a == 0] = z
        return out

    def _integrate(self, z: np.ndarray, alpha: float, step: float | None) -> np.ndarray:
        field = self._field
        h_max = float(step if step is not None else getattr(field, "step", 0.05))
        if h_max <= 0:
            raise ValueError("integration step must be positive")
        n = max(1, math.ceil(abs(alpha) / h_max - 1e-9)) if alpha else 0
        h = alpha / n if n else 0.0
        cur: np.ndarray = z.astype(np.float32, copy=True)
        for _ in range(n):
            # Midpoint rule: each step moves exactly |h| (the field is unit length), so alpha is path length.
            mid = cur + np.float32(0.5 * h) * field(cur)
            cur = cur + np.float32(h) * field(mid)
        return cur

    def mean_vector(self, z: np.ndarray) -> np.ndarray:
        """The direction's average unit direction over latents ``z`` (its own vector for a vector)."""
        if self.vector is not None:
            return self.vector
        d = self.at(np.atleast_2d(z)).mean(0)
        n = float(np.linalg.norm(d))
        return (d / n).astype(np.float32) if n > _EPS else np.zeros_like(d, dtype=np.float32)

    def _check(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim not in (1, 2) or z.shape[-1] != self.latent_dim:
            raise ValueError(f"direction {self.name!r} is {self.latent_dim}-dimensional; got latents of shape {z.shape}")
        return z

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "method": self.method, "kind": self.kind, "params": self.params}
        if self.vector is not None:
            out["vector"] = self.vector.tolist()
        elif self.field is not None and hasattr(self.field, "spec"):
            out["field"] = self.field.spec()
        return out


@dataclass
class DirectionSet:
    """An ordered collection of directions for one latent space, with where they came from."""

    latent_dim: int
    directions: list[Direction] = dc_field(default_factory=list)
    source_sha256: str | None = None
    source_name: str | None = None
    meta: dict[str, Any] = dc_field(default_factory=dict)

    def __post_init__(self) -> None:
        given, self.directions = list(self.directions), []
        for d in given:
            self.add(d)
        self.meta = json_safe(dict(self.meta))

    def add(self, d: Direction) -> Direction:
        """Append ``d``; a duplicate name gets a ``#2``-style suffix so names stay unique."""
        if d.latent_dim != self.latent_dim:
            raise ValueError(f"direction {d.name!r} has {d.latent_dim} dimensions; this set is {self.latent_dim}-dimensional")
        base, k = d.name, 2
        while d.name in self.names:
            d.name = f"{base}#{k}"
            k += 1
        self.directions.append(d)
        return d

    def extend(self, ds: Sequence[Direction] | DirectionSet) -> None:
        for d in ds:
            self.add(d)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.directions]

    def __len__(self) -> int:
        return len(self.directions)

    def __iter__(self) -> Iterator[Direction]:
        return iter(self.directions)

    def __getitem__(self, key: int | str) -> Direction:
        if isinstance(key, str):
            for d in self.directions:
                if d.name == key:
                    return d
            raise KeyError(f"no direction named {key!r}; have {', '.join(self.names) or 'none'}")
        return self.directions[key]

    def apply(self, z: np.ndarray, alphas: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        """Apply several directions at once (in set order): what the sliders do on top of the current latent."""
        if isinstance(alphas, Mapping):
            unknown = set(alphas) - set(self.names)
            if unknown:
                raise KeyError(f"unknown direction(s) {sorted(unknown)}")
            pairs = [(d, float(alphas[d.name])) for d in self.directions if d.name in alphas]
        else:
            if len(alphas) != len(self.directions):
                raise ValueError(f"{len(alphas)} slider values for {len(self.directions)} directions")
            pairs = list(zip(self.directions, (float(a) for a in alphas), strict=True))
        out = np.asarray(z, dtype=np.float32).copy()
        for d, a in pairs:
            if a:
                out = d.apply(out, a)
        return out

    def grid(self, z: np.ndarray, steps: int, span: float, names: Sequence[str] | None = None) -> np.ndarray:
        """(rows, steps, D): row r steps ``z`` along direction r from -span to +span (a traversal grid)."""
        from latentlab.core.traversal import sweep_values

        alphas = sweep_values(-span, span, steps)
        chosen = [self[n] for n in names] if names is not None else self.directions
        if not chosen:
            raise ValueError("the direction set is empty")
        return np.stack([d.sweep(z, alphas) for d in chosen])

    def vectors(self, z: np.ndarray | None = None) -> np.ndarray:
        """(n, D): the unit vectors; fields contribute their mean direction over ``z`` (required then)."""
        rows = []
        for d in self.directions:
            if d.vector is not None:
                rows.append(d.vector)
            elif z is None:
                raise ValueError(f"{d.name!r} is a field; pass latents to average it over")
            else:
                rows.append(d.mean_vector(z))
        return np.stack(rows) if rows else np.zeros((0, self.latent_dim), np.float32)

    def cosine_matrix(self, z: np.ndarray | None = None) -> np.ndarray:
        """(n, n) cosine similarities between the directions (fields: their mean directions over ``z``)."""
        return cosine_matrix(self.vectors(z))

    def check_model(self, latent_dim: int, sha256: str | None = None) -> list[str]:
        """Raise if the set cannot apply to a model; return warnings (another checkpoint) otherwise."""
        if latent_dim != self.latent_dim:
            raise ValueError(f"these directions are {self.latent_dim}-dimensional; the model has {latent_dim} latents")
        if sha256 and self.source_sha256 and sha256 != self.source_sha256:
            return [f"these directions were found on another checkpoint ({self.source_name or self.source_sha256[:12]})"]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "source_sha256": self.source_sha256, "source_name": self.source_name,
                "meta": self.meta, "directions": [d.to_dict() for d in self.directions]}


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(n, D) -> (n, n) cosine similarities (rows of zero length give 0)."""
    v = np.asarray(vectors, dtype=np.float64)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, n, out=np.zeros_like(v), where=n > _EPS)
    return np.clip(v @ v.T, -1.0, 1.0)


def orthonormalise(vectors: np.ndarray, method: str = "qr") -> np.ndarray:
    """(n, D) -> (n, D) orthonormal rows.

    ``qr`` (Householder QR) keeps the first direction and removes from each later one what the earlier
    ones explain, so order matters; ``symmetric`` (Loewdin) returns the orthonormal set closest to the input
    in the least-squares sense, treating all directions alike. Each result keeps the sign of its input.
    """
    v = np.asarray(vectors, dtype=np.float64)
    n, d = v.shape
    if n > d:
        raise ValueError(f"cannot have {n} orthonormal directions in a {d}-dimensional latent space")
    if n == 0:
        return v.astype(np.float32)
    if method == "qr":
        q, r = np.linalg.qr(v.T)  # LAPACK geqrf: Householder reflections
        if np.min(np.abs(np.diag(r))) < 1e-8 * max(1.0, float(np.abs(r).max())):
            raise ValueError("the directions are linearly dependent; they cannot be orthogonalised")
        out = q.T * np.sign(np.diag(r))[:, None]
    elif method == "symmetric":
        u, s, vt = np.linalg.svd(v, full_matrices=False)
        if s.min() < 1e-8 * max(1.0, float(s.max())):
            raise ValueError("the directions are linearly dependent; they cannot be orthogonalised")
        out = u @ vt
    else:
        raise ValueError(f"orthogonalisation method must be 'qr' or 'symmetric', got {method!r}")
    return out.astype(np.float32)


def orthogonalised(directions: Sequence[Direction], method: str = "qr") -> list[Direction]:
    """Copies of vector directions made orthonormal (fields are refused: they have no single vector)."""
    if any(d.vector is None for d in directions):
        raise ValueError("only vector directions can be orthogonalised (gradient fields have no single vector)")
    if not directions:
        return []
    q = orthonormalise(np.stack([d.vector for d in directions if d.vector is not None]), method)
    return [Direction(d.name, d.method, {**d.params, "orthogonalised": method}, vector=q[i])
            for i, d in enumerate(directions)]


def project_out(v: np.ndarray, protected: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """``v`` with its component in the span of ``protected`` removed, renormalised (conditional editing).

    Moving along the result leaves every protected direction's coordinate unchanged.
    """
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    p = np.asarray(protected, dtype=np.float64).reshape(-1, v.shape[0])
    if len(p) == 0:
        return unit(v)
    u, s, _ = np.linalg.svd(p.T, full_matrices=False)
    basis = u[:, s > 1e-8 * max(1.0, float(s.max()))]  # orthonormal basis of the protected span
    r = v - basis @ (basis.T @ v)
    if np.linalg.norm(r) < 1e-6 * max(1.0, float(np.linalg.norm(v))):
        raise ValueError("the direction lies within the span of the protected directions; nothing is left")
    return unit(r)
