"""Newton-Schulz sign networks (docs/sign_network.md): counts read off the built weights equal
bounds.sign.sign_counts exactly; Lemma S1 against the scalar iteration in mpmath and the matrix
identity R_{j+1} = R_j^2 (3I + R_j)/4; the certified error holds on symmetric, non-normal,
structured and adversarial inputs of D(rho, alpha) against sign(A) = A sqrtm(A^2)^-1 (checked
against mpmath here) and, in exact rational arithmetic, against mpmath."""

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from bounds.sign import choose_sign, sign_constants, sign_counts, sign_iteration_error
from constructive import DomainError, certify_exact, count
from constructive.sign import (
    SignNetwork,
    check_sign_network,
    reference_sign,
    sign_domain_samples,
    sign_network,
)


def _counts(c):
    return (int(c.depth), int(c.width), int(c.params))


# -- counts ---------------------------------------------------------------------------------------
M_GRID = (
    [(0, ())]
    + [(1, ab) for ab in itertools.product((1, 2, 3), repeat=2)]
    + [(2, (1, 2, 3, 1)), (3, (2, 1, 1, 3, 2, 2))]
)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(("k", "m"), M_GRID)
def test_counts_equal_formula(n, k, m):
    M = tuple(1.31 + 0.1 * j for j in range(k))
    N = tuple(1.17 + 0.1 * j for j in range(k))
    net = SignNetwork(n, 0.5, 1.3, m, M, N)
    assert tuple(count(net.to_relu_network())) == _counts(sign_counts(n, k, m))


def test_counts_symbolic_in_n():
    n = sp.Symbol("n", integer=True, positive=True)
    c = sign_counts(n, 2, (3, 2, 2, 4))
    for v in (2, 3, 5):
        assert int(c.params.subs(n, v)) == sign_counts(v, 2, (3, 2, 2, 4)).params


@pytest.mark.parametrize(
    ("n", "eps", "rho"), [(1, 1e-2, 0.5), (2, 1e-3, 0.25), (3, 1e-4, 0.5), (2, 1e-2, 0.9)]
)
def test_choice_counts_equal_built(n, eps, rho):
    net = sign_network(n, eps, rho)
    c = net.choice
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.depth == 2 * c.k * c.m[0] and c.certified_error <= eps


# -- Lemma S1 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_lemma_s1_scalar_worst_case_is_sharp(rho):
    """A = sqrt(1 - rho) (n = 1): r_j = 1 - x_j^2 equals rho_j, and |x_j - 1| = 1 - sqrt(1 - rho_j),
    which is g_j when sigma = 1 (alpha = sqrt(1 - rho))."""
    alpha = math.sqrt(1 - rho)
    with mpmath.workdps(50):
        x = mpmath.sqrt(1 - mpmath.mpf(rho))
        for j in range(6):
            c = sign_constants(1, rho, alpha * (1 + 1e-15), j, (1,) * (2 * j))
            assert float(1 - x * x) == pytest.approx(c.rho[-1], rel=1e-9, abs=1e-300)
            assert float(1 - x) == pytest.approx(c.g[-1], rel=1e-9, abs=1e-300)
            x = x * (3 - x * x) / 2


