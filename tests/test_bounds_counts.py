"""Count formulas of bounds.counts against independent references: hand-worked layer lists
(THEORY.md sections 2-5), the separately stated closed forms of section 5, and the structural
identities of sections 6-7 (s = 0 is H, p = 1 is H, uniform SS closed form)."""

import numpy as np
import pytest
import sympy as sp

from bounds import (
    Counts,
    evaluate_counts_grid,
    horner_exp,
    matmul_net,
    matmul_square_net,
    one_branch_square_net,
    paterson_stockmeyer_exp,
    paterson_stockmeyer_exp_closed,
    product_net,
    scaling_squaring_exp,
    scaling_squaring_exp_uniform,
    squaring_net,
)

n_, K_, m_ = sp.symbols("n K m", integer=True, positive=True)


@pytest.mark.parametrize("m", range(1, 7))
def test_squaring_net_from_layer_list(m):
    # THEORY.md section 2: T_1 has 3, T_2 has 7, each T_l (3 <= l <= m) 8, output 3 (2 if m=1);
    # widths (2, 3, ..., 3).
    params = 3 + (7 if m >= 2 else 0) + 8 * max(0, m - 2) + (2 if m == 1 else 3)
    widths = [2] + [3] * (m - 1)
    assert squaring_net(m) == Counts(m, max(widths), params)
    assert params == 8 * m - 3


@pytest.mark.parametrize("m", range(1, 7))
def test_product_and_one_branch_from_layer_list(m):
    # Per branch: first layer 4 weights per input read + 2 biases (-1/2); layer 2: 13;
    # later layers 8; output 3 (4 if m = 1). Two inputs x, y for the product.
    branch_rest = (13 + 8 * (m - 2) + 3) if m >= 2 else 4
    assert product_net(m) == Counts(m, 8, 2 * (8 + 2 + branch_rest))
    assert product_net(m).params == (16 * m + 20 if m >= 2 else 28)
    assert one_branch_square_net(m) == Counts(m, 4, 4 + 2 + branch_rest)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("m", [1, 2, 5])
def test_matmul_counts(n, m):
    assert matmul_net(n, m) == Counts(m, 8 * n**3, n**3 * product_net(m).params)
    # Squaring variant: n^3 - n two-branch blocks reading two distinct inputs and n one-branch
    # blocks; no constants, so only the shifted units carry biases.
    two, one = product_net(m).params, one_branch_square_net(m).params
    sq = matmul_square_net(n, m)
    assert sq == Counts(m, 8 * n**3 - 4 * n, (n**3 - n) * two + n * one)


def test_horner_hand_worked_n1_K2_m1():
    # Phi(a) = 1 + Pi(a, 1 + a/2), one block with x, y both affine in the input scalar a:
    # 8 first-layer units read a once (x and y share it): 8 weights; biases 4 (shifted) + 4 (the
    # constant 1 of y reaches the unshifted units too) = 8; output: 8 units (m = 1) + bias 1.
    assert horner_exp(1, 2, 1) == Counts(1, 8, 8 + 8 + 9)


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("K", [0, 1])
def test_horner_affine(n, K):
    assert horner_exp(n, K) == Counts(0, 0, n + K * n**2)


def test_horner_closed_forms_symbolic():
    """THEORY.md section 5 states P_H for m >= 2 and m = 1 as polynomials; section 9 builds it
    from its terms. The two must agree as polynomials in (n, K, m)."""
    k = sp.Symbol("k", integer=True, nonnegative=True)  # m = k + 2 covers every m >= 2
    m2 = k + 2
    closed_m2 = (
        48 * (K_ - 2) * n_**4
        + (16 * (K_ - 1) * m2 + 14 * K_ - 8) * n_**3
        + (2 * (K_ - 2) * m2 + 4 * (K_ - 1)) * n_**2
        - 7 * n_
    )
    assert sp.simplify(horner_exp(n_, K_, m2).params - closed_m2) == 0
    closed_m1 = 64 * (K_ - 2) * n_**4 + (20 * K_ - 12) * n_**3 + (6 * K_ - 8) * n_**2 - 7 * n_
    assert sp.simplify(horner_exp(n_, K_, 1).params - closed_m1) == 0
    assert sp.simplify(horner_exp(n_, K_, m_).depth - (K_ - 1) * m_) == 0


def test_counts_are_ints_for_int_inputs():
    c = scaling_squaring_exp(3, 4, 2, [3, 2])
    assert all(type(x) is int for x in (c.depth, c.width, c.params))
    assert isinstance(horner_exp(n_, K_, m_).params, sp.Expr)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("K", [1, 2, 3, 6])
@pytest.mark.parametrize("s", [1, 2, 4])
def test_uniform_ss_equals_ss(n, K, s):
    for m0 in (1, 3):
        for ms in (1, 2, 4):
            ref = scaling_squaring_exp(n, K, m0, [ms] * s)
            assert scaling_squaring_exp_uniform(n, K, m0, ms, s) == ref


