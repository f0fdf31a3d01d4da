"""The derivatives behind the PDE losses: a true Laplacian, per-sample time derivatives, each PDE's residual."""

from __future__ import annotations

import math

import pytest
import torch

from latentlab.core.flows import PDEOptions, PotentialSet, laplacian, residual, sinusoidal_embedding, time_derivatives
from latentlab.core.flows.pde import hessian_quadratic_forms

torch.set_default_dtype(torch.float32)


def quadratic_with_cross_terms(d: int):
    """u = (1 + t) * sum_i a_i z_i^2 + sin(t) * z_0 z_1 * 3: trace of the Hessian = 2 (1 + t) sum a_i, while the
    sum of all Hessian entries (what the reference code computes) adds 2 * 3 sin(t)."""
    a = torch.arange(1, d + 1, dtype=torch.float64)

    def fn(z, t, rows):
        return (1 + t) * (a.to(z) * z**2).sum(dim=1) + torch.sin(t) * 3 * z[:, 0] * z[:, 1]

    return fn, a


@pytest.mark.parametrize("d", [3, 4])
def test_exact_laplacian_is_the_hessian_trace_not_the_sum_of_hessian_rows(d):
    fn, a = quadratic_with_cross_terms(d)
    z = torch.randn(5, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    lap = laplacian(fn, z, t, method="exact")
    expected = 2 * (1 + t) * a.sum()
    torch.testing.assert_close(lap, expected)
    rows_sum = expected + 6 * torch.sin(t)
    assert not torch.allclose(lap[1:], rows_sum[1:])


@pytest.mark.parametrize("d", [3, 4])
def test_exact_laplacian_of_a_potential_network_matches_torch_func_hessian(d):
    pots = PotentialSet(3, d, hidden=8, time_dim=d, seed=1).double()
    z = torch.randn(4, d, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 2.5, 7.0], dtype=torch.float64)
    k = torch.tensor([0, 2, 1, 2])
    lap = laplacian(lambda zz, tt, rows: pots(zz, tt, k[rows]), z, t, method="exact")
    for i in range(4):
        h = torch.func.hessian(lambda v, i=i: pots(v[None], t[i:i + 1], k[i:i + 1])[0])(z[i])
        torch.testing.assert_close(lap[i], torch.diagonal(h).sum())


