"""Certified ReLU networks for sin and sinh on ``||A||_2 <= r`` (docs/sin_network.md).

Scaling and double angles with a cos/cosh companion: B = A / 2^s (r_s = r 2^-s), C~ = Pi_sq(B)
(Lemma 3, squaring variant) and J stages of m_0 layers after it (sigma = -1 for sin, +1 for sinh):

* sine chain (Lemma T3): ``P_J = I, P_{k-1} = I + sigma C P_k / (2k(2k+1))``, so
  ``B P_0 = sum_{i<=J} sigma^i B^{2i+1}/(2i+1)!``; the network forms P~_{J-1} affinely, J - 1 Lemma 3
  products ``Pi(C~, P~_k)`` (ranges (gamma, mu'_k)) and the last product ``S~_0 = Pi(B, P~_0)``
  (ranges (r_s, mu'_0); B is carried through the squaring and stages 1..J-1);
* cosine chain (only if s >= 1; Lemma T1 with Horner degree J + 1): ``Q~_J = I + sigma C~/((2J+1)(2J+2))``
  and J products ``Pi(C~, Q~_k)`` in the same layers as the sine chain;
* double angles j = 1..s in the same layers (Lemma T4): ``S~_j = 2 Pi(S~_{j-1}, Y~_{j-1})`` and, for
  j < s, ``Y~_j = 2 Pi_sq(Y~_{j-1}) - I`` (Y~_0 = Q~_0); the output is S~_s.

Lemma T3, with theta = n^2 4^{-m_0-1}, x = r_s^2, e_C = theta x, gamma = x + e_C, c'_k = 2k(2k+1),
``rho'_k = sum_{i=0}^{J-k} x^i (2k+1)!/(2k+2i+1)!``: ``b'_{J-1} = e_C/c'_J``, ``mu'_k = rho'_k + b'_k``,
``b'_{k-1} = (x b'_k + e_C mu'_k + theta gamma mu'_k)/c'_k``, and
``d^S_0 = t r_s tau'_J + r_s b'_0 + theta r_s mu'_0`` (t = sqrt(n) Frobenius, 1 spectral;
``tau'_J = sum_{i>J} x^i/(2i+1)!``), ``nu^S_0 = min(r_s mu'_0 (1 + theta), sinh r_s + d^S_0)``.
Lemma T4 (sh_j = sinh(2^j r_s), ch_j = cosh(2^j r_s)): ``e^S_j = n^2 nu^S_{j-1} nu^Y_{j-1} 4^{-m_j-1}``,
``d^S_j = 2(nu^Y_{j-1} d^S_{j-1} + sh_{j-1} d^Y_{j-1}) + 2 e^S_j``,
``nu^S_j = min(2(nu^S_{j-1} nu^Y_{j-1} + e^S_j), sh_j + d^S_j)``; d^Y, nu^Y as in Lemma T2.

Rule N: for each s in 0..max(0, ceil(log2 r)) + 8, J = the least J >= 1 whose truncation alone
(all network errors zero) propagates to ``d^S_s <= eps/2``, then the least uniform m with
``d^S_s <= eps``; s minimises depth (ties: params, then s). Every range is rounded up to a float64
as soon as it is computed and the recursions go on with the rounded value (the network's weights
use exactly those floats), in mpmath at ``DPS`` digits.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath

from ._double_angle import DoubleAngleChoice, factorial_tail, least_J_then_m, search_double_angles
from ._symbols import as_int, iverson_ge, maximum
from .counts import Counts, _counts
from .rules import (
    DPS,
    NORMS,
    _ceil_float,
    _check_choice,
    _check_eps,
    _check_n,
    _check_r,
    _norm_factor,
)
from .stages import (
    carry_params,
    phi_carried,
    phi_input,
    phi_product,
    phi_square,
    product_first_layer,
    product_tail,
    square_first_layer,
    square_tail,
)

__all__ = ["SINE_FUNCTIONS", "SineChoice", "SineConstants", "sine_counts", "sine_constants", "choose_sine"]

#: The functions of this module and their sign sigma in both Horner recursions.
SINE_FUNCTIONS = {"sin": -1, "sinh": 1}
_J_MAX = 200
_M_MAX = 2000


@dataclass(frozen=True)
class SineConstants:
    """Lemmas T3-T4 (docs/sin_network.md), every range a float64 rounded up.

    ``gamma`` (range of C~), ``e_C``; ``mu_sin`` = {k: mu'_k} for k = 0..J-1 (range of P~_k;
    mu'_0 is the range of the last Taylor product Pi(B, P~_0)); ``mu_cos`` = {k: mu_k} for k = 1..J
    (range of Q~_k; empty if s = 0); ``MS``, ``MY`` = (M^S_j), (M^Y_j), j = 1..s (ranges of the
    double angle j); ``dS``, ``nuS`` = (d^S_0..d^S_s), (nu^S_0..nu^S_s); ``dY``, ``nuY`` for
    j = 0..s-1 (empty if s = 0). d^S_s is the certified error."""

    gamma: float
    e_C: float
    mu_sin: dict[int, float]
    mu_cos: dict[int, float]
    MS: tuple[float, ...]
    MY: tuple[float, ...]
    dS: tuple[float, ...]
    nuS: tuple[float, ...]
    dY: tuple[float, ...]
    nuY: tuple[float, ...]


@dataclass(frozen=True)
class SineChoice(DoubleAngleChoice):
    """A sin or sinh network chosen by Rule N (docs/sin_network.md).

    Guarantees ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= certified_error <= eps`` (f = sin or sinh)
    in the Frobenius or spectral norm, in exact arithmetic (Theorem N). ``J``: stages after the
    squaring (sine Taylor degree 2J + 1, cosine companion degree 2J + 2), ``s`` double angles,
    ``m = (m_0, m_1, ..., m_s)`` layers per Taylor product and per double angle; ``constants`` the
    :class:`SineConstants` used as weights.
    """

    constants: SineConstants

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened)."""
        c = self.constants
        return {
            **self._fields_dict(),
            "gamma": c.gamma,
            "e_C": c.e_C,
            "mu_sin": {str(k): v for k, v in c.mu_sin.items()},
            "mu_cos": {str(k): v for k, v in c.mu_cos.items()},
            "MS": list(c.MS),
            "MY": list(c.MY),
            "dS": list(c.dS),
            "nuS": list(c.nuS),
            "dY": list(c.dY),
            "nuY": list(c.nuY),
        }


# ------------------------------------------------------------------------------ counts


def sine_counts(n, J: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the sin/sinh network (docs/sin_network.md, "Counts"),
    ``m = (m_0, m_1, ..., m_s)``.

    Squaring of the input (B carried alongside through J m_0 layers); sine stages 1..J-1 read C~
    and P~ (stage 1: P~_{J-1} = I + sigma C~/(2J(2J+1)) shares the units of C~_ii in the blocks
    (i, i, i)), stage J reads the carried B and P~_0; if s >= 1 the cosine chain runs in the same
    stages (J products, C~ carried through stages 1..J-1), then double angle j has the product
    Pi(S~, Y~) and, for j < s, the squaring of Y~ (which carries the constant I). Output: the
    units of S~_s, no bias. Depth ``(J + 1) m_0 + sum_j m_j``; width ``8n^3 + 2n^2 + 2n^2 [J >= 3]``
    (s = 0, J >= 2), ``max(8n^3 + 2n^2 - 4n, 8n^3)`` (s = 0, J = 1), ``16n^3 + 4n^2 [J >= 2]`` (s >= 1).
    """
    if isinstance(J, bool) or not isinstance(J, numbers.Integral) or J < 1:
        raise ValueError(f"J (the Taylor stages after the squaring) must be an integer >= 1, got {J!r}")
    ms = [as_int(v) for v in m]
    if not ms or any(v is None or v < 1 for v in ms):
        raise ValueError(f"m must hold m_0, m_1..m_s, integers >= 1, got {tuple(m)!r}")
    m0, msq = ms[0], ms[1:]
    s = len(msq)
    chains = 2 if s >= 1 else 1  # sine chain, plus the cosine chain when there are double angles
    phi_c = phi_square(n, m0)
    # squaring of B; B carried through the squaring and the stages 1..J-1
    P = square_first_layer(n, phi_input(n), identity=False) + square_tail(n, m0)
    P += carry_params(n, phi_input(n), J * m0)
    # C-products: the sine chain has J - 1, the cosine chain J (its stage J reads C~ too)
    c_products = [J - 1] + ([J] if s >= 1 else [])
    for k in c_products:
        if k >= 1:
            P += product_first_layer(n, phi_c, phi_c, bias_blocks=n**2, shared_diagonal=phi_c[1])
            P += (k - 1) * product_first_layer(n, phi_carried(n), phi_product(n, m0), bias_blocks=n**2)
    carried_stages = max(c_products) - 1  # C~ carried through stages 1..(last stage reading it) - 1
    if carried_stages >= 1:
        P += carry_params(n, phi_c, carried_stages * m0)
    # last sine product Pi(B, P~_0); P~_0 = I + ... carries the constant I
    phi_p0 = phi_c if J == 1 else phi_product(n, m0)
    P += product_first_layer(n, phi_carried(n), phi_p0, bias_blocks=n**2)
    P += chains * J * product_tail(n, m0)
    phi_s = phi_y = phi_product(n, m0)
    for j, mj in enumerate(msq, start=1):
        P += product_first_layer(n, phi_s, phi_y, bias_blocks=n**2) + product_tail(n, mj)
        if j < s:
            P += square_first_layer(n, phi_y, identity=True) + square_tail(n, mj)
            phi_y = phi_square(n, mj)
        phi_s = phi_product(n, mj)
    P += phi_s[0]
    if s >= 1:
        width = 16 * n**3 + 4 * n**2 * iverson_ge(J, 2)
    elif J >= 2:
        width = 8 * n**3 + 2 * n**2 + 2 * n**2 * iverson_ge(J, 3)
    else:
        width = maximum(8 * n**3 + 2 * n**2 - 4 * n, 8 * n**3)
    return _counts((J + 1) * m0 + sum(msq), width, P)


# ---------------------------------------------------------------------------- constants


def _up(x):
    """x rounded up to a float64, as an mpf (the value the network's weights use)."""
    return mpmath.mpf(_ceil_float(x))


def _rho(x, K: int, k: int, a: int):
    """rho_k = sum_{i=0}^{K-k} x^i (2k+a)!/(2k+2i+a)! (a = 0: cosine chain, a = 1: sine chain)."""
    f = mpmath.factorial
    return mpmath.fsum(x**i * f(2 * k + a) / f(2 * k + 2 * i + a) for i in range(K - k + 1))


def _horner(x, K: int, a: int, e_C, theta, gamma):
    """The Horner recursion of Lemma T1 (a = 0, degree K in C) or T3 (a = 1): ranges mu_k (k = 1..K-1,
    rounded up) and b_0."""
    c = [None] + [(2 * k - 1 + a) * (2 * k + a) for k in range(1, K + 1)]
    b, mu = e_C / c[K], {}
    for k in range(K - 1, 0, -1):
        mu[k] = _up(_rho(x, K, k, a) + b)
        b = (x * b + e_C * mu[k] + theta * gamma * mu[k]) / c[k]
    return mu, b


def _doubling(n, rs, dS, nuS, dY, nuY, msq, with_network: bool = True):
    """Lemma T4 (and T2 for the cosine side): lists d^S, nu^S (j = 0..s), d^Y, nu^Y (j = 0..s-1),
    ranges MS, MY (j = 1..s), every nu rounded up. ``with_network=False``: all e = 0."""
    s = len(msq)
    dS, nuS, dY, nuY, MS, MY = [dS], [nuS], [dY], [nuY], [], []
    n2 = mpmath.mpf(n) ** 2
    for j, mj in enumerate(msq, start=1):
        h = rs * 2 ** (j - 1)
        sh_prev, ch_prev = mpmath.sinh(h), mpmath.cosh(h)
        Ms, My = nuS[-1], nuY[-1]
        MS.append(Ms)
        MY.append(My)
        q = mpmath.mpf(4) ** (-mj - 1) if with_network else 0
        eS = n2 * Ms * My * q
        d = 2 * (My * dS[-1] + sh_prev * dY[-1]) + 2 * eS
        dS.append(d)
        nuS.append(_up(min(2 * (Ms * My + eS), mpmath.sinh(2 * h) + d)))
        if j < s:
            eY = n2 * My**2 * q
            dy = 2 * (My + ch_prev) * dY[-1] + 2 * eY
            dY.append(dy)
            nuY.append(_up(min(2 * My**2 + 1 + 2 * eY, mpmath.cosh(2 * h) + dy)))
    return dS, nuS, dY[:s], nuY[:s], MS, MY


def _constants(n, rs, J, ms, t):
    """Lemmas T3-T4 in mpmath (ranges rounded up as they are used): the SineConstants fields."""
    x = rs**2
    theta = mpmath.mpf(n) ** 2 * mpmath.mpf(4) ** (-ms[0] - 1)
    e_C = theta * x
    gamma = _up(x + e_C)
    mu_sin, b_sin = _horner(x, J, 1, e_C, theta, gamma)
    mu_sin[0] = _up(_rho(x, J, 0, 1) + b_sin)
    dS0 = t * rs * factorial_tail(x, J, 1) + rs * b_sin + theta * rs * mu_sin[0]
    nuS0 = _up(min(rs * mu_sin[0] * (1 + theta), mpmath.sinh(rs) + dS0))
    mu_cos, dY0, nuY0 = {}, mpmath.mpf(0), mpmath.mpf(0)
    if len(ms) > 1:
        mu_cos, b_cos = _horner(x, J + 1, 0, e_C, theta, gamma)
        dY0 = t * factorial_tail(x, J + 1, 0) + b_cos
        nuY0 = _up(_rho(x, J + 1, 0, 0) + b_cos)
    dS, nuS, dY, nuY, MS, MY = _doubling(n, rs, dS0, nuS0, dY0, nuY0, ms[1:])
    return gamma, e_C, mu_sin, mu_cos, MS, MY, dS, nuS, dY, nuY


def _truncation_only(n, rs, J, s, t):
    """d^S_s of Lemma T4 with every network error zero (exact products): step 1 of Rule N."""
    x = rs**2
    dY0 = t * factorial_tail(x, J + 1, 0) if s else mpmath.mpf(0)
    nuY0 = _rho(x, J + 1, 0, 0) if s else mpmath.mpf(0)
    out = _doubling(n, rs, t * rs * factorial_tail(x, J, 1), rs * _rho(x, J, 0, 1), dY0, nuY0, [1] * s, False)
    return out[0][-1]


def _rounded(gamma, e_C, mu_sin, mu_cos, MS, MY, dS, nuS, dY, nuY) -> SineConstants:
    up = _ceil_float
    return SineConstants(
        gamma=up(gamma),
        e_C=up(e_C),
        mu_sin={k: up(v) for k, v in sorted(mu_sin.items())},
        mu_cos={k: up(v) for k, v in sorted(mu_cos.items())},
        MS=tuple(map(up, MS)),
        MY=tuple(map(up, MY)),
        dS=tuple(map(up, dS)),
        nuS=tuple(map(up, nuS)),
        dY=tuple(map(up, dY)),
        nuY=tuple(map(up, nuY)),
    )


def sine_constants(n: int, r: float, s: int, J: int, m: Sequence[int], norm: str = "fro") -> SineConstants:
    """Lemmas T3-T4 for given (s, J, m = (m_0..m_s)); every constant a float64 rounded up. The
    network built with these ranges satisfies ``||Phi(A) - f(A)|| <= dS[-1]`` on ``||A||_2 <= r``."""
    n, r = _check_n(n), _check_r(r)
    if isinstance(J, bool) or not isinstance(J, numbers.Integral) or J < 1:
        raise ValueError(f"J must be an integer >= 1, got {J!r}")
    if len(m) != s + 1:
        raise ValueError(f"m must hold s + 1 = {s + 1} integers (m_0, m_1..m_s), got {tuple(m)!r}")
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        rs = mpmath.mpf(r) / 2**s
        t = _norm_factor(n, norm)
        return _rounded(*_constants(n, rs, int(J), list(m), t))


# ------------------------------------------------------------------------------- rule


def _rule_s(n, eps, r, s, t):
    """(J, m) of Rule N at s, or None."""
    rs = r / 2**s
    return least_J_then_m(
        lambda J: _truncation_only(n, rs, J, s, t),
        lambda J, m: _constants(n, rs, J, [m] * (s + 1), t)[6][-1],
        eps,
        _J_MAX,
        _M_MAX,
    )


def choose_sine(function: str, n: int, eps: float, r: float, norm: str = "fro", *, s: int | None = None):
    """Rule N (docs/sin_network.md) for f = sin or sinh on ``{||A||_2 <= r}``.

    Guarantee: ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= certified_error <= eps`` (Lemmas T3-T4,
    Theorem N) for the network of the returned counts. ``s`` fixes the number of double angles.

    Raises:
        ValueError: unknown function, n not an integer >= 1, eps not in (0, 1), r not > 0,
            unknown norm, s not an integer >= 0, or no (J, m) within the search limits.
    """
    function = _check_choice("function", function, tuple(SINE_FUNCTIONS))
    n, eps, r = _check_n(n), _check_eps(eps), _check_r(r)
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        found = search_double_angles(
            "sin/sinh", n, eps, r, norm, s, _rule_s, sine_counts, f"J <= {_J_MAX}, m <= {_M_MAX}"
        )
        consts = _constants(n, found.r_s, found.J, list(found.m), found.t)
        return SineChoice(
            function=function,
            n=n,
            eps=eps,
            r=r,
            norm=norm,
            J=found.J,
            s=found.s,
            m=found.m,
            depth=found.counts.depth,
            width=found.counts.width,
            params=found.counts.params,
            certified_error=min(eps, _ceil_float(consts[6][-1])),
            r_s=_ceil_float(found.r_s),
            constants=_rounded(*consts),
        )