def test_uniform_ss_symbolic_in_n_and_s():
    # The closed form in the symbols (n, s) against the stage-by-stage sum at s = 1..4.
    s = sp.Symbol("s", integer=True, positive=True)
    for K, m0, ms in [(2, 1, 1), (5, 3, 4), (3, 2, 1)]:
        c = scaling_squaring_exp_uniform(n_, K, m0, ms, s)
        for sv in range(1, 5):
            ref = scaling_squaring_exp(n_, K, m0, [ms] * sv)
            assert sp.expand(c.params.subs(s, sv) - ref.params) == 0
            assert c.depth.subs(s, sv) == ref.depth


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ss_with_no_squarings_is_horner(n):
    assert scaling_squaring_exp(n, 5, 3, []) == horner_exp(n, 5, 3)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ss_K1_width(n):
    # K = 1: the Taylor stage is affine, the widest layer is squaring 1's first layer.
    assert scaling_squaring_exp(n, 1, None, [2, 3]).width == 8 * n**3 - 4 * n
    assert scaling_squaring_exp(n, 1, None, [2, 3]).depth == 5


@pytest.mark.parametrize("K", [2, 5, 9])
@pytest.mark.parametrize("m", [1, 2, 4])
def test_ps_p1_is_horner(K, m):
    assert paterson_stockmeyer_exp(3, K, 1, m) == horner_exp(3, K, m)


@pytest.mark.parametrize("K", range(3, 14))
def test_ps_closed_form_matches_sum_form(K):
    for p in range(2, K):
        q = -(-K // p)
        kap = K - (q - 1) * p
        for m in (1, 2, 3):
            ref = paterson_stockmeyer_exp(n_, K, p, m)
            got = paterson_stockmeyer_exp_closed(n_, K, p, m, q, kap)
            assert sp.expand(got.params - ref.params) == 0
            assert (got.depth, sp.expand(got.width - ref.width)) == (ref.depth, 0)
            assert ref.depth == (p + q - 2) * m


def test_ps_width_and_depth_pinned():
    # THEORY.md section 7 header: W = 8n^3 + 2n^2 (p - 1 + [q >= 3]), L = (p + ceil(K/p) - 2) m.
    c = paterson_stockmeyer_exp(4, 10, 3, 5)  # q = 4
    assert (c.depth, c.width) == ((3 + 4 - 2) * 5, 8 * 64 + 2 * 16 * (2 + 1))


@pytest.mark.parametrize(
    "bad",
    [
        lambda: squaring_net(0),
        lambda: matmul_net(0, 2),
        lambda: horner_exp(2, 3),
        lambda: horner_exp(2, -1, 2),
        lambda: scaling_squaring_exp(2, 0, 1, [2]),
        lambda: scaling_squaring_exp(2, 3, 1, [0]),
        lambda: paterson_stockmeyer_exp(2, 5, 5, 2),
        lambda: squaring_net(True),
        lambda: squaring_net(2.0),
    ],
)
def test_count_validation(bad):
    with pytest.raises(ValueError):
        bad()


def test_grid_matches_int_formulas(rng):
    N = 400
    n = rng.integers(1, 8, N)
    K = rng.integers(0, 20, N)
    m = rng.integers(1, 20, N)
    g = evaluate_counts_grid("horner", n, K, m)
    for i in range(N):
        c = horner_exp(int(n[i]), int(K[i]), int(m[i]))
        assert (g.depth[i], g.width[i], g.params[i]) == (c.depth, c.width, c.params)
    K1 = np.maximum(K, 1)
    s = rng.integers(0, 5, N)
    msq = rng.integers(1, 20, (N, 4))  # (points, s_max)
    msq[np.arange(4)[None, :] >= s[:, None]] = 0
    g = evaluate_counts_grid("scaling_squaring", n, K1, m, msq=msq)
    for i in range(N):
        c = scaling_squaring_exp(int(n[i]), int(K1[i]), int(m[i]), [int(x) for x in msq[i] if x])
        assert (g.depth[i], g.width[i], g.params[i]) == (c.depth, c.width, c.params)
    K2 = np.maximum(K, 2)
    p = np.array([rng.integers(1, k) for k in K2])
    g = evaluate_counts_grid("paterson_stockmeyer", n, K2, m, p=p)
    for i in range(N):
        c = paterson_stockmeyer_exp(int(n[i]), int(K2[i]), int(p[i]), int(m[i]))
        assert (g.depth[i], g.width[i], g.params[i]) == (c.depth, c.width, c.params)


def test_grid_shapes_and_validation():
    g = evaluate_counts_grid("horner", np.arange(1, 4)[:, None], np.array([[2, 5]]), 3)
    assert g.params.shape == (3, 2) and g.params.dtype == np.int64
    with pytest.raises(ValueError, match="known"):
        evaluate_counts_grid("taylor", 2, 3, 3)
    with pytest.raises(ValueError, match="pad"):
        evaluate_counts_grid("scaling_squaring", 2, 3, 3, msq=np.array([0, 2]))
    with pytest.raises(ValueError, match="integer"):
        evaluate_counts_grid("horner", 2.5, 3, 3)
