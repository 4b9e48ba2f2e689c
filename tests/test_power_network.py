"""The power network (docs/power_network.md): counts read off the built weights equal
bounds.power's formulas, and the worst error found against numpy/mpmath is <= eps."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import torch

from bounds import choose_for
from bounds.power import choose_power, power_counts, power_schedule
from constructive import count, network
from constructive.exact import certify_exact, rational_ball_samples
from constructive.oracle import DomainError
from constructive.power import check_power_network


def test_schedule_is_binary_powering():
    assert power_schedule(2) == ("S",)
    assert power_schedule(5) == ("S", "S", "M")
    assert power_schedule(6) == ("S", "M", "S")
    for k in range(2, 40):  # the schedule computes A^k: exponents 1 -> 2e (S), e + 1 (M)
        e = 1
        for op in power_schedule(k):
            e = 2 * e if op == "S" else e + 1
        assert e == k


@pytest.mark.parametrize(
    "n, k, eps, r", list(itertools.product((1, 2, 3), (2, 3, 5, 6), (1e-2, 1e-4), (0.5, 1.0)))
)
def test_counts_equal_formulas(n, k, eps, r):
    c = choose_for("pow", n, eps, r=r, k=k)
    net = network("pow", n, eps, r=r, k=k)
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert c.certified_error <= eps


def test_counts_per_stage_layers():
    from constructive.power import PowerNetwork

    for n, k in itertools.product((1, 2, 3), (3, 7)):
        ms = [1 + t % 3 for t in range(len(power_schedule(k)))]
        net = PowerNetwork(n, 1.0, k, ms, [1.0] * (len(ms) + 1))
        want = power_counts(n, k, ms)
        assert tuple(count(net.to_relu_network())) == (want.depth, want.width, want.params)


@pytest.mark.parametrize(
    "n, k, eps, r", [(1, 2, 1e-6, 0.5), (2, 3, 1e-2, 1.0), (3, 5, 1e-3, 1.0), (2, 7, 1e-2, 1.3)]
)
def test_worst_error_at_most_eps(n, k, eps, r):
    net = network("pow", n, eps, r=r, k=k)
    res = check_power_network(net, count=60, seed=1)
    assert res.worst_error <= eps, res.by_kind


def test_structured_against_mpmath_on_extremes():
    """+-rI, a Jordan block and r uu^T against A^k at 40 digits."""
    n, k, eps, r = 3, 5, 1e-4, 1.0
    net = network("pow", n, eps, r=r, k=k)
    u = np.ones((n, 1)) / np.sqrt(n)
    J = 0.5 * np.eye(n) + np.diag(np.ones(n - 1), 1)
    mats = [r * np.eye(n), -r * np.eye(n), r * u @ u.T, r * J / np.linalg.norm(J, 2)]
    for A in mats:
        with mpmath.workdps(40):
            ref = np.array((mpmath.matrix(A.tolist()) ** k).tolist(), dtype=float)
        out = net(torch.from_numpy(A)).numpy()
        assert np.linalg.norm(out - ref) <= eps


def test_exact_certificate():
    net = network("pow", 2, 1e-2, r=1.0, k=3)
    for A in rational_ball_samples(2, 1.0, 3, seed=2):
        cert = certify_exact(net, A)
        assert cert.holds and cert.exact_error <= 1e-2


def test_oracle_domain_and_rule_errors():
    net = network("pow", 2, 1e-2, r=1.0, k=2)
    with pytest.raises(DomainError):
        net(torch.eye(2) * 1.5)
    with pytest.raises(ValueError):
        choose_power(2, 1e-2, 1.0, 1)
    with pytest.raises(ValueError):
        choose_for("pow", 2, 1e-2, r=1.0)  # k missing
    assert net.certify(torch.eye(2) * 0.5, torch.eye(2) * 0.25, tol=0.1) == "pass"
