"""Lemmas 1-3 and the carry: counts read off the built weights equal the bounds formulas, and the
error bounds hold and are attained (they are sharp). References: closed forms x^2, xy, XY and the
piecewise-linear interpolant of x^2 built with numpy.interp."""

import numpy as np
import pytest
import torch

import bounds
from constructive import MatmulNet, ProductNet, SquareNet, SquaringNet, count
from constructive.builder import Carry, NetworkBuilder


def _counts(c):
    return (int(c.depth), int(c.width), int(c.params))


@pytest.mark.parametrize("m", range(1, 7))
def test_squaring_net_counts_equal_lemma1(m):
    assert tuple(count(SquaringNet(m).to_relu_network())) == _counts(bounds.squaring_net(m))


@pytest.mark.parametrize("m", range(1, 7))
def test_squaring_net_is_interpolant_of_x_squared(m):
    """Lemma 1: f_m interpolates x^2 at k 2^-m, error in [0, 4^(-m-1)], equality at midpoints."""
    x = torch.linspace(0, 1, 4097, dtype=torch.float64)
    nodes = np.linspace(0, 1, 2**m + 1)
    interp = torch.from_numpy(np.interp(x.numpy(), nodes, nodes**2))
    net = SquaringNet(m)
    explicit = net.to_relu_network()(x[:, None])[:, 0]
    for f in (net(x), explicit):
        torch.testing.assert_close(f, interp, rtol=0, atol=1e-14)
        err = f - x**2
        assert err.min() >= -1e-15
        assert err.max() <= 4.0 ** (-m - 1) * (1 + 1e-12)
    mid = (torch.arange(2**m, dtype=torch.float64) + 0.5) / 2**m
    attained = (net(mid) - mid**2).min()
    assert attained >= 4.0 ** (-m - 1) * 0.999


@pytest.mark.parametrize("m", range(1, 7))
def test_product_net_counts_equal_lemma2(m):
    net = ProductNet(1.3, 0.7, m)
    assert tuple(count(net.to_relu_network())) == _counts(bounds.product_net(m))


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_product_net_error_bound_and_sharpness(m):
    Mx, My = 2.5, 0.4
    g = torch.Generator().manual_seed(m)
    x = (2 * torch.rand(20000, generator=g, dtype=torch.float64) - 1) * Mx
    y = (2 * torch.rand(20000, generator=g, dtype=torch.float64) - 1) * My
    net = ProductNet(Mx, My, m)
    delta = Mx * My * 4.0 ** (-m - 1)
    approx = net(x, y)
    assert (approx - x * y).abs().max() <= delta * (1 + 1e-12)
    explicit = net.to_relu_network()(torch.stack([x, y], 1))[:, 0]
    torch.testing.assert_close(explicit, approx, rtol=1e-12, atol=1e-15)
    # sharp at x/Mx = y/My = 2^(-m-1) (Lemma 2, item 1)
    t = torch.tensor([2.0 ** (-m - 1)], dtype=torch.float64)
    assert (net(t * Mx, t * My) - t * t * Mx * My).abs().item() >= 0.999 * delta
    # exact zeros and odd symmetry (item 2)
    assert torch.all(net(x, torch.zeros_like(x)) == 0) and torch.all(net(torch.zeros_like(y), y) == 0)
    torch.testing.assert_close(net(-x, y), -approx, rtol=0, atol=1e-15)


@pytest.mark.parametrize("m", range(1, 7))
def test_one_branch_square_counts_and_error(m):
    M = 1.9
    net = SquareNet(M, m)
    assert tuple(count(net.to_relu_network())) == _counts(bounds.one_branch_square_net(m))
    x = torch.linspace(-M, M, 2001, dtype=torch.float64)
    err = net(x) - x**2
    assert err.min() >= -1e-14 and err.max() <= M**2 * 4.0 ** (-m - 1) * (1 + 1e-12)
    torch.testing.assert_close(net.to_relu_network()(x[:, None])[:, 0], net(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_matmul_counts_equal_lemma3(n, m):
    assert tuple(count(MatmulNet(n, 1.1, 0.9, m).to_relu_network())) == _counts(bounds.matmul_net(n, m))
    sq = MatmulNet(n, 1.1, 1.1, m, square=True)
    assert tuple(count(sq.to_relu_network())) == _counts(bounds.matmul_square_net(n, m))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("m", [1, 3])
def test_matmul_error_bound_attained(n, m):
    """|E_ij| <= n delta; X = Y = c 11^T with c/M = 2^(-m-1) attains it (Lemma 3)."""
    M = 1.5
    net = MatmulNet(n, M, M, m)
    delta = M * M * 4.0 ** (-m - 1)
    g = torch.Generator().manual_seed(0)
    X = (2 * torch.rand(500, n, n, generator=g, dtype=torch.float64) - 1) * M
    Y = (2 * torch.rand(500, n, n, generator=g, dtype=torch.float64) - 1) * M
    E = net(X, Y) - X @ Y
    assert E.abs().max() <= n * delta * (1 + 1e-12)
    C = torch.full((1, n, n), M * 2.0 ** (-m - 1), dtype=torch.float64)
    E_sharp = net(C, C) - C @ C
    torch.testing.assert_close(E_sharp, torch.full_like(E_sharp, n * delta), rtol=1e-9, atol=0)
    explicit = net.to_relu_network()(torch.cat([X.flatten(1), Y.flatten(1)], 1)).reshape(-1, n, n)
    torch.testing.assert_close(explicit, net(X, Y), rtol=1e-12, atol=1e-14)
    sq = MatmulNet(n, M, M, m, square=True)
    assert (sq(X) - X @ X).abs().max() <= n * delta * (1 + 1e-12)
    torch.testing.assert_close(
        sq.to_relu_network()(X.flatten(1)).reshape(-1, n, n), sq(X), rtol=1e-12, atol=1e-14
    )


def test_carry_is_identity_with_one_weight_per_unit_after_the_first_layer():
    b = NetworkBuilder(2)
    z = b.input(0) * 3.0 - b.input(1)
    carry = Carry(z)
    for _ in range(4):
        carry.step(b.new_layer())
    net = b.realise([carry.value])
    x = torch.randn(50, 2, dtype=torch.float64)
    torch.testing.assert_close(net(x)[:, 0], 3.0 * x[:, 0] - x[:, 1], rtol=1e-14, atol=1e-14)
    assert net.layer_widths == [2, 2, 2, 2]
    # first layer reads z (2 weights per unit), later layers copy (1 weight), output reads 2 units
    assert count(net).params == 2 * 2 + 3 * 2 * 1 + 2
