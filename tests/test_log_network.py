"""Horner logarithm networks (docs/log_network.md): counts read off the built weights equal
bounds.log.log_counts exactly; Lemma L1 is sharp; the certified error holds on random, boundary,
symmetric, non-normal, structured and adversarial inputs of ||A - I||_2 <= rho against mpmath.logm at
40 digits and, in exact rational arithmetic, against mpmath."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from bounds import choose_for
from bounds.log import choose_log, log_constants, log_counts, log_truncation_error
from constructive import DomainError, certify_exact, count
from constructive.functions import check, network
from constructive.log import LogNetwork, check_log_network, log_network, reference_log, series_log
from constructive.near_identity import near_identity_samples


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(("K", "m"), [(0, 0), (1, 0), (2, 1), (2, 3), (3, 1), (3, 2), (4, 3), (6, 2)])
def test_counts_equal_formula(n, K, m):
    mu = tuple(0.71 + 0.1 * t for t in range(K - 1))
    net = LogNetwork(n, 0.5, K, m, mu)
    c = log_counts(n, K, m if K >= 2 else None)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)


def test_counts_symbolic():
    n, K, m = sp.symbols("n K m", integer=True, positive=True)
    c = log_counts(n, K, m)
    for nv, Kv, mv in [(1, 2, 1), (2, 3, 2), (3, 5, 1), (5, 7, 4)]:
        v = {n: nv, K: Kv, m: mv}
        assert int(c.params.subs(v)) == log_counts(nv, Kv, mv).params
        assert int(c.width.subs(v)) == log_counts(nv, Kv, mv).width
        assert int(c.depth.subs(v)) == (Kv - 1) * mv


@pytest.mark.parametrize(
    ("n", "eps", "rho"), [(1, 1e-2, 0.5), (2, 1e-3, 0.25), (3, 1e-2, 0.5), (2, 1e-2, 0.9), (1, 1e-4, 0.5)]
)
def test_choice_counts_equal_built(n, eps, rho):
    net = log_network(n, eps, rho)
    c = net.choice
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.depth == (c.K - 1) * c.m[0] and c.certified_error <= eps
    assert c.truncation_error <= eps / 2 and c.truncation_error + c.network_error <= eps * (1 + 1e-12)


def test_rule_is_minimal():
    """K is the least degree with t tau_K <= eps/2 and m the least layers with t tau_K + b_1 <= eps."""
    n, eps, rho = 3, 1e-4, 0.5
    c = choose_log(n, eps, rho)
    t = np.sqrt(n)
    assert t * log_truncation_error(rho, c.K) <= eps / 2 < t * log_truncation_error(rho, c.K - 1)
    assert c.constants.b[0] == c.network_error
    assert c.truncation_error + log_constants(n, rho, c.K, c.m[0] - 1).b[0] > eps


def test_tiny_rho_is_affine():
    c = choose_log(3, 1e-2, 0.001)  # truncation rho + ... <= eps/(2 sqrt 3): the zero map
    assert (c.K, c.depth, c.params) == (0, 0, 0)
    c = choose_log(2, 1e-3, 0.001)  # K = 1: A - I
    assert (c.K, c.depth, c.params) == (1, 0, 4 + 2)
    net = log_network(2, 1e-3, 0.001)
    A = torch.tensor([[1.0005, 0.0], [0.0, 0.9995]], dtype=torch.float64)
    assert torch.equal(net(A), A - torch.eye(2, dtype=torch.float64))
    assert choose_log(2, 1e-3, 0.0).K == 0


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_lemma_l1_sharp_at_scaled_identity(rho):
    """A = (1 - rho) I: log A - T_K(-rho I) = -sum_{j > K} rho^j / j I, so the error is tau_K(rho), and
    tau_K(rho) <= rho^(K+1) / ((K+1)(1 - rho))."""
    for K in range(0, 8):
        with mpmath.workdps(40):
            err = -(
                mpmath.log(1 - mpmath.mpf(rho))
                + mpmath.fsum(mpmath.mpf(rho) ** j / j for j in range(1, K + 1))
            )
        tau = log_truncation_error(rho, K)
        assert float(err) == pytest.approx(tau, rel=1e-14) and tau >= err
        assert tau <= rho ** (K + 1) / ((K + 1) * (1 - rho)) * (1 + 1e-15)


def test_reference_agrees_with_series():
    kinds = near_identity_samples(2, 0.5, 8, np.random.default_rng(2))
    A = np.concatenate(list(kinds.values()))
    ref = reference_log(A)
    assert np.abs(ref - series_log(torch.from_numpy(A), terms=80).numpy()).max() <= 1e-14
    B = np.array([[[0.5, 0.3], [0.0, 0.5]]])  # Jordan block: log = [[log .5, .3/.5], [0, log .5]]
    np.testing.assert_allclose(reference_log(B)[0], [[np.log(0.5), 0.6], [0.0, np.log(0.5)]], atol=1e-15)


@pytest.mark.parametrize(("n", "eps", "rho"), [(1, 1e-3, 0.5), (2, 1e-4, 0.9), (3, 1e-2, 0.25)])
def test_structured_equals_explicit(n, eps, rho):
    net = log_network(n, eps, rho)
    kinds = near_identity_samples(n, rho, 20, np.random.default_rng(4))
    A = torch.from_numpy(np.concatenate(list(kinds.values())))
    B = A.shape[0]
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(B, n * n)).reshape(B, n, n)
    assert (explicit - structured).abs().max() <= 1e-13


def test_domain_errors():
    net = log_network(2, 1e-2, 0.5)
    with pytest.raises(DomainError, match="I - A"):
        net(0.4 * torch.eye(2, dtype=torch.float64))  # ||A - I|| = 0.6 > 0.5
    with pytest.raises(DomainError, match="size|built for"):
        net(torch.eye(3, dtype=torch.float64))
    for bad in [1.0, -0.1, float("nan")]:
        with pytest.raises(ValueError, match="rho|finite"):
            choose_log(2, 1e-2, bad)
    with pytest.raises(ValueError, match="m"):
        log_counts(2, 3)
    with pytest.raises(ValueError, match="rho"):
        LogNetwork(2, 0.0, 3, 2, (1.0, 1.0))


@pytest.mark.parametrize(
    ("n", "rho", "eps", "norm"),
    [(2, 0.5, 1e-3, "fro"), (2, 0.25, 1e-2, "2"), (1, 0.9, 1e-2, "fro"), (3, 0.5, 1e-2, "fro")],
)
def test_worst_error_below_eps(n, rho, eps, norm):
    net = log_network(n, eps, rho, norm=norm)
    res = check_log_network(net, count=16, seed=7, adversarial_starts=2, adversarial_steps=6)
    assert res.worst_error <= net.choice.certified_error <= eps, res
    assert set(res.by_kind) >= {"random", "symmetric", "nonnormal", "structured", "adversarial"}


def test_network_error_within_b1():
    """Truncation below 1e-17 (K = 40 at rho = 0.3): what is left is the Lemma L2 part, <= b_1."""
    n, rho, K, m = 2, 0.3, 40, 4
    consts = log_constants(n, rho, K, m)
    net = LogNetwork(n, rho, K, m, consts.mu, eps=consts.b[0] + 1e-16)
    assert log_truncation_error(rho, K) < 1e-17
    res = check_log_network(net, count=12, seed=3, adversarial_starts=2, adversarial_steps=6)
    assert res.worst_error <= consts.b[0], res


def test_exact_rational_certificate():
    """Rational A = I + X (symmetric, non-normal, Jordan, rotation), evaluated exactly, vs mpmath.logm."""
    net = log_network(2, 1e-3, 0.5)
    cases = [
        [[Fraction(1, 2), Fraction(0)], [Fraction(0), Fraction(3, 2)]],  # (1 -+ rho) on the diagonal
        [[Fraction(9, 10), Fraction(1, 5)], [Fraction(0), Fraction(11, 10)]],
        [[Fraction(3, 5), Fraction(1, 10)], [Fraction(0), Fraction(3, 5)]],  # Jordan
        [[Fraction(1), Fraction(-2, 5)], [Fraction(2, 5), Fraction(1)]],  # eigenvalues 1 +- 0.4i
    ]
    for A in cases:
        cert = certify_exact(net, A)
        assert cert.function == "log" and cert.holds and cert.exact_error <= net.choice.certified_error
    with pytest.raises(DomainError, match="I - A"):
        certify_exact(net, [[Fraction(2, 5), Fraction(0)], [Fraction(0), Fraction(1)]])


def test_oracle_certify():
    net = log_network(2, 1e-3, 0.5)
    A = np.array([[0.9, 0.2], [0.0, 1.1]])
    L = torch.from_numpy(reference_log(A[None])[0])
    At = torch.from_numpy(A)
    assert net.certify(At, L, 1e-2) == "pass"
    assert net.certify(At, -L, 1e-2) == "fail"


def test_registries():
    c = choose_for("log", 2, 1e-2, rho=0.5)
    net = network("log", 2, 1e-2, rho=0.5)
    assert c == net.choice and net.function == "log"
    res = check(net, count=4)
    assert res.worst_error <= 1e-2
    with pytest.raises(ValueError, match="domain keywords"):
        choose_for("log", 2, 1e-2, r=0.5)
