"""Representation quality without ground truth: von Neumann entropy, diffusion spectral entropy, local intrinsic
dimension.

All three read the geometry of the encoded points alone, so they apply to any encoder and any dataset.

- **VNE** (Kim et al., "VNE: An Effective Method for Improving Deep Representation via Manipulating Eigenvalue
  Distribution", CVPR 2023). Each latent vector is scaled to unit L2 norm, h_i = z_i / ||z_i|| (their
  definition: no per-dimension standardisation, which would blow collapsed latents up to the size of the used
  ones), and C = (1/n) sum_i h_i h_i^T is their autocorrelation, uncentred, so trace C = 1 and its eigenvalues
  lambda_1..lambda_d form a distribution. S = -sum_j lambda_j log lambda_j in nats, between 0 (every vector on
  one line: a rank-1, fully collapsed code) and log d (the vectors spread evenly over all d directions).
  ``vne_normalized`` = S / log d (undefined for d = 1) compares models with different latent sizes; exp(S) is
  the effective rank, the number of directions the code really uses. ``vne_center`` (default False, as the
  paper) subtracts the mean first, so that an offset shared by every vector does not read as one direction.
- **DSE** (Liao et al., "Assessing Neural Network Representations During Training Using Noise-Resilient
  Diffusion Spectral Entropy", 2023). On a seeded subsample of ``n_sub`` points (default 1000): Gaussian
  affinities K_ij = exp(-||z_i - z_j||^2 / (2 sigma^2)), sigma = ``dse_sigma`` (default 10, the reference
  implementation's), the row-normalised diffusion matrix P = D^-1 K (D the row sums), the eigenvalues of P^t
  (t = ``dse_t``, default 1 as in the paper), alpha_i = |lambda_i|^t / sum_j |lambda_j|^t and
  DSE = -sum_i alpha_i log alpha_i, in nats (the reference code reports bits: divide by ln 2). It counts, softly,
  how many diffusion modes the point cloud supports at scale sigma: 0 when every point sits within sigma of
  every other (one blob), log(#clusters) for well-separated clusters as t grows, up to log n_sub when the
  points are far apart on the scale of sigma. It is not scale-free: compare models at the same sigma, and on
  latents of a similar scale (a VAE's posterior means are, to the prior's unit). Eigenvalues come from the
  symmetric D^-1/2 K D^-1/2, which has the same spectrum as P. Unlike the reference code we add no machine
  epsilon to every alpha_i (0 log 0 = 0), so n_sub eigenvalues that are all but zero add nothing.
- **Local intrinsic dimension** by maximum likelihood (Levina & Bickel, NIPS 2004, in the form of Amsaleg et
  al. 2015 that LDReg, Huang et al., ICLR 2024, uses). For a point with distances r_1 <= ... <= r_k to its k
  nearest other points (k = ``lid_k``, default 20), LID = -((1/k) sum_{i=1}^k log(r_i / r_k))^-1, the
  dimension of a locally uniform density that best explains how fast neighbours accumulate. Computed for the
  ``n_sub`` subsample against all (distinct) encoded points; ``lid_mean`` is the arithmetic mean and
  ``lid_geomean`` the geometric mean, LDReg's aggregate (LID is a ratio scale: LDReg argues from the Fisher-Rao
  distance between local distance distributions that the geometric mean is the right centre, and it is less
  swayed by a few huge local values). A code whose points fill m dimensions locally reads about m, whatever d
  is. The estimator is biased upwards on finite k: for a locally uniform density in
  m dimensions E[LID] = m k / (k - 2) and the geometric mean tends to m k exp(-psi(k - 1)) (1.11 m and 1.08 m
  at k = 20); edges and a density that varies within the neighbourhood move it a little further (on 5,000
  points: about -2 % on a uniform square, +1 % on a 5-D Gaussian).

Degenerate input: NaN or infinite latents and codes with no latent at all make the metric unavailable; a
figure that is undefined for the data (all-zero vectors for VNE, one latent for the normalised VNE, fewer than
k + 1 distinct points for LID) is NaN with a note saying why, the other figures still computed. Exact duplicate
points (the same image drawn twice, dSprites' first and last orientation) are kept out of LID, whose log
distance ratios they would make infinite, and out of the DSE subsample; quantized codes, whose points share grid
values, have many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from latentlab.core.limits import check_float, check_int
from latentlab.core.metrics.base import MetricUnavailable, View, child_seed

DEFAULTS: dict[str, Any] = {"n_sub": 1000, "vne_center": False, "dse_sigma": 10.0, "dse_t": 1, "lid_k": 20}
MAX_SUB = 5000  # DSE needs an n_sub x n_sub eigen-decomposition: 5000 points take about a minute


def spectral_entropy(weights: np.ndarray) -> float:
    """-sum p log p (nats) of non-negative ``weights`` normalised to sum 1; 0 log 0 = 0."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    p = w[w > 0] / total
    s = -float((p * np.log(p)).sum())
    return s if s > 0 else 0.0  # never -0.0 or a rounding-negative value


