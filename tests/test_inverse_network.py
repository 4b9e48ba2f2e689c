"""Factored-Neumann inverse networks (docs/inverse_network.md): counts read off the built weights equal
bounds.inverse.inverse_counts exactly; Lemma I1 is sharp; the certified error holds on random,
boundary, symmetric, non-normal, structured and adversarial inputs of ||I - A||_2 <= rho against
numpy.linalg.inv (checked against mpmath here) and, in exact rational arithmetic, against mpmath."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch

from bounds.inverse import choose_inverse, inverse_counts, inverse_truncation_error
from constructive import DomainError, certify_exact, count
from constructive.inverse import (
    InverseNetwork,
    check_inverse_network,
    inverse_network,
    reference_inverse,
)
from constructive.near_identity import near_identity_samples

M_GRID = [(), (1, 1), (2, 3), (3, 1), (1, 2, 3), (3, 1, 2), (2, 2, 2, 2), (1, 3, 1, 2, 2)]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("m", M_GRID)
def test_counts_equal_formula(n, m):
    k = max(len(m), 1)
    M = tuple(0.31 + 0.1 * t for t in range(k))
    U = tuple(1.3 + 0.1 * t for t in range(k))
    V = tuple(1.17 + 0.1 * t for t in range(k))
    net = InverseNetwork(n, 0.5, m, M, U, V)
    c = inverse_counts(n, k, m)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)


def test_counts_symbolic_in_n():
    n = sp.Symbol("n", integer=True, positive=True)
    c = inverse_counts(n, 3, (2, 1, 3))
    for v in (2, 3, 5):
        assert int(c.params.subs(n, v)) == inverse_counts(v, 3, (2, 1, 3)).params


@pytest.mark.parametrize(
    ("n", "eps", "rho"), [(1, 1e-2, 0.5), (2, 1e-3, 0.25), (3, 1e-4, 0.5), (2, 1e-2, 0.9)]
)
def test_choice_counts_equal_built(n, eps, rho):
    net = inverse_network(n, eps, rho)
    c = net.choice
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.certified_error <= eps and c.iteration_error + c.network_error <= eps * (1 + 1e-12)


def test_tiny_rho_is_affine():
    c = choose_inverse(3, 1e-2, 0.01)
    assert (c.k, c.depth, c.params) == (1, 0, 9 + 3)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_lemma_i1_sharp_at_scaled_identity(rho):
    """A = (1 - rho) I: P_k = sum_{i < 2^k} rho^i I, so ||A^-1 - P_k||_2 = rho^(2^k) / (1 - rho)."""
    for k in range(1, 5):
        Pk = sum(rho**i for i in range(2**k))
        assert 1 / (1 - rho) - Pk == pytest.approx(inverse_truncation_error(rho, k), rel=1e-9)


def test_neumann_product_equals_newton_schulz():
    """(I + X)(I + X^2)...(I + X^(2^(k-1))) = X_k of X_{j+1} = X_j (2I - A X_j), X_0 = I (docs, section 1)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 4)) * 0.1
    eye = np.eye(4)
    A = eye - X
    Xj, P, Z = eye, eye, X
    for _ in range(4):
        Xj = Xj @ (2 * eye - A @ Xj)
        P, Z = P @ (eye + Z), Z @ Z
        np.testing.assert_allclose(Xj, P, atol=1e-14)


def test_reference_agrees_with_mpmath():
    kinds = near_identity_samples(3, 0.9, 8, np.random.default_rng(2))
    A = np.concatenate(list(kinds.values()))
    assert np.abs(reference_inverse(A) - reference_inverse(A, digits=40)).max() <= 1e-13


@pytest.mark.parametrize(("n", "eps", "rho"), [(1, 1e-3, 0.5), (2, 1e-4, 0.9), (3, 1e-2, 0.25)])
def test_structured_equals_explicit(n, eps, rho):
    net = inverse_network(n, eps, rho)
    kinds = near_identity_samples(n, rho, 20, np.random.default_rng(4))
    A = torch.from_numpy(np.concatenate(list(kinds.values())))
    B = A.shape[0]
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(B, n * n)).reshape(B, n, n)
    assert ((explicit - structured).abs() / structured.abs().amax(dim=(-1, -2), keepdim=True)).max() <= 1e-12


def test_domain_errors():
    net = inverse_network(2, 1e-2, 0.5)
    with pytest.raises(DomainError, match="I - A"):
        net(0.4 * torch.eye(2, dtype=torch.float64))  # ||I - A|| = 0.6 > 0.5
    with pytest.raises(DomainError, match="size|built for"):
        net(torch.eye(3, dtype=torch.float64))
    for bad in [1.0, -0.1, float("nan")]:
        with pytest.raises(ValueError, match="rho|finite"):
            choose_inverse(2, 1e-2, bad)
    with pytest.raises(ValueError, match="k = 3"):
        inverse_counts(2, 3, (1, 2))


GRID = list(itertools.product((1, 2, 3), (0.25, 0.9), (1e-2, 1e-4)))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "rho", "eps"), GRID)
def test_worst_error_below_eps(n, rho, eps):
    net = inverse_network(n, eps, rho)
    res = check_inverse_network(net, count=20, seed=n, adversarial_starts=2, adversarial_steps=8)
    assert res.worst_error <= net.choice.certified_error <= eps, res


@pytest.mark.parametrize(
    ("n", "rho", "eps", "norm"), [(2, 0.5, 1e-3, "fro"), (3, 0.25, 1e-2, "2"), (1, 0.9, 1e-2, "fro")]
)
def test_worst_error_below_eps_fast(n, rho, eps, norm):
    net = inverse_network(n, eps, rho, norm=norm)
    res = check_inverse_network(net, count=30, seed=7, adversarial_starts=2, adversarial_steps=8)
    assert res.worst_error <= net.choice.certified_error <= eps, res
    assert set(res.by_kind) >= {"random", "symmetric", "nonnormal", "structured", "adversarial"}


def test_tiny_eps_against_mpmath():
    net = inverse_network(2, 1e-10, 0.3)
    res = check_inverse_network(net, count=8, seed=8, adversarial_starts=0)
    assert res.reference.startswith("mpmath") and res.worst_error <= 1e-10, res


def test_exact_rational_certificate():
    """Rational A = I - X (X symmetric, non-normal, Jordan) evaluated exactly against mpmath.inverse."""
    net = inverse_network(2, 1e-5, 0.5)
    cases = [
        [[Fraction(1, 2), Fraction(0)], [Fraction(0), Fraction(3, 2)]],  # (1 -+ rho) on the diagonal
        [[Fraction(9, 10), Fraction(1, 5)], [Fraction(0), Fraction(11, 10)]],
        [[Fraction(3, 5), Fraction(1, 10)], [Fraction(0), Fraction(3, 5)]],  # Jordan
    ]
    for A in cases:
        cert = certify_exact(net, A)
        assert cert.function == "inverse" and cert.holds and cert.exact_error <= net.choice.certified_error
    with pytest.raises(DomainError, match="I - A"):
        certify_exact(net, [[Fraction(2, 5), Fraction(0)], [Fraction(0), Fraction(1)]])


def test_oracle_certify():
    net = inverse_network(2, 1e-3, 0.5)
    A = torch.tensor([[0.9, 0.2], [0.0, 1.1]], dtype=torch.float64)
    inv = torch.linalg.inv(A)
    assert net.certify(A, inv, 1e-2) == "pass"
    assert net.certify(A, -inv, 1e-2) == "fail"