def test_hutchinson_estimate_is_unbiased():
    d = 6
    pots = PotentialSet(1, d, hidden=16, seed=2).double()
    z = torch.randn(3, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    fn = lambda zz, tt, rows: pots(zz, tt, 0)  # noqa: E731
    exact = laplacian(fn, z, t, method="exact")
    g = torch.Generator().manual_seed(4)
    one = laplacian(fn, z, t, method="hutchinson", probes=1, generator=g)
    many = laplacian(fn, z, t, method="hutchinson", probes=4000, generator=g)
    spread = (exact.abs().max() + 1e-3).item()
    assert not torch.allclose(one, exact, atol=1e-6 * spread)  # one probe is an estimate, not the trace
    torch.testing.assert_close(many, exact, atol=0.05 * spread, rtol=0.0)


def test_auto_is_exact_up_to_the_threshold_and_hutchinson_above():
    fn, a = quadratic_with_cross_terms(5)
    z = torch.randn(2, 5, dtype=torch.float64)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    exact = 2 * (1 + t) * a.sum()
    torch.testing.assert_close(laplacian(fn, z, t, "auto", exact_max_dim=5), exact)
    estimate = laplacian(fn, z, t, "auto", probes=1, exact_max_dim=4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(estimate, exact)  # the cross term leaks into a one-probe estimate


def test_quadratic_forms_batch_many_probes_in_one_pass():
    fn, a = quadratic_with_cross_terms(3)
    z = torch.zeros(2, 3, dtype=torch.float64)
    t = torch.zeros(2, dtype=torch.float64)
    v = torch.tensor([[[1.0, 1.0, 0.0]] * 2, [[0.0, 0.0, 2.0]] * 2], dtype=torch.float64)
    q = hessian_quadratic_forms(fn, z, t, v)
    # H = diag(2a) at t = 0 (no cross term): v1^T H v1 = 2 + 4, v2^T H v2 = 4 * 6.
    torch.testing.assert_close(q, torch.tensor([[6.0, 6.0], [24.0, 24.0]], dtype=torch.float64))


def test_time_derivatives_are_per_sample_not_summed_over_the_batch():
    pots = PotentialSet(2, 4, hidden=8, seed=0).double()
    z = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    k = torch.tensor([0, 1, 0, 1, 1])
    fn = lambda zz, tt, rows: pots(zz, tt, k[rows])  # noqa: E731
    _, (u_t, u_tt), _ = time_derivatives(fn, z, t, order=2)
    h = 1e-4
    for i in range(5):
        f = lambda s, i=i: pots(z[i:i + 1], torch.tensor([s], dtype=torch.float64), k[i:i + 1])[0]  # noqa: E731
        fd1 = (f(t[i] + h) - f(t[i] - h)) / (2 * h)
        fd2 = (f(t[i] + h) - 2 * f(t[i]) + f(t[i] - h)) / h**2
        torch.testing.assert_close(u_t[i], fd1, atol=1e-7, rtol=1e-5)
        torch.testing.assert_close(u_tt[i], fd2, atol=1e-4, rtol=1e-3)
    # Sample 0's derivative does not move when the other samples change.
    z2 = z.clone()
    z2[1:] += 1.0
    _, (u_t2, _), _ = time_derivatives(fn, z2, t, order=2)
    assert u_t2[0] == u_t[0] and not torch.allclose(u_t2[1:], u_t[1:])
    with pytest.raises(ValueError, match="one time per sample"):
        time_derivatives(fn, z, torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 7, 16])
def test_sinusoidal_embedding_any_size(dim):
    e = sinusoidal_embedding(torch.tensor([0.0, 1.0, 5.0]), dim)
    assert e.shape == (3, dim) and torch.isfinite(e).all()
    assert len({tuple(r) for r in e.tolist()}) == 3  # different times, different embeddings


@pytest.mark.parametrize("d", [3, 4])
def test_potentials_of_either_latent_parity(d):
    pots = PotentialSet(3, d, hidden=8, time_dim=d)  # the reference ties the embedding to D and breaks on odd D
    z = torch.randn(6, d)
    u = pots(z, torch.arange(6.0), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert u.shape == (6,)
    g, u2 = pots.velocity(z, torch.arange(6.0), 1)
    assert g.shape == (6, d) and u2.shape == (6,)
    with pytest.raises(IndexError):
        pots(z, 0.0, 3)


def _analytic(kind: str, d: int, c: float):
    a = torch.linspace(0.5, 1.5, d, dtype=torch.float64)
    norm_a = a.norm()
    if kind == "wave":  # a travelling plane wave: u_tt = c^2 |a|^2 u = c^2 lap u
        return lambda z, t, rows: torch.sin(z @ a - c * norm_a * t)
    if kind == "heat":  # a decaying mode: u_t = -c^2 |a|^2 u = c^2 lap u
        return lambda z, t, rows: torch.exp(-(c**2) * norm_a**2 * t) * torch.sin(z @ a)
    if kind == "fokker-planck":  # the stationary density of dz = -z dt + sqrt(2 c^2) dW
        return lambda z, t, rows: torch.exp(-(z**2).sum(dim=1) / (2 * c**2))  # no t at all
    return lambda z, t, rows: (z**2).sum(dim=1) / (2 * (1 + t))  # Hamilton-Jacobi: u_t + |grad u|^2 / 2 = 0


@pytest.mark.parametrize("kind", ["wave", "heat", "fokker-planck", "hamilton-jacobi"])
@pytest.mark.parametrize("d", [3, 4])
def test_each_pde_residual_vanishes_on_an_exact_solution(kind, d):
    c = 0.7
    fn = _analytic(kind, d, c)
    g = torch.Generator().manual_seed(5)
    z = torch.randn(6, d, dtype=torch.float64, generator=g)
    t = torch.rand(6, dtype=torch.float64, generator=g) * 3
    coef = torch.full((6,), c, dtype=torch.float64)
    res = residual(fn, z, t, coef, PDEOptions(kind))
    torch.testing.assert_close(res, torch.zeros_like(res), atol=1e-9, rtol=0)
    wrong = residual(fn, z, t, coef * 1.5, PDEOptions(kind))
    if kind != "hamilton-jacobi":  # the coefficient matters for all but HJ
        assert wrong.abs().max() > 1e-3


def test_pde_options_reject_unknown_names():
    with pytest.raises(ValueError, match="pde must be one of"):
        PDEOptions("poisson")
    with pytest.raises(ValueError, match="laplacian"):
        PDEOptions("wave", laplacian="sum-of-rows")
    assert math.isfinite(PDEOptions().probes)