def autocorrelation_spectrum(z: np.ndarray, center: bool = False) -> tuple[np.ndarray, int]:
    """Eigenvalues (descending, summing to 1) of the autocorrelation of the unit-normed rows; rows left out.

    Rows that are zero (after centring) have no direction and are left out; when no row is left the spectrum
    is empty.
    """
    z = np.asarray(z, dtype=np.float64)
    if center:
        z = z - z.mean(axis=0)
    norms = np.linalg.norm(z, axis=1)
    # Relative to the largest vector: rounding leaves ~1e-16 where centring cancelled a constant latent.
    keep = norms > 1e-12 * max(float(norms.max(initial=0.0)), 1e-300)
    h = z[keep] / norms[keep, None]
    if not len(h):
        return np.zeros(0), int((~keep).sum())
    lam = np.linalg.eigvalsh(h.T @ h / len(h))[::-1]
    lam = np.clip(lam, 0.0, None)
    return lam / lam.sum(), int((~keep).sum())


def von_neumann_entropy(z: np.ndarray, center: bool = False) -> tuple[float, np.ndarray, int]:
    """(S in nats, the eigenvalues, rows left out as zero) of Kim et al.'s VNE; S is NaN without a non-zero row."""
    lam, dropped = autocorrelation_spectrum(z, center)
    return (spectral_entropy(lam) if lam.size else float("nan")), lam, dropped


def diffusion_spectrum(x: np.ndarray, sigma: float) -> np.ndarray:
    """Eigenvalues (descending) of the row-normalised Gaussian diffusion matrix P = D^-1 K on the rows of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    kernel = np.exp(-d2 / (2.0 * sigma * sigma))  # the diagonal is 1: every degree is at least 1
    inv_sqrt_deg = 1.0 / np.sqrt(kernel.sum(axis=1))
    sym = kernel * inv_sqrt_deg[:, None] * inv_sqrt_deg[None, :]  # D^-1/2 K D^-1/2: P's spectrum, symmetric
    return np.linalg.eigvalsh((sym + sym.T) / 2.0)[::-1]


def diffusion_spectral_entropy(x: np.ndarray, sigma: float = 10.0, t: float = 1) -> float:
    """DSE (nats) of the points ``x``: entropy of |eigenvalues of P|^t, normalised (Liao et al. 2023)."""
    return spectral_entropy(np.abs(diffusion_spectrum(x, sigma)) ** t)


def local_intrinsic_dimension(reference: np.ndarray, queries: np.ndarray, k: int = 20) -> np.ndarray:
    """MLE LID of each row of ``queries`` (rows of ``reference``) from its k nearest other reference points.

    ``reference`` must hold distinct rows; each query finds itself at distance 0 and is left out of its own
    neighbours. A point whose k neighbours are all equally far gets an infinite LID.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(reference)
    dist, _ = nn.kneighbors(queries)
    r = dist[:, 1:]  # column 0 is the query itself
    with np.errstate(divide="ignore"):
        mean_log = np.mean(np.log(r / r[:, -1:]), axis=1)  # <= 0; 0 when all k are equally far
        return np.where(mean_log < 0, -1.0 / np.minimum(mean_log, -1e-300), np.inf)


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {"n_sub": check_int(params["n_sub"], "geometry.n_sub", 2, MAX_SUB),
            "vne_center": bool(params["vne_center"]),
            "dse_sigma": check_float(params["dse_sigma"], "geometry.dse_sigma", 0.0, 1e12, lo_open=True),
            "dse_t": check_float(params["dse_t"], "geometry.dse_t", 0.0, 1e6, lo_open=True),
            "lid_k": check_int(params["lid_k"], "geometry.lid_k", 2, 1000)}