def test_residual_recursion_identity():
    """R_{j+1} = R_j^2 (3I + R_j) / 4 for X_{j+1} = X_j (3I - X_j^2) / 2, any square X_j."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 4)) / 2
    eye = np.eye(4)
    R = eye - X @ X
    X1 = X @ (3 * eye - X @ X) / 2
    np.testing.assert_allclose(eye - X1 @ X1, R @ R @ (3 * eye + R) / 4, atol=1e-13)


@pytest.mark.parametrize("rho", [0.25, 0.9])
def test_exact_iteration_within_g(rho):
    """Float64 Newton-Schulz (no network) stays within g_j of sign(A) on domain samples."""
    alpha = math.sqrt(1 + rho)
    kinds = sign_domain_samples(3, rho, alpha, 40, np.random.default_rng(1))
    A = np.concatenate(list(kinds.values()))
    S = reference_sign(A)
    X = A.copy()
    for j in range(6):
        err = np.linalg.norm(X - S, 2, axis=(1, 2)).max()
        assert err <= sign_iteration_error(rho, alpha, j) + 1e-13, j
        X = X @ (3 * np.eye(3) - X @ X) / 2


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_lemma_s1_attained_by_a_nonnormal_input(rho):
    """A = sqrt(1 - rho) S_0, S_0 = [[1, t], [0, -1]] an involution of norm sigma = alpha / sqrt(1 - rho):
    sign(A) = S_0 and Newton-Schulz gives X_j = x_j S_0, so ||X_j - sign(A)||_2 = g_j exactly."""
    alpha = math.sqrt(1 + rho)
    lo, s0 = math.sqrt(1 - rho), alpha / math.sqrt(1 - rho)
    S0 = np.array([[1.0, s0 - 1 / s0], [0.0, -1.0]])
    assert np.linalg.norm(S0, 2) == pytest.approx(s0, rel=1e-14)
    X = lo * S0
    for j in range(5):
        err = np.linalg.norm(X - S0, 2)
        assert err == pytest.approx(sign_iteration_error(rho, alpha, j), rel=1e-9, abs=1e-15)
        X = X @ (3 * np.eye(2) - X @ X) / 2


# -- reference, realisations, domain ---------------------------------------------------------------
def test_reference_agrees_with_mpmath():
    kinds = sign_domain_samples(3, 0.9, math.sqrt(1.9), 8, np.random.default_rng(2))
    A = np.concatenate(list(kinds.values()))
    assert np.abs(reference_sign(A) - reference_sign(A, digits=40)).max() <= 1e-13


def test_samples_lie_in_the_domain_and_reach_its_boundary():
    rho, alpha = 0.5, math.sqrt(1.5)
    kinds = sign_domain_samples(3, rho, alpha, 40, np.random.default_rng(3))
    A = np.concatenate(list(kinds.values()))
    dev = np.linalg.norm(np.eye(3) - A @ A, 2, axis=(1, 2))
    # the slack of check_sign_domain (float64 norms of boundary points)
    assert dev.max() <= rho * (1 + 1e-12) + 1e-12
    assert np.linalg.norm(A, 2, axis=(1, 2)).max() <= alpha * (1 + 1e-12)
    assert (dev >= rho * (1 - 1e-6)).sum() >= 10
    nonnormal = kinds["nonnormal"]
    assert (
        np.linalg.norm(
            nonnormal @ nonnormal.transpose(0, 2, 1) - nonnormal.transpose(0, 2, 1) @ nonnormal, axis=(1, 2)
        ).min()
        > 1e-3
    )


@pytest.mark.parametrize(("n", "eps", "rho"), [(1, 1e-3, 0.5), (2, 1e-4, 0.9), (3, 1e-2, 0.25)])
def test_structured_equals_explicit(n, eps, rho):
    net = sign_network(n, eps, rho)
    kinds = sign_domain_samples(n, rho, net.alpha, 30, np.random.default_rng(4))
    A = torch.from_numpy(np.concatenate(list(kinds.values())))
    B = A.shape[0]
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(B, n * n)).reshape(B, n, n)
    assert ((explicit - structured).abs() / structured.abs().amax(dim=(-1, -2), keepdim=True)).max() <= 1e-12


def test_domain_errors():
    net = sign_network(2, 1e-2, 0.5)
    with pytest.raises(DomainError, match="I - A"):
        net(0.5 * torch.eye(2, dtype=torch.float64))  # ||I - A^2|| = 0.75 > 0.5
    with pytest.raises(DomainError, match="spectral norm"):
        net(torch.tensor([[1.0, 0.9], [0.0, -1.0]], dtype=torch.float64))  # A^2 = I, ||A|| > alpha
    for bad in [dict(rho=1.0), dict(rho=-0.1), dict(rho=0.5, alpha=0.5)]:
        with pytest.raises(ValueError, match="rho|empty"):
            choose_sign(2, 1e-2, **bad)
    with pytest.raises(ValueError, match="2k"):
        sign_counts(2, 2, (1, 2, 3))


# -- the certified error --------------------------------------------------------------------------
SIGN_GRID = list(itertools.product((1, 2, 3), (0.25, 0.5, 0.9), (1e-2, 1e-4)))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "rho", "eps"), SIGN_GRID)
def test_worst_error_below_eps(n, rho, eps):
    net = sign_network(n, eps, rho)
    res = check_sign_network(net, count=40, seed=n, adversarial_starts=2, adversarial_steps=8)
    assert res.worst_error <= net.choice.certified_error <= eps, res


@pytest.mark.parametrize(("n", "rho", "eps", "norm"), [(2, 0.5, 1e-3, "fro"), (3, 0.25, 1e-2, "2")])
def test_worst_error_below_eps_fast(n, rho, eps, norm):
    net = sign_network(n, eps, rho, norm=norm)
    res = check_sign_network(net, count=30, seed=7, adversarial_starts=2, adversarial_steps=6)
    assert res.worst_error <= net.choice.certified_error <= eps, res


def test_non_default_alpha_and_tiny_eps_against_mpmath():
    """alpha = 1.5 admits non-normal inputs of larger norm; eps = 1e-10 uses the mpmath reference."""
    net = sign_network(2, 1e-10, 0.3, alpha=1.5)
    res = check_sign_network(net, count=12, seed=8, adversarial_starts=0)
    assert res.reference.startswith("mpmath") and res.worst_error <= 1e-10, res


def test_exact_rational_certificate():
    """Rational symmetric (Pythagorean rotation) and non-normal inputs, evaluated exactly."""
    net = sign_network(2, 1e-6, 0.5)
    Q = [[Fraction(3, 5), Fraction(-4, 5)], [Fraction(4, 5), Fraction(3, 5)]]
    lam = [Fraction(3, 4), Fraction(-6, 5)]
    sym = [[sum(Q[i][l_] * lam[l_] * Q[j][l_] for l_ in range(2)) for j in range(2)] for i in range(2)]
    nonnormal = [[Fraction(7, 8), Fraction(1, 4)], [Fraction(0), Fraction(-9, 8)]]
    for A in (sym, nonnormal):
        cert = certify_exact(net, A)
        assert cert.function == "sign" and cert.holds and cert.exact_error <= net.choice.certified_error
    with pytest.raises(DomainError, match="I - A"):
        certify_exact(net, [[Fraction(1, 2), Fraction(0)], [Fraction(0), Fraction(1)]])


def test_oracle_certify_for_sign():
    net = sign_network(2, 1e-3, 0.5)
    A = torch.tensor([[0.9, 0.2], [0.0, -1.1]], dtype=torch.float64)
    S = torch.from_numpy(reference_sign(A.numpy()[None])[0])
    assert net.certify(A, S, 1e-2) == "pass"
    assert net.certify(A, -S, 1e-2) == "fail"
