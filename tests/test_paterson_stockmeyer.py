"""Paterson-Stockmeyer exp networks (THEORY.md section 7, Lemma 6): counts read off the built
weights equal bounds.paterson_stockmeyer_exp exactly; p = 1 is Method H; the structured forward
equals the explicit network; the certified error holds against scipy.linalg.expm; at large m the
network computes the Taylor polynomial T_K(A) summed independently with numpy."""

import itertools
import math

import numpy as np
import pytest
import torch

import bounds
from constructive import ExpNetwork, PatersonStockmeyerNetwork, count, exp_network
from constructive.check import ball_samples, check_network, structured_inputs


def _counts(c):
    return (int(c.depth), int(c.width), int(c.params))


def _generic_ranges(K, p):
    """Ranges with no exact cancellation of a bias (pitfall 7): nu_1 = r = 1, the rest generic."""
    q = -(-K // p)
    nu = (1.0, *(1.1 + 0.1 * t for t in range(1, p)))
    M = tuple(0.37 + 0.23 * h for h in range(q - 1))
    return nu, M


# -- counts: the grid of THEORY.md section 10.1 restricted to n <= 3, K <= 10 ---------------------
PS_GRID = [(K, p) for K in range(3, 11) for p in range(2, K)]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(("K", "p"), PS_GRID)
def test_counts_equal_formula(n, K, p):
    for m in (1, 2, 3):
        nu, M = _generic_ranges(K, p)
        net = PatersonStockmeyerNetwork(n, 1.0, K, p, m, nu, M)
        explicit = net.to_relu_network()
        assert tuple(count(explicit)) == _counts(bounds.paterson_stockmeyer_exp(n, K, p, m)), (m,)
        q = -(-K // p)
        assert len(explicit.layer_widths) == (p + q - 2) * m


@pytest.mark.parametrize(("K", "p", "m"), [(5, 2, 2), (7, 3, 1), (9, 4, 3)])
def test_counts_equal_formula_n4(K, p, m):
    nu, M = _generic_ranges(K, p)
    net = PatersonStockmeyerNetwork(4, 1.0, K, p, m, nu, M)
    assert tuple(count(net.to_relu_network())) == _counts(bounds.paterson_stockmeyer_exp(4, K, p, m))


CHOICE_GRID = [
    (n, eps, r)
    for n in (1, 2, 3)
    for eps, r in [(1e-1, 0.05), (1e-2, 0.5), (1e-3, 1.0), (1e-4, 2.0), (1e-3, 4.0)]
]


@pytest.mark.parametrize(("n", "eps", "r"), CHOICE_GRID)
def test_exp_network_counts_equal_choice(n, eps, r):
    net = exp_network(n, eps, r, method="paterson_stockmeyer")
    c = net.choice
    assert isinstance(net, PatersonStockmeyerNetwork) and c.method == "paterson_stockmeyer"
    assert tuple(count(net.to_relu_network())) == (c.depth, c.width, c.params)
    assert (net.K, net.p, net.m) == (c.K, c.p, c.m0)


def test_choice_grid_reaches_p_above_2_and_the_affine_case():
    choices = [bounds.choose(n, eps, r, method="paterson_stockmeyer") for n, eps, r in CHOICE_GRID]
    ps, Ks = {c.p for c in choices}, {c.K for c in choices}
    assert {1, 2, 3}.issubset(ps) and 1 in Ks


# -- p = 1 is Method H (pitfall 12) -------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("K", [2, 3, 4, 6])
@pytest.mark.parametrize("m", [1, 3])
def test_p1_reproduces_horner(n, K, m):
    r = 1.5
    ps = bounds.paterson_stockmeyer_constants(n, r, K, 1, m)
    hc = bounds.horner_constants(n, r, K, m)
    # Lemma 6 at p = 1 is Lemma 4 with R_b = Q_b / b!: M^(h) = mu_k / k! for k = K - h.
    for h, Mh in enumerate(ps.M, start=1):
        k = K - h
        assert Mh == pytest.approx(hc.mu[k] / math.factorial(k), rel=1e-14)
    assert ps.delta0 == pytest.approx(hc.b0, rel=1e-14)
    net_ps = PatersonStockmeyerNetwork(n, r, K, 1, m, ps.nu, ps.M)
    net_h = ExpNetwork(n, r, K, m, (), hc.mu, ())
    assert tuple(count(net_ps.to_relu_network())) == tuple(count(net_h.to_relu_network()))
    assert tuple(count(net_ps.to_relu_network())) == _counts(bounds.horner_exp(n, K, m))
    A = ball_samples(n, r, 40, torch.Generator().manual_seed(K))
    y_ps, y_h = net_ps(A), net_h(A)
    scale = y_h.abs().amax(dim=(-1, -2), keepdim=True)
    assert ((y_ps - y_h).abs() / scale).max() <= 1e-13
    explicit = net_ps.to_relu_network()(A.reshape(40, n * n)).reshape(40, n, n)
    assert ((explicit - y_h).abs() / scale).max() <= 1e-12


# -- the two realisations agree, and agree with an independent polynomial ------------------------
@pytest.mark.parametrize(("n", "eps", "r"), [(1, 1e-3, 2.0), (2, 1e-2, 1.0), (2, 1e-4, 4.0), (3, 1e-3, 1.0)])
def test_structured_equals_explicit(n, eps, r):
    net = exp_network(n, eps, r, method="paterson_stockmeyer")
    g = torch.Generator().manual_seed(1)
    A = torch.cat([ball_samples(n, r, 64, g), structured_inputs(n, r, g)])
    B = A.shape[0]
    structured = net(A)
    explicit = net.to_relu_network()(A.reshape(B, n * n)).reshape(B, n, n)  # vec row-major
    scale = structured.abs().amax(dim=(-1, -2), keepdim=True)
    assert ((explicit - structured).abs() / scale).max() <= 1e-12
    if n <= 2:
        with torch.no_grad():
            dense = net.to_relu_network().to_sequential()(A.reshape(B, n * n)).reshape(B, n, n)
        assert ((dense - structured).abs() / scale).max() <= 1e-12


def _taylor_numpy(A, K):
    """T_K(A) = sum_{j<=K} A^j / j! by repeated products (an independent evaluation order)."""
    out, term = np.eye(A.shape[-1]), np.eye(A.shape[-1])
    for j in range(1, K + 1):
        term = term @ A / j
        out = out + term
    return out


@pytest.mark.parametrize(("K", "p"), [(5, 2), (7, 3), (8, 3), (9, 4), (10, 5), (10, 9)])
def test_large_m_computes_the_taylor_polynomial(K, p):
    """With m = 26 the product errors are ~1e-16, so Phi must equal T_K(A) to rounding: this checks
    the block structure (C_b, kappa, the carries) independently of the exp error bound."""
    n, r, m = 2, 1.0, 26
    c = bounds.paterson_stockmeyer_constants(n, r, K, p, m)
    net = PatersonStockmeyerNetwork(n, r, K, p, m, c.nu, c.M)
    A = ball_samples(n, r, 30, torch.Generator().manual_seed(K + p))
    ref = np.stack([_taylor_numpy(a, K) for a in A.numpy()])
    assert np.abs(net(A).numpy() - ref).max() <= 1e-13
    x = net.to_relu_network()(A[:4].reshape(4, n * n)).reshape(4, n, n).numpy()
    assert np.abs(x - ref[:4]).max() <= 1e-13


# -- the certified error ------------------------------------------------------------------------
ERROR_GRID = list(itertools.product((1, 2, 3), (0.5, 1.0, 2.0, 4.0), (1e-1, 1e-2, 1e-3, 1e-4)))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "r", "eps"), ERROR_GRID)
def test_worst_error_below_eps(n, r, eps):
    net = exp_network(n, eps, r, method="paterson_stockmeyer")
    res = check_network(net, count=100, seed=n, adversarial_starts=3, adversarial_steps=15)
    assert res.worst_error <= eps, res
    assert res.worst_error <= net.choice.certified_error * (1 + 1e-9) + 1e-13, res


