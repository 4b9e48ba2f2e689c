"""Coupled Newton-Schulz square-root networks (docs/sqrt_network.md): counts read off the built weights
equal bounds.sqrt.sqrt_counts exactly; Lemma Q1 against the exact iteration; the certified error holds
on random, boundary, symmetric, non-normal, structured and adversarial inputs of ||I - A||_2 <= rho
against mpmath.sqrtm at 40 digits and, in exact rational arithmetic, against mpmath."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import sympy as sp
import torch

from bounds.sqrt import choose_sqrt, sqrt_counts, sqrt_iteration_error
from constructive import DomainError, certify_exact, count
from constructive.near_identity import near_identity_samples
from constructive.sqrt import SqrtNetwork, check_sqrt_network, reference_sqrt, sqrt_network

M_GRID = [(), (1,), (3,), (1, 2, 3), (2, 1, 1), (2, 2, 3, 1, 2), (1, 3, 1, 2, 2, 3, 1)]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("m", M_GRID)
def test_counts_equal_formula(n, m):
    k = (len(m) + 1) // 2
    MY = tuple(1.31 + 0.1 * t for t in range(k))
    MZ = tuple(1.43 + 0.1 * t for t in range(k))
    N = tuple(1.17 + 0.1 * t for t in range(k))
    net = SqrtNetwork(n, 0.5, m, MY, MZ, N)
    c = sqrt_counts(n, k, m)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)


def test_counts_symbolic_in_n():
    n = sp.Symbol("n", integer=True, positive=True)
    c = sqrt_counts(n, 3, (2, 1, 3, 2, 2))
    for v in (2, 3, 5):
        assert int(c.params.subs(n, v)) == sqrt_counts(v, 3, (2, 1, 3, 2, 2)).params


@pytest.mark.parametrize(
    ("n", "eps", "rho"), [(1, 1e-2, 0.5), (2, 1e-3, 0.25), (3, 1e-4, 0.5), (2, 1e-2, 0.9)]
)
def test_choice_counts_equal_built(n, eps, rho):
    net = sqrt_network(n, eps, rho)
    c = net.choice
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.depth == (2 * c.k - 1) * c.m[0] and c.certified_error <= eps


def test_tiny_rho_is_the_identity_map():
    c = choose_sqrt(2, 1e-2, 0.001)
    assert (c.k, c.depth, c.params) == (0, 0, 4)


@pytest.mark.parametrize("rho", [0.25, 0.9])
def test_exact_iteration_within_g(rho):
    """The exact coupled iteration (float64, no network) stays within g_j of A^(1/2) (Lemma Q1), and
    R_{j+1} = R_j^2 (3I + R_j)/4 for R_j = I - Z_j Y_j."""
    kinds = near_identity_samples(3, rho, 12, np.random.default_rng(1))
    A = np.concatenate(list(kinds.values()))
    S = reference_sqrt(A)
    eye = np.eye(3)
    Y, Z = A.copy(), np.broadcast_to(eye, A.shape).copy()
    for j in range(6):
        assert np.linalg.norm(Y - S, 2, axis=(1, 2)).max() <= sqrt_iteration_error(rho, j) + 1e-13, j
        R = eye - Z @ Y
        W = 1.5 * eye - 0.5 * Z @ Y
        Y, Z = Y @ W, W @ Z
        np.testing.assert_allclose(eye - Z @ Y, R @ R @ (3 * eye + R) / 4, atol=1e-13)


def test_reference_mpmath_and_scipy():
    """mpmath.sqrtm squares back to A; scipy's sqrtm agrees on these (well-conditioned) inputs."""
    kinds = near_identity_samples(3, 0.9, 8, np.random.default_rng(2))
    A = np.concatenate(list(kinds.values()))
    S = reference_sqrt(A)
    assert np.abs(S @ S - A).max() <= 1e-13
    assert np.abs(np.stack([np.real(scipy.linalg.sqrtm(a)) for a in A]) - S).max() <= 1e-10


@pytest.mark.parametrize(("n", "eps", "rho"), [(1, 1e-3, 0.5), (2, 1e-4, 0.9), (3, 1e-2, 0.25)])
def test_structured_equals_explicit(n, eps, rho):
    net = sqrt_network(n, eps, rho)
    kinds = near_identity_samples(n, rho, 20, np.random.default_rng(4))
    A = torch.from_numpy(np.concatenate(list(kinds.values())))
    B = A.shape[0]
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(B, n * n)).reshape(B, n, n)
    assert ((explicit - structured).abs() / structured.abs().amax(dim=(-1, -2), keepdim=True)).max() <= 1e-12


def test_domain_errors():
    net = sqrt_network(2, 1e-2, 0.5)
    with pytest.raises(DomainError, match="I - A"):
        net(0.4 * torch.eye(2, dtype=torch.float64))  # ||I - A|| = 0.6 > 0.5
    with pytest.raises(DomainError, match="built for"):
        net(torch.eye(3, dtype=torch.float64))
    for bad in [1.0, -0.1, float("nan")]:
        with pytest.raises(ValueError, match="rho|finite"):
            choose_sqrt(2, 1e-2, bad)
    with pytest.raises(ValueError, match="2k - 1"):
        sqrt_counts(2, 2, (1, 2))


GRID = list(itertools.product((1, 3), (0.25, 0.9), (1e-2, 1e-4)))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "rho", "eps"), GRID)
def test_worst_error_below_eps(n, rho, eps):
    net = sqrt_network(n, eps, rho)
    res = check_sqrt_network(net, count=12, seed=n, adversarial_starts=2, adversarial_steps=6)
    assert res.worst_error <= net.choice.certified_error <= eps, res


@pytest.mark.parametrize(("n", "rho", "eps", "norm"), [(2, 0.5, 1e-3, "fro"), (3, 0.25, 1e-2, "2")])
def test_worst_error_below_eps_fast(n, rho, eps, norm):
    net = sqrt_network(n, eps, rho, norm=norm)
    res = check_sqrt_network(net, count=16, seed=7, adversarial_starts=2, adversarial_steps=8)
    assert res.worst_error <= net.choice.certified_error <= eps, res
    assert set(res.by_kind) >= {"random", "symmetric", "nonnormal", "structured", "adversarial"}


def test_exact_rational_certificate():
    """Rational A = I - X (diagonal at the boundary, non-normal, Jordan) evaluated exactly vs mpmath.sqrtm."""
    net = sqrt_network(2, 1e-5, 0.5)
    cases = [
        [[Fraction(1, 2), Fraction(0)], [Fraction(0), Fraction(3, 2)]],  # (1 -+ rho) on the diagonal
        [[Fraction(9, 10), Fraction(1, 5)], [Fraction(0), Fraction(11, 10)]],
        [[Fraction(3, 5), Fraction(1, 10)], [Fraction(0), Fraction(3, 5)]],  # Jordan
    ]
    for A in cases:
        cert = certify_exact(net, A)
        assert cert.function == "sqrt" and cert.holds and cert.exact_error <= net.choice.certified_error
    with pytest.raises(DomainError, match="I - A"):
        certify_exact(net, [[Fraction(2, 5), Fraction(0)], [Fraction(0), Fraction(1)]])


def test_oracle_certify():
    net = sqrt_network(2, 1e-3, 0.5)
    A = np.array([[0.9, 0.2], [0.0, 1.1]])
    S = torch.from_numpy(reference_sqrt(A[None])[0])
    assert net.certify(A, S, 1e-2) == "pass"
    assert net.certify(A, -S, 1e-2) == "fail"