def compute(view: View, params: dict[str, Any], ctx) -> dict[str, Any]:
    p = _params(params)
    z = view.z_train
    n, d = z.shape
    if d == 0:
        raise MetricUnavailable("no latent left to measure")
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        raise MetricUnavailable(f"{int(bad.sum())} of {n} encoded points have NaN or infinite latents; "
                                "the encoder's output is not usable (a diverged model?)")
    notes: list[str] = []

    vne, lam, zero_rows = von_neumann_entropy(z, p["vne_center"])
    if zero_rows:
        notes.append(f"VNE: {zero_rows} of {n} latent vectors are zero{' after centring' if p['vne_center'] else ''} "
                     "and have no direction; left out" if lam.size else
                     "VNE: every latent vector is zero; the entropy of their directions is undefined")
    if d == 1:
        vne_norm = float("nan")
        notes.append("VNE: one latent, whose entropy is 0; normalised by log d = 0 it is undefined")
    else:
        vne_norm = vne / np.log(d)
    ctx.progress(0.1, "von Neumann entropy")

    # Distinct rows in their encoding order (not np.unique's sorted one): the seeded subsample then picks the same
    # points whatever the order of the latents, so permuting latents changes no figure.
    _, first = np.unique(z, axis=0, return_index=True)
    distinct = z[np.sort(first)]
    if len(distinct) < n:
        notes.append(f"{n - len(distinct)} duplicate point(s) left out of LID and DSE")
    rng = child_seed(view.seed, "representation")
    m = min(p["n_sub"], len(distinct))
    sub_idx = np.sort(rng.choice(len(distinct), m, replace=False))
    sub = distinct[sub_idx]

    ctx.check()
    dse = diffusion_spectral_entropy(sub, p["dse_sigma"], p["dse_t"])
    ctx.progress(0.7, "diffusion spectral entropy")

    ctx.check()
    k = p["lid_k"]
    if len(distinct) <= k:
        lid = np.zeros(0)
        lid_mean = lid_geo = float("nan")
        notes.append(f"LID needs more than k = {k} distinct points, got {len(distinct)}")
    else:
        lid = local_intrinsic_dimension(distinct, sub, k)
        finite = lid[np.isfinite(lid)]
        if len(finite) < len(lid):
            notes.append(f"LID: {len(lid) - len(finite)} point(s) with all {k} neighbours equally far (infinite "
                         "LID) left out of the averages")
        lid_mean = float(finite.mean()) if finite.size else float("nan")
        lid_geo = float(np.exp(np.log(finite).mean())) if finite.size else float("nan")
    ctx.progress(1.0, "local intrinsic dimension")
    return {
        "values": {"vne": vne, "vne_normalized": vne_norm, "dse": dse, "lid_mean": lid_mean, "lid_geomean": lid_geo},
        "arrays": {"vne_eigenvalues": lam, "lid": lid},
        "samples": {"train": int(n), "distinct": int(len(distinct)), "subsample": int(m)},
        "notes": notes,
    }
