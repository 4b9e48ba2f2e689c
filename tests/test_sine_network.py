"""The sin/sinh networks (docs/sin_network.md): counts read off the built weights equal
bounds.sine's formulas, and the worst error found against scipy/mpmath is <= eps."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from bounds import choose_for
from bounds.sine import choose_sine, sine_constants, sine_counts
from constructive import count, network
from constructive.exact import certify_exact, rational_ball_samples
from constructive.oracle import DomainError
from constructive.sine import SinNetwork, check_sine_network

_GRID = list(itertools.product((1, 2, 3), (1e-2, 1e-3), (0.5, 3.0)))


def _from_choice(c):
    """The network of a SineChoice (also one made with a forced s)."""
    k = c.constants
    args = (c.function, c.n, c.r, c.J, c.m, k.gamma, k.mu_sin, k.mu_cos, k.MS, k.MY)
    return SinNetwork(*args, eps=c.eps, choice=c)


@pytest.mark.parametrize("n, eps, r", _GRID)
def test_counts_equal_formulas(n, eps, r):
    f = ("sin", "sinh")[_GRID.index((n, eps, r)) % 2]
    c = choose_for(f, n, eps, r=r)
    net = network(f, n, eps, r=r)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.certified_error <= eps


def test_grid_has_double_angles():
    assert any(choose_sine("sin", n, eps, r).s >= 1 for n, eps, r in _GRID)


def test_counts_per_stage_layers():
    """Every J in 1..3, s in 0..2 and unequal layers per stage (not only what Rule N picks)."""
    for n, J, ms in itertools.product((1, 2, 3), (1, 2, 3), ([1], [2], [3, 1], [1, 2, 3])):
        k = sine_constants(n, 1.0, len(ms) - 1, J, ms)
        net = SinNetwork("sinh", n, 1.0, J, ms, k.gamma, k.mu_sin, k.mu_cos, k.MS, k.MY)
        want = sine_counts(n, J, ms)
        assert tuple(count(net.to_relu_network())) == (want.depth, want.width, want.params)


def test_closed_form_s0():
    """docs/sin_network.md: P for s = 0, J >= 3, m >= 2."""
    for n, J, m in itertools.product((1, 2, 3, 5), (3, 4, 7), (2, 5, 9)):
        P = 48 * (J + 1) * n**4 + (16 * (J + 1) * m + 14 * J + 16) * n**3
        P += (4 * (J - 1) * m + 4 * J - 98) * n**2 - (8 * m - 7) * n
        c = sine_counts(n, J, [m])
        assert (c.depth, c.width, c.params) == ((J + 1) * m, 8 * n**3 + 4 * n**2, P)


def test_structured_equals_explicit():
    g = torch.Generator().manual_seed(0)
    for f, ms in (("sin", [2]), ("sinh", [2, 1, 3])):
        k = sine_constants(2, 2.0, len(ms) - 1, 3, ms)
        net = SinNetwork(f, 2, 2.0, 3, ms, k.gamma, k.mu_sin, k.mu_cos, k.MS, k.MY)
        A = torch.randn(5, 2, 2, generator=g, dtype=torch.float64)
        A = 2.0 * A / torch.linalg.matrix_norm(A, ord=2)[:, None, None]
        explicit = net.to_relu_network()(A.reshape(5, 4)).reshape(5, 2, 2)
        assert torch.allclose(explicit, net.structured(A), rtol=0, atol=1e-12)


def test_double_angles_are_used_for_large_r():
    c = choose_sine("sinh", 2, 1e-3, 4.0)
    assert c.s >= 1 and len(c.m) == c.s + 1


@pytest.mark.parametrize(
    "f, n, eps, r",
    [("sin", 2, 1e-2, 1.0), ("sinh", 3, 1e-3, 1.0), ("sin", 1, 1e-5, 2.0), ("sinh", 2, 1e-3, 3.0)],
)
def test_worst_error_at_most_eps(f, n, eps, r):
    net = network(f, n, eps, r=r)
    res = check_sine_network(net, count=40, seed=1)
    assert res.worst_error <= eps, res.by_kind


@pytest.mark.parametrize("f, r, s", [("sin", 4.0, None), ("sinh", 4.0, None), ("sinh", 1.0, 1)])
def test_worst_error_with_double_angles(f, r, s):
    c = choose_sine(f, 2, 1e-3, r, s=s)
    assert c.s >= 1
    res = check_sine_network(_from_choice(c), count=40, seed=2)
    assert res.worst_error <= 1e-3, res.by_kind


_MP = {"sin": mpmath.sinm, "sinh": lambda A: (mpmath.expm(A) - mpmath.expm(-A)) / 2}


@pytest.mark.parametrize("f", ["sin", "sinh"])
def test_extremes_against_mpmath(f):
    """+-rI, r uu^T, a Jordan block and a non-normal matrix of norm r, at 40 digits; s = 0 and s >= 1."""
    for n, eps, r, s in [(3, 1e-3, 1.0, None), (2, 1e-3, 4.0, None), (2, 1e-3, 1.0, 1)]:
        c = choose_sine(f, n, eps, r, s=s)
        net = _from_choice(c)
        u = np.ones((n, 1)) / np.sqrt(n)
        J = 0.5 * np.eye(n) + np.diag(np.ones(n - 1), 1)
        N = np.triu(np.full((n, n), 3.0), 1) + np.eye(n)
        mats = [r * np.eye(n), -r * np.eye(n), r * u @ u.T, r * J / np.linalg.norm(J, 2)]
        mats.append(r * N / np.linalg.norm(N, 2))
        for A in mats:
            with mpmath.workdps(40):
                ref = np.array(_MP[f](mpmath.matrix(A.tolist())).tolist(), dtype=float)
            assert np.linalg.norm(net(torch.from_numpy(A)).numpy() - ref) <= eps


def test_scipy_reference_is_independent_of_the_network():
    A = np.array([[0.3, -0.4], [0.2, 0.1]])
    assert np.allclose(scipy.linalg.sinm(A), (scipy.linalg.expm(1j * A)).imag)
    assert np.allclose(scipy.linalg.sinhm(A), (scipy.linalg.expm(A) - scipy.linalg.expm(-A)) / 2)


@pytest.mark.parametrize("f, s", [("sin", None), ("sinh", None), ("sin", 1)])
def test_exact_certificate(f, s):
    net = _from_choice(choose_sine(f, 2, 1e-2, 1.0, s=s))
    for A in rational_ball_samples(2, 1.0, 3, seed=3):
        cert = certify_exact(net, A)
        assert cert.holds and cert.exact_error <= 1e-2


def test_spectral_norm_and_errors():
    c2, cf = choose_sine("sin", 3, 1e-3, 1.0, norm="2"), choose_sine("sin", 3, 1e-3, 1.0)
    assert c2.depth <= cf.depth and c2.certified_error <= 1e-3
    net = network("sin", 2, 1e-2, r=1.0)
    with pytest.raises(DomainError):
        net(torch.eye(2) * 1.5)
    with pytest.raises(ValueError):
        choose_sine("tan", 2, 1e-2, 1.0)
    with pytest.raises(ValueError):
        choose_for("sin", 2, 1e-2, rho=0.5)
    with pytest.raises(ValueError):
        sine_counts(2, 0, [3])
