"""Exact-arithmetic certificate (issue 6, item 2): the explicit network evaluated in rationals.

References: a plain Fraction evaluation written here (dense, entry by entry), Lemma 1's closed form
(f_m interpolates x^2 at the nodes k 2^-m and overshoots by exactly 4^(-m-1) at the midpoints),
and mpmath's exp at 60 digits. THEORY.md section 10.5: float64 evaluation stops following the
bound near m = 24-26; the exact evaluation does not.
"""

import json
import math
from fractions import Fraction

import mpmath
import pytest
import torch

import bounds
from constructive import (
    DomainError,
    ExpNetwork,
    PatersonStockmeyerNetwork,
    PrecisionWarning,
    ProductNet,
    SquaringNet,
    certify_exact,
    eps_floor,
)
from constructive.__main__ import main
from constructive.exact import exact_forward, rational_ball_samples


def _fraction_forward(net, x):
    """The obviously right evaluation: dense Fraction matrices, one entry at a time."""
    h = [Fraction(v) for v in x]
    last = len(net.weights) - 1
    for l_, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        Wd = (W.to_dense() if W.is_sparse else W).tolist()
        h = [
            sum((Fraction(w) * v for w, v in zip(row, h, strict=True) if w), Fraction(bi))
            for row, bi in zip(Wd, b.tolist(), strict=True)
        ]
        if l_ < last:
            h = [max(v, Fraction(0)) for v in h]
    return h


@pytest.mark.parametrize(
    ("net", "x"),
    [
        (SquaringNet(3).to_relu_network(), [Fraction(2, 7)]),
        (ProductNet(1.5, 0.7, 3).to_relu_network(), [Fraction(-5, 9), Fraction(1, 3)]),
        (ExpNetwork(1, 1.0, 4, 2, (), {1: 2.0, 2: 1.6, 3: 1.3}, ()).to_relu_network(), [Fraction(-3, 7)]),
        (
            ExpNetwork(2, 1.0, 3, 1, (), {1: 2.0, 2: 1.4}, ()).to_relu_network(),
            [Fraction(k, 11) for k in (1, -2, 3, 4)],
        ),
    ],
)
def test_exact_forward_equals_plain_fractions(net, x):
    got, _ = exact_forward(net, x)
    assert got == _fraction_forward(net, x)


@pytest.mark.parametrize("m", [1, 5, 20, 40])
def test_lemma1_closed_form_in_exact_arithmetic(m):
    """At nodes k 2^-m, f_m(x) = x^2 exactly; at midpoints, f_m(x) = x^2 + 4^(-m-1) exactly."""
    net = SquaringNet(m).to_relu_network()
    for k in (0, 1, 3, 2**m - 1, 2**m):
        x = Fraction(min(k, 2**m), 2**m)
        assert exact_forward(net, [x])[0] == [x * x]
    for k in (0, 1, 2 ** (m - 1) if m > 1 else 0, 2**m - 1):
        x = Fraction(2 * k + 1, 2 ** (m + 1))
        assert exact_forward(net, [x])[0] == [x * x + Fraction(1, 4 ** (m + 1))]


def _horner(n, r, K, m):
    hc = bounds.horner_constants(n, r, K, m)
    bound = hc.b0 + math.sqrt(n) * bounds.taylor_tail(K, r)
    return ExpNetwork(n, r, K, m, (), hc.mu, ()), bound


def test_exact_certificate_resolves_what_float64_cannot():
    """n = 1, r = 1, m = 26: the certified bound is 1.6e-16; the exact error stays below it on every
    input while the float64 evaluation of the same network exceeds it."""
    r, K = 1.0, 18
    net, bound = _horner(1, r, K, 26)
    inputs = rational_ball_samples(1, r, 8, seed=3)
    certs = [certify_exact(net, A, eps=bound) for A in inputs]
    assert all(c.holds and c.exact_error <= bound for c in certs), [c.exact_error for c in certs]
    assert max(c.float64_error for c in certs) > bound
    a = inputs[2][0][0]
    with mpmath.workdps(60):  # independent reference for n = 1: the scalar exp of the exact output
        phi = certs[2].output[0][0]
        err = abs(
            mpmath.mpf(phi.numerator) / phi.denominator - mpmath.exp(mpmath.mpf(a.numerator) / a.denominator)
        )
        assert float(err) == pytest.approx(certs[2].exact_error, rel=1e-12)


def test_exact_certificate_r4_m24():
    net, bound = _horner(1, 4.0, 30, 24)
    assert all(certify_exact(net, A, eps=bound).holds for A in rational_ball_samples(1, 4.0, 6, seed=3))


def test_exact_certificate_n2_ps_and_horner_at_m26():
    n, r, K, m = 2, 1.0, 18, 26
    net_h, bound_h = _horner(n, r, K, m)
    c = bounds.paterson_stockmeyer_constants(n, r, K, 4, m)
    net_ps = PatersonStockmeyerNetwork(n, r, K, 4, m, c.nu, c.M)
    bound_ps = c.delta0 + math.sqrt(n) * bounds.taylor_tail(K, r)
    for A in rational_ball_samples(n, r, 3, seed=5):
        assert certify_exact(net_h, A, eps=bound_h).holds
        assert certify_exact(net_ps, A, eps=bound_ps).holds


