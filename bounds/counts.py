"""Exact depth, width and parameter counts of the ReLU networks of THEORY.md (sections 2-7, 9).

Counting conventions (THEORY.md section 1): depth L = number of hidden layers (affine maps minus
one; L = 0 is an affine map), width W = largest hidden layer (input and output not counted),
params P = nonzero weights plus nonzero biases of all affine maps, the output map included.

Every function takes Python ints (then every count is a Python int) or sympy expressions where
the formula is symbolic, and returns a frozen :class:`Counts`. The formulas are those of
THEORY.md section 9, which were checked there against explicitly built networks (section 10.1).
The construction is Yarotsky's squaring network (Yarotsky, 2017, Neural Networks 94,
Proposition 2) composed as in the paper the package accompanies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from ._symbols import (
    as_int,
    iota1,
    iota2,
    iverson_eq,
    iverson_ge,
    maximum,
    omega1,
    omega2,
)

__all__ = [
    "Counts",
    "squaring_net",
    "product_net",
    "one_branch_square_net",
    "matmul_net",
    "matmul_square_net",
    "horner_hidden",
    "horner_exp",
    "square_first",
    "square_first_from_taylor",
    "scaling_squaring_exp",
    "scaling_squaring_exp_uniform",
    "paterson_stockmeyer_exp",
    "paterson_stockmeyer_exp_closed",
]


@dataclass(frozen=True)
class Counts:
    """Depth (hidden layers), width (largest hidden layer) and params (nonzeros) of a network.

    Each field is a Python int when every input of the formula was an integer, else a sympy
    expression.
    """

    depth: object
    width: object
    params: object


def _finish(value):
    """Python int for integer-valued results, a sympy expression otherwise."""
    if isinstance(value, int):
        return value
    value = sp.sympify(value)
    if value.is_Integer:
        return int(value)
    return value


def _counts(depth, width, params) -> Counts:
    return Counts(_finish(depth), _finish(width), _finish(params))


def _check_min(name: str, value, lowest: int):
    """Raise unless an integer ``value`` is >= ``lowest``; symbols pass unchecked."""
    iv = as_int(value)
    if iv is not None and iv < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {iv}")
    return iv


def _require_int(name: str, value, lowest: int) -> int:
    iv = _check_min(name, value, lowest)
    if iv is None:
        raise ValueError(f"{name} must be a Python integer >= {lowest} here, got {value!r}")
    return iv


def squaring_net(m) -> Counts:
    """Yarotsky's squaring network N^sq_m on [0, 1] (THEORY.md Lemma 1; Yarotsky 2017, Prop. 2).

    Guarantees 0 <= f_m(x) - x^2 <= 4^(-m-1) on [0, 1]. Counts: L = m, widths (2, 3, ..., 3),
    so W = 3 - [m = 1], and P = 8m - 3.
    """
    _check_min("m", m, 1)
    return _counts(m, 3 - iverson_eq(m, 1), 8 * m - 3)


def product_net(m) -> Counts:
    """Scalar product network with |.| merged into the first layer (THEORY.md Lemma 2).

    |Pi_m(x, y) - xy| <= M_x M_y 4^(-m-1). Two branches: L = m, widths (8, 6, ..., 6), so
    W = 8, and P = 16m + 20 for m >= 2, 28 for m = 1.
    """
    _check_min("m", m, 1)
    return _counts(m, 8, 16 * m + 20 - 8 * iverson_eq(m, 1))


def one_branch_square_net(m) -> Counts:
    """One-branch square x -> M^2 f_m(|x|/M) for |x| <= M (THEORY.md section 3, "One-branch
    square"), standalone with the scalar x as input.

    Widths (4, 3, ..., 3), so L = m and W = 4. Params: first layer 4 weights and 2 biases
    (-1/2); layers 2..m iota_1(m) = (8m - 3)[m >= 2]; output omega_1(m) = 3 + [m = 1]. Hence
    P = 8m + 6 for m >= 2 and 10 for m = 1. (Derived from the layer list of section 3; the
    composite formulas of sections 4 and 6 use the same iota_1 and omega_1.)
    """
    _check_min("m", m, 1)
    return _counts(m, 4, 6 + iota1(m) + omega1(m))


def matmul_net(n, m) -> Counts:
    """n x n matrix product network Pi(X, Y), standalone (THEORY.md Lemma 3).

    |E_ij| <= n M_x M_y 4^(-m-1) and ||E||_F <= n^2 M_x M_y 4^(-m-1). n^3 two-branch blocks:
    L = m, W = 8n^3, P = n^3 (16m + 20) for m >= 2 and 28 n^3 for m = 1.
    """
    _check_min("n", n, 1)
    _check_min("m", m, 1)
    return _counts(m, 8 * n**3, n**3 * (20 + iota2(m) + omega2(m)))


def matmul_square_net(n, m) -> Counts:
    """Squaring variant Pi_sq(Y) ~ Y^2 of Lemma 3, standalone (THEORY.md section 4).

    Blocks (i, i, i) have d = 0 and use the one-branch square: n^3 - n two-branch blocks and n
    one-branch blocks. L = m, W = 8n^3 - 4n (first layer; later layers have 6n^3 - 3n), and
    P = 20(n^3 - n) + 6n + (n^3 - n) iota_2(m) + n iota_1(m) + n^3 omega_2(m)
    - n (omega_2(m) - omega_1(m)); the first-layer term 20(n^3 - n) + 6n is the one of A A in
    THEORY.md section 7 (Method PS, term 2).
    """
    _check_min("n", n, 1)
    _check_min("m", m, 1)
    params = (
        20 * (n**3 - n)
        + 6 * n
        + (n**3 - n) * iota2(m)
        + n * iota1(m)
        + n**3 * omega2(m)
        - n * (omega2(m) - omega1(m))
    )
    return _counts(m, 8 * n**3 - 4 * n, params)


def horner_hidden(n, K, m):
    """Params of all maps into the hidden layers of the Method-H network (K >= 2), i.e. P_H
    without its output map (THEORY.md section 5 and section 9 ``horner_hidden``)."""
    return (
        (20 * n**3 + 4 * n**2 - 8 * n)
        + (K - 2) * (8 * omega2(m) * n**4 + 20 * n**3 + 4 * n**2)
        + (K - 1) * n**3 * iota2(m)
        + 2 * n**2 * (K - 2) * m
    )


def horner_exp(n, K, m=None) -> Counts:
    """Method H: Taylor polynomial T_K(A) by Horner's scheme (THEORY.md section 5, Lemma 4).

    For K >= 2 (K may be a symbol, which is then assumed >= 2): L = (K - 1) m,
    W = 8n^3 + 2n^2 [K >= 3], P = horner_hidden + n^3 omega_2(m) + n. For integer K <= 1 the
    network is the affine map A -> I + K A: L = 0, W = 0, P = n + K n^2 (n biases of I, K n^2
    weights), and ``m`` is ignored.
    """
    _check_min("n", n, 1)
    iK = _check_min("K", K, 0)
    if iK is not None and iK <= 1:
        return _counts(0, 0, n + iK * n**2)
    if m is None:
        raise ValueError("m (layers per product) is required for K >= 2")
    _check_min("m", m, 1)
    return _counts(
        (K - 1) * m,
        8 * n**3 + 2 * n**2 * iverson_ge(K, 3),
        horner_hidden(n, K, m) + n**3 * omega2(m) + n,
    )


def square_first(n, m_prev):
    """Params of the first layer of squaring j >= 2, reading the stage output of squaring
    j - 1 built with m_prev = m_{j-1} layers (THEORY.md section 6, F_j for j >= 2)."""
    w2, d = omega2(m_prev), omega2(m_prev) - omega1(m_prev)
    return 8 * ((n**3 - n) * 2 * n * w2 - 2 * n * (n - 1) * d) + 4 * (n**3 - n) + n * (4 * (n * w2 - d) + 2)


def square_first_from_taylor(n, K, m0):
    """Params of the first layer of squaring 1, reading the Taylor stage (THEORY.md section 6,
    F_1). ``K`` must be an integer >= 1 (K = 1: the affine Taylor stage I + B)."""
    iK = _require_int("K", K, 1)
    if iK == 1:
        return 20 * (n**3 - n) + 8 * n * (n - 1) + 8 * n
    w2 = omega2(m0)
    return (n**3 - n) * (16 * n * w2 + 4) + 8 * n * (n - 1) + n * (4 * n * w2 + 4)


def scaling_squaring_exp(n, K, m0, msq: Sequence[int]) -> Counts:
    """Method SS: Method H on A / 2^s followed by s squarings (THEORY.md section 6, Lemma 5).

    ``msq`` = (m_1, ..., m_s) are the layers per squaring; ``K`` >= 1 and the m_j are Python
    ints; ``m0`` (layers per Taylor product) is ignored when K = 1. Counts:
    L = (K - 1) m_0 [K >= 2] + sum_j m_j, W = max(8n^3 - 4n, (8n^3 + 2n^2[K >= 3]) [K >= 2]), and
    P as in THEORY.md section 6. With ``msq`` empty (s = 0) this is Method H, as in Rule SS.
    """
    _check_min("n", n, 1)
    msq = [_require_int("m_j", mj, 1) for mj in msq]
    if not msq:
        return horner_exp(n, K, m0)
    iK = _require_int("K", K, 1)
    if iK >= 2:
        _check_min("m0", m0, 1)
    else:
        m0 = 0  # the Taylor stage I + B is affine and has no products
    P = horner_hidden(n, iK, m0) if iK >= 2 else 0
    for j, mj in enumerate(msq):
        P += square_first_from_taylor(n, iK, m0) if j == 0 else square_first(n, msq[j - 1])
        P += (n**3 - n) * iota2(mj) + n * iota1(mj)
    last = msq[-1]
    P += n**3 * omega2(last) - n * (omega2(last) - omega1(last))
    width = maximum(8 * n**3 - 4 * n, (8 * n**3 + 2 * n**2 * iverson_ge(iK, 3)) * int(iK >= 2))
    depth = (iK - 1) * m0 + sum(msq)
    return _counts(depth, width, P)


def scaling_squaring_exp_uniform(n, K, m0, m_s, s) -> Counts:
    """Closed form of :func:`scaling_squaring_exp` when m_1 = ... = m_s = m_s and s >= 1
    (THEORY.md section 9, ``ss_exp_uniform``); every argument may be a symbol.

    A symbolic K is assumed >= 2; an integer K = 1 uses the affine Taylor stage (m0 ignored).
    """
    _check_min("n", n, 1)
    _check_min("s", s, 1)
    _check_min("m_s", m_s, 1)
    iK = _check_min("K", K, 1)
    tail = (
        (s - 1) * square_first(n, m_s)
        + s * ((n**3 - n) * iota2(m_s) + n * iota1(m_s))
        + n**3 * omega2(m_s)
        - n * (omega2(m_s) - omega1(m_s))
    )
    if iK == 1:
        return _counts(s * m_s, 8 * n**3 - 4 * n, square_first_from_taylor(n, 1, 0) + tail)
    _check_min("m0", m0, 1)
    P = horner_hidden(n, K, m0) + square_first_from_taylor(n, 2, m0) + tail
    return _counts((K - 1) * m0 + s * m_s, 8 * n**3 + 2 * n**2 * iverson_ge(K, 3), P)


def paterson_stockmeyer_exp(n, K, p, m) -> Counts:
    """Method PS: T_K(A) by Paterson and Stockmeyer's scheme (Paterson & Stockmeyer 1973,
    SIAM J. Comput. 2(1); THEORY.md section 7, Lemma 6), one m for all products.

    ``K`` and ``p`` are Python ints with 1 <= p <= K - 1 (``n`` and ``m`` may be symbols).
    With q = ceil(K / p) and S = p + q - 2 product stages: L = S m,
    W = 8n^3 + 2n^2 (p - 1 + [q >= 3]), and P as in THEORY.md section 7. p = 1 is Method H
    (THEORY.md section 7: same structure, counts and bound).
    """
    _check_min("n", n, 1)
    _check_min("m", m, 1)
    iK = _require_int("K", K, 2)
    ip = _require_int("p", p, 1)
    if ip > iK - 1:
        raise ValueError(f"p must satisfy 1 <= p <= K - 1 = {iK - 1}, got p = {ip}")
    if ip == 1:
        return horner_exp(n, iK, m)
    q = -(-iK // ip)
    kap = iK - (q - 1) * ip
    S = ip + q - 2
    w2, w1 = omega2(m), omega1(m)
    d = w2 - w1
    chi = int(ip == 2)
    # Term 1: carries of A, of P_2..P_{p-1}, and of P_p through Horner stages 1..q-2.
    P = 2 * n**2 * S * m
    for l in range(2, ip):
        P += 2 * (n**3 * w2 - n * d * int(l == 2)) + 2 * n**2 * ((S - l + 1) * m - 1)
    if q >= 3:
        P += 2 * (n**3 * w2 - n * d * chi) + 2 * n**2 * ((q - 2) * m - 1)
    # Terms 2-3: first layers of A A and of the power stages t = 2..p-1.
    P += 20 * (n**3 - n) + 6 * n
    for t in range(2, ip):
        P += 20 * n**3 + 8 * (n**4 * w2 - n**2 * d * int(t == 2))
    # Term 4: first layer of Horner stage 1; C_{q-1} reuses the units of P_p when kappa = p.
    F = (n**4 * w2 - n**2 * d * chi) + 2 * n**3 * min(kap, ip - 1)
    if kap == ip:
        F += (n**4 * w2 - n**2 * d * chi) - n * (n * w2 - d * chi)
    P += 8 * F + 4 * n**3 + 4 * n**2
    # Term 5: first layers of Horner stages 2..q-1.
    P += (q - 2) * (8 * n**3 * (2 * ip + n * w2) + 4 * n**3 + 4 * n**2)
    # Terms 6-7: layers 2..m of every product, and the output map.
    P += S * n**3 * iota2(m) - n * (iota2(m) - iota1(m)) + n**2 * (2 * (ip - 1) + n * w2) + n
    return _counts(S * m, 8 * n**3 + 2 * n**2 * (ip - 1 + int(q >= 3)), P)


def paterson_stockmeyer_exp_closed(n, K, p, m, q, kappa) -> Counts:
    """:func:`paterson_stockmeyer_exp` for 2 <= p <= K - 1 with the sums over l and t in closed
    form, so that every argument may be a symbol (q = ceil(K/p) and kappa = K - (q - 1) p are
    passed in, since ceil does not lambdify to integers). Used for vectorised grids.
    """
    S = p + q - 2
    w2, w1 = omega2(m), omega1(m)
    d = w2 - w1
    chi = iverson_eq(p, 2)
    has_l2 = iverson_ge(p, 3)  # the sums over l, t in 2..p-1 contain l = 2 iff p >= 3
    # sum_{l=2}^{p-1} (S - l + 1) = (p - 2)(S + 1) - ((p - 1) p / 2 - 1)
    sum_S_l = (p - 2) * (S + 1) - ((p - 1) * p / sp.Integer(2) - 1)
    P = 2 * n**2 * S * m
    P += 2 * (p - 2) * n**3 * w2 - 2 * n * d * has_l2 + 2 * n**2 * (m * sum_S_l - (p - 2))
    P += iverson_ge(q, 3) * (2 * (n**3 * w2 - n * d * chi) + 2 * n**2 * ((q - 2) * m - 1))
    P += 20 * (n**3 - n) + 6 * n
    P += (p - 2) * (20 * n**3 + 8 * n**4 * w2) - 8 * n**2 * d * has_l2
    kap_is_p = iverson_eq(kappa, p)
    min_kap = kappa - kap_is_p  # kappa in [1, p], so min(kappa, p - 1) = kappa - [kappa = p]
    F = (n**4 * w2 - n**2 * d * chi) + 2 * n**3 * min_kap
    F += kap_is_p * ((n**4 * w2 - n**2 * d * chi) - n * (n * w2 - d * chi))
    P += 8 * F + 4 * n**3 + 4 * n**2
    P += (q - 2) * (8 * n**3 * (2 * p + n * w2) + 4 * n**3 + 4 * n**2)
    P += S * n**3 * iota2(m) - n * (iota2(m) - iota1(m)) + n**2 * (2 * (p - 1) + n * w2) + n
    return _counts(S * m, 8 * n**3 + 2 * n**2 * (p - 1 + iverson_ge(q, 3)), sp.expand(P))
