"""Exp networks: counts read off the built weights equal the bounds formulas exactly, the structured
forward equals the explicit network, and the certified error holds against scipy.linalg.expm."""

import itertools

import pytest
import scipy.linalg
import torch

import bounds
from constructive import ExpNetwork, count, exp_network
from constructive.check import ball_samples, check_network

METHODS = ("horner", "scaling_squaring")


def _counts(c):
    return (int(c.depth), int(c.width), int(c.params))


# -- counts against the formulas, on explicit parameter grids (THEORY.md section 10.1) -----------
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("K", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_horner_counts_equal_formula(n, K, m):
    mu = {k: 1.3 + 0.1 * k for k in range(1, K)}
    net = ExpNetwork(n, 1.0, K, m, (), mu, ())
    assert tuple(count(net.to_relu_network())) == _counts(bounds.horner_exp(n, K, m))


SS_GRID = [
    (K, m0, msq)
    for K in (1, 2, 3, 4)
    for m0 in (1, 2, 3)
    for msq in ((1,), (2,), (3,), (2, 1), (1, 3), (3, 2, 1))
    if not (K == 1 and m0 > 1)
]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(("K", "m0", "msq"), SS_GRID)
def test_scaling_squaring_counts_equal_formula(n, K, m0, msq):
    mu = {k: 1.2 + 0.05 * k for k in range(1, K)}
    M = tuple(1.7 + 0.3 * j for j in range(len(msq)))
    net = ExpNetwork(n, 1.0, K, m0 if K >= 2 else 0, msq, mu, M)
    assert tuple(count(net.to_relu_network())) == _counts(bounds.scaling_squaring_exp(n, K, m0, msq))


CHOICE_GRID = [
    (n, eps, r)
    for n in (1, 2, 3)
    for eps, r in [
        (1e-1, 0.05),
        (1e-1, 0.5),
        (1e-2, 0.5),
        (1e-2, 1.0),
        (1e-2, 2.0),
        (1e-2, 3.0),
        (1e-2, 4.0),
        (1e-3, 4.0),
        (1e-4, 8.0),
    ]
]


def test_choice_grid_covers_the_parameter_ranges():
    Ks, ss, ms = set(), set(), set()
    for (n, eps, r), method in itertools.product(CHOICE_GRID, METHODS):
        c = bounds.choose(n, eps, r, method=method)
        Ks.add(c.K)
        ss.add(c.s)
        ms.update(c.m)
    assert {1, 2, 3}.issubset(Ks) and {0, 1, 2, 3}.issubset(ss) and {1, 2, 3}.issubset(ms), (Ks, ss, ms)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "eps", "r"), CHOICE_GRID)
def test_built_network_counts_equal_choice(n, eps, r, method):
    net = exp_network(n, eps, r, method=method)
    c = net.choice
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)


# -- the two realisations agree ------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "eps", "r"), [(1, 1e-3, 2.0), (2, 1e-2, 1.0), (2, 1e-4, 4.0), (3, 1e-3, 1.0)])
def test_structured_equals_explicit(n, eps, r, method):
    net = exp_network(n, eps, r, method=method)
    A = ball_samples(n, r, 64, torch.Generator().manual_seed(1))
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(64, n * n)).reshape(64, n, n)
    scale = structured.abs().amax(dim=(-1, -2), keepdim=True)
    assert ((explicit - structured).abs() / scale).max() <= 1e-12
    seq = net.to_relu_network().to_sequential() if n <= 2 else None
    if seq is not None:
        with torch.no_grad():
            torch.testing.assert_close(
                seq(A.reshape(64, n * n)).reshape(64, n, n), structured, rtol=1e-12, atol=1e-13
            )


def test_forward_keeps_batch_shape():
    net = exp_network(2, 1e-2, 1.0)
    A = ball_samples(2, 1.0, 12, torch.Generator().manual_seed(2)).reshape(3, 4, 2, 2)
    assert net(A).shape == (3, 4, 2, 2)
    assert net(A[0, 0]).shape == (2, 2)


# -- the certified error (issue 2, test 3) -------------------------------------------------------
ERROR_GRID = list(itertools.product((1, 2, 3), (0.5, 1.0, 2.0, 4.0), (1e-1, 1e-2, 1e-3, 1e-4), METHODS))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "r", "eps", "method"), ERROR_GRID)
def test_worst_error_below_eps(n, r, eps, method):
    net = exp_network(n, eps, r, method=method)
    res = check_network(net, count=120, seed=n, adversarial_starts=4, adversarial_steps=20)
    assert res.worst_error <= eps, res
    assert res.worst_error <= net.choice.certified_error * (1 + 1e-9) + 1e-13, res


@pytest.mark.parametrize("method", METHODS)
def test_spectral_norm_guarantee(method):
    net = exp_network(2, 1e-3, 2.0, method=method, norm="2")
    assert net.choice.norm == "2"
    res = check_network(net, count=100, seed=3, adversarial_starts=2, adversarial_steps=10)
    assert res.worst_error <= 1e-3


def test_error_against_scipy_directly_on_sphere():
    """A check independent of constructive.check: scipy.linalg.expm on matrices of norm exactly r."""
    n, r, eps = 3, 2.0, 1e-3
    net = exp_network(n, eps, r)
    g = torch.Generator().manual_seed(7)
    A = torch.randn(50, n, n, generator=g, dtype=torch.float64)
    A = A * (r / torch.linalg.matrix_norm(A, ord=2))[:, None, None]
    ref = torch.stack([torch.from_numpy(scipy.linalg.expm(a)) for a in A.numpy()])
    assert torch.linalg.matrix_norm(net(A) - ref).max() <= eps