@pytest.mark.parametrize(("r", "K", "m"), [(1.0, 18, 30), (4.0, 30, 26)])
def test_float64_weights_have_a_floor_below_the_precision_warning(r, K, m):
    """Here the Lemma bound (1e-17 at r = 1, 1.3e-14 at r = 4) is below what float64 *weights*
    realise (1/k, 1/M, M_x M_y are rounded): the exact error of the built network exceeds the
    bound, by a weight-rounding floor that the PrecisionWarning threshold 100 n u e^r still covers."""
    net, bound = _horner(1, r, K, m)
    worst = max(certify_exact(net, A, eps=bound).exact_error for A in rational_ball_samples(1, r, 6, seed=3))
    assert bound < worst <= eps_floor(1, r, torch.float64)


def test_exp_network_with_tiny_eps_warns_but_certifies_exactly():
    """A precision warning (float64 cannot resolve eps) and an exact certificate that can."""
    n, r, K, m = 1, 1.0, 18, 26
    net_h, bound = _horner(n, r, K, m)
    with pytest.warns(PrecisionWarning):
        net = ExpNetwork(n, r, K, m, (), net_h.mu, (), eps=bound)
    cert = certify_exact(net, [[Fraction(-2, 3)]])
    assert cert.eps == bound and cert.holds and cert.digits == 60 and cert.depth == (K - 1) * m


def test_inputs_and_errors():
    net, bound = _horner(2, 1.0, 4, 2)
    with pytest.raises(DomainError, match="spectral norm"):
        certify_exact(net, [[Fraction(1), Fraction(1, 1000)], [Fraction(0), Fraction(0)]], eps=bound)
    with pytest.raises(DomainError, match="2 x 2"):
        certify_exact(net, [[0.5]], eps=bound)
    with pytest.raises(ValueError, match="eps"):
        certify_exact(net, [[0.5, 0.0], [0.0, 0.5]])
    with pytest.raises(ValueError, match="digits"):
        certify_exact(net, [[0.5, 0.0], [0.0, 0.5]], eps=bound, digits=10)
    same = [
        certify_exact(net, A, eps=bound).exact_error for A in ([[0.5, 0.0], [0.0, 0.5]], torch.eye(2) / 2)
    ]
    assert same[0] == same[1]  # floats and tensors convert exactly


def test_rational_samples_lie_in_the_ball():
    for A in rational_ball_samples(3, 2.0, 6, seed=1):
        with mpmath.workdps(40):
            s = max(
                mpmath.svd_r(
                    mpmath.matrix([[mpmath.mpf(a.numerator) / a.denominator for a in row] for row in A]),
                    compute_uv=False,
                )
            )
        assert s <= 2.0 and s >= 2.0 * (1 - 1e-11)


def _f_closed(x, m):
    """Lemma 1 in closed form: f_m(|x|) = x^2 + (|x| - a)(a + h - |x|), a = h floor(|x|/h), h = 2^-m."""
    x = abs(x)
    h = mpmath.ldexp(1, -m)
    a = mpmath.floor(x / h) * h
    return x * x + (x - a) * (a + h - x)


@pytest.mark.parametrize("m", [26, 30, 34])
def test_real_weight_network_meets_the_bound_and_float_weights_explain_the_floor(m):
    """n = 1: the Method-H network with *real* weights (1/k, 1/mu_k exact), evaluated in mpmath by
    Lemma 1's closed form, stays below the Lemma 4 bound even at m = 34; the float64-weighted
    network differs from it by the weight-rounding floor seen by certify_exact."""
    r, K = 1.0, 18
    net, bound = _horner(1, r, K, m)
    for A in rational_ball_samples(1, r, 4, seed=3):
        a = A[0][0]
        with mpmath.workdps(60):
            am = mpmath.mpf(a.numerator) / a.denominator
            Q = 1 + am / K
            for k in range(K - 1, 0, -1):
                mu = mpmath.mpf(net.mu[k])
                Q = (
                    1
                    + r * mu * (_f_closed((am / r + Q / mu) / 2, m) - _f_closed((am / r - Q / mu) / 2, m)) / k
                )
            assert abs(Q - mpmath.exp(am)) <= bound
            phi = certify_exact(net, A, eps=bound).output[0][0]
            assert abs(mpmath.mpf(phi.numerator) / phi.denominator - Q) <= eps_floor(1, r, torch.float64)


def test_cli_exact(capsys):
    argv = ["--n", "2", "--eps", "1e-3", "--radius", "1", "--method", "all", "--exact", "3", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["horner", "scaling_squaring", "paterson_stockmeyer"]
    assert all(r["exact_holds"] and r["exact_inputs"] == 3 for r in rows)
    assert all(r["exact_worst_error"] <= r["certified_error"] for r in rows)
