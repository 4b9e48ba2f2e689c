"""The cos/cosh networks (docs/trig_network.md): counts read off the built weights equal
bounds.trig's formulas, and the worst error found against scipy/mpmath is <= eps."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from bounds import choose_for
from bounds.trig import choose_trig, cos_constants, cos_counts
from constructive import count, network
from constructive.exact import certify_exact, rational_ball_samples
from constructive.oracle import DomainError
from constructive.trig import CosNetwork, check_trig_network


@pytest.mark.parametrize(
    "f, n, eps, r", list(itertools.product(("cos", "cosh"), (1, 2, 3), (1e-2, 1e-3), (0.5, 1.0, 3.0)))
)
def test_counts_equal_formulas(f, n, eps, r):
    c = choose_for(f, n, eps, r=r)
    net = network(f, n, eps, r=r)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.certified_error <= eps


def test_counts_per_stage_layers():
    """Every J in 1..4 and unequal layers per stage (not only what Rule T picks)."""
    for n, J, ms in itertools.product((1, 2, 3), (1, 2, 3, 4), ([1], [2], [3, 1], [1, 2, 3])):
        k = cos_constants(n, 1.0, len(ms) - 1, J, ms)
        net = CosNetwork("cosh", n, 1.0, J, ms, k.gamma, k.mu, k.M)
        want = cos_counts(n, J, ms)
        assert tuple(count(net.to_relu_network())) == (want.depth, want.width, want.params)


def test_double_angles_are_used_for_large_r():
    c = choose_trig("cos", 2, 1e-3, 4.0)
    assert c.s >= 1 and len(c.m) == c.s + 1


@pytest.mark.parametrize(
    "f, n, eps, r",
    [
        ("cos", 2, 1e-2, 1.0),
        ("cosh", 2, 1e-2, 1.0),
        ("cos", 3, 1e-3, 1.0),
        ("cos", 2, 1e-3, 4.0),
        ("cosh", 2, 1e-3, 3.0),
        ("cos", 1, 1e-5, 2.0),
    ],
)
def test_worst_error_at_most_eps(f, n, eps, r):
    net = network(f, n, eps, r=r)
    res = check_trig_network(net, count=60, seed=1)
    assert res.worst_error <= eps, res.by_kind


@pytest.mark.parametrize(
    "f, mp_f", [("cos", mpmath.cosm), ("cosh", lambda A: (mpmath.expm(A) + mpmath.expm(-A)) / 2)]
)
def test_extremes_against_mpmath(f, mp_f):
    """+-rI, r uu^T, a Jordan block and a non-normal matrix of norm r, at 40 digits; also with s >= 1."""
    for n, eps, r in [(3, 1e-3, 1.0), (2, 1e-3, 4.0)]:
        net = network(f, n, eps, r=r)
        u = np.ones((n, 1)) / np.sqrt(n)
        J = 0.5 * np.eye(n) + np.diag(np.ones(n - 1), 1)
        N = np.triu(np.full((n, n), 3.0), 1) + np.eye(n)
        mats = [
            r * np.eye(n),
            -r * np.eye(n),
            r * u @ u.T,
            r * J / np.linalg.norm(J, 2),
            r * N / np.linalg.norm(N, 2),
        ]
        for A in mats:
            with mpmath.workdps(40):
                ref = np.array(mp_f(mpmath.matrix(A.tolist())).tolist(), dtype=float)
            assert np.linalg.norm(net(torch.from_numpy(A)).numpy() - ref) <= eps


def test_scipy_reference_is_independent_of_the_network():
    A = np.array([[0.3, -0.4], [0.2, 0.1]])
    assert np.allclose(scipy.linalg.cosm(A), (scipy.linalg.expm(1j * A)).real)


@pytest.mark.parametrize("f", ["cos", "cosh"])
def test_exact_certificate(f):
    net = network(f, 2, 1e-2, r=1.0)
    for A in rational_ball_samples(2, 1.0, 3, seed=3):
        cert = certify_exact(net, A)
        assert cert.holds and cert.exact_error <= 1e-2


def test_spectral_norm_and_errors():
    c2, cf = choose_trig("cos", 3, 1e-3, 1.0, norm="2"), choose_trig("cos", 3, 1e-3, 1.0)
    assert c2.depth <= cf.depth
    net = network("cos", 2, 1e-2, r=1.0)
    with pytest.raises(DomainError):
        net(torch.eye(2) * 1.5)
    with pytest.raises(ValueError):
        choose_trig("tan", 2, 1e-2, 1.0)
    with pytest.raises(ValueError):
        choose_for("cos", 2, 1e-2, rho=0.5)