@pytest.mark.parametrize(("n", "r", "eps"), [(3, 2.0, 1e-3)])
def test_worst_error_below_eps_fast(n, r, eps):
    net = exp_network(n, eps, r, method="paterson_stockmeyer")
    assert net.p >= 2
    res = check_network(net, count=60, seed=5, adversarial_starts=2, adversarial_steps=10)
    assert res.worst_error <= net.choice.certified_error <= eps, res


def test_spectral_norm_guarantee():
    net = exp_network(2, 1e-3, 2.0, method="paterson_stockmeyer", norm="2")
    res = check_network(net, count=100, seed=3, adversarial_starts=2, adversarial_steps=10)
    assert net.choice.norm == "2" and res.worst_error <= 1e-3


def test_oracle_api_is_shared():
    net = exp_network(2, 1e-3, 1.0, method="paterson_stockmeyer")
    A = 0.5 * torch.eye(2, dtype=torch.float64)
    exact = math.exp(0.5) * torch.eye(2, dtype=torch.float64)
    assert net.certify(A, exact, 1e-2) == "pass"
    assert net.certify(A, exact + 0.1, 1e-2) == "fail"
    with pytest.raises(ValueError, match="spectral norm"):
        net(2 * torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((2, 1.0, 5, 5, 2, (1.0,) * 5, ()), "1 <= p <= K - 1"),
        ((2, 1.0, 5, 0, 2, (), ()), "1 <= p <= K - 1"),
        ((2, 1.0, 5, 2, 0, (1.0, 1.1), (1.0, 1.0)), "m"),
        ((2, 1.0, 5, 2, 2, (1.0,), (1.0, 1.0)), "bounds nu_1..nu_p"),
        ((2, 1.0, 5, 2, 2, (0.5, 1.0), (1.0, 1.0)), "nu_1 >= r"),
        ((0, 1.0, 5, 2, 2, (1.0, 1.1), (1.0, 1.0)), "n >= 1"),
    ],
)
def test_bad_parameters_raise(args, message):
    with pytest.raises(ValueError, match=message):
        PatersonStockmeyerNetwork(*args)
