"""Certified ReLU networks for cos and cosh on ``||A||_2 <= r`` (docs/trig_network.md).

Scaling and double angles: B = A / 2^s (r_s = r 2^-s). The Taylor stage forms C~ = Pi_sq(B)
(Lemma 3, squaring variant) and the degree-J Horner recursion in C = B^2 (sigma = -1 for cos,
+1 for cosh):

    Q_J = I,   Q_{k-1} = I + sigma C Q_k / ((2k-1)(2k)),   Q_0 = sum_{i<=J} sigma^i B^{2i}/(2i)!,

with Q~_{J-1} = I + sigma C~/((2J-1)2J) affine and J - 1 Lemma 3 products (ranges (gamma, mu_k)).
Then s double-angle stages Y~_j = 2 Pi_sq(Y~_{j-1}) - I (cos 2X = 2 cos^2 X - I, cosh 2X =
2 cosh^2 X - I), range M_j = nu_{j-1}. Lemma T1 (Taylor stage) and Lemma T2 (double angles, the
analogue of THEORY.md Lemma 5) give, with theta = n^2 4^{-m_0-1}:

* ``e_C = theta r_s^2``, ``gamma = r_s^2 + e_C``; ``rho_k = sum_{i=0}^{J-k} r_s^{2i} (2k)!/(2k+2i)!``;
  ``b_{J-1} = e_C/((2J-1)2J)``, ``mu_k = rho_k + b_k``,
  ``b_{k-1} = (r_s^2 b_k + e_C mu_k + theta gamma mu_k)/((2k-1)2k)``;
* ``d_0 = t tau_J + b_0`` (t = sqrt(n) Frobenius, 1 spectral; ``tau_J = sum_{i>J} r_s^{2i}/(2i)!``),
  ``nu_0 = rho_0 + b_0``, ``c_j = cosh(2^j r_s)``, ``e_j = n^2 nu_{j-1}^2 4^{-m_j-1}``,
  ``d_j = 2(nu_{j-1} + c_{j-1}) d_{j-1} + 2 e_j``, ``nu_j = min(2 nu_{j-1}^2 + 1 + 2 e_j, c_j + d_j)``.

Rule T: for each s in 0..max(0, ceil(log2 r)) + 8, J = the least J >= 1 whose truncation alone
(all e = b = 0) propagates to ``d_s <= eps/2``, then the least uniform m (m_0 = m_1 = ... = m_s)
with ``d_s <= eps``; s minimises depth (ties: params, then s). Constants are decided in mpmath at
``DPS`` digits and rounded up to floats.
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

__all__ = ["TRIG_FUNCTIONS", "TrigChoice", "TrigConstants", "cos_counts", "cos_constants", "choose_trig"]

#: The functions of this module and their sign sigma in the Horner recursion.
TRIG_FUNCTIONS = {"cos": -1, "cosh": 1}
_J_MAX = 200
_M_MAX = 2000


@dataclass(frozen=True)
class TrigConstants:
    """Lemmas T1-T2: ``gamma`` (range of C~), ``e_C``, ``mu`` = {k: mu_k} (k = 1..J-1, range of
    Q~_k), ``b0``, ``truncation`` = t tau_J(r_s), ``M`` = (M_1..M_s), ``nu`` = (nu_0..nu_s),
    ``d`` = (d_0..d_s); d_s is the certified error."""

    gamma: float
    e_C: float
    mu: dict[int, float]
    b0: float
    truncation: float
    M: tuple[float, ...]
    nu: tuple[float, ...]
    d: tuple[float, ...]


@dataclass(frozen=True)
class TrigChoice(DoubleAngleChoice):
    """A cos or cosh network chosen by Rule T (docs/trig_network.md).

    Guarantees ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= certified_error <= eps`` (f = cos or cosh)
    in the Frobenius or spectral norm, in exact arithmetic. ``J`` Horner degree in B^2 (Taylor
    degree 2J), ``s`` double angles, ``m = (m_0, m_1, ..., m_s)`` layers per Taylor product and
    per double angle; ``constants`` the :class:`TrigConstants` used as weights.
    """

    constants: TrigConstants

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened)."""
        c = self.constants
        return {
            **self._fields_dict(),
            "gamma": c.gamma,
            "e_C": c.e_C,
            "mu": {str(k): v for k, v in c.mu.items()},
            "b0": c.b0,
            "truncation": c.truncation,
            "M": list(c.M),
            "nu": list(c.nu),
            "d": list(c.d),
        }


# ------------------------------------------------------------------------------ counts


def cos_counts(n, J: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the cos/cosh network (docs/trig_network.md, "Counts"),
    ``m = (m_0, m_1, ..., m_s)``.

    Stage 0 squares the input (``20(n^3 - n) + 6n`` first-layer params); Taylor stage t = 1 reads
    C~ and Q~_{J-1} = I + sigma C~/((2J-1)2J), which share the units of C~_ii in the blocks
    (i, i, i); stages t = 2..J-1 read the carried C~ (carried through stages 1..J-2); every
    Taylor product gets 4 more biases in the n^2 blocks l = j (the I of Q~). Double angle j squares
    Y~_{j-1}, which carries the constant I. Output: the units of Y~_s plus n biases.
    Depth ``J m_0 + sum_j m_j``; width ``8n^3 + 2n^2 [J >= 3]`` if J >= 2, else ``8n^3 - 4n``.
    """
    if isinstance(J, bool) or not isinstance(J, numbers.Integral) or J < 1:
        raise ValueError(f"J (the Horner degree in B^2) must be an integer >= 1, got {J!r}")
    ms = [as_int(v) for v in m]
    if not ms or any(v is None or v < 1 for v in ms):
        raise ValueError(f"m must hold m_0, m_1..m_s, integers >= 1, got {tuple(m)!r}")
    m0, msq = ms[0], ms[1:]
    P = square_first_layer(n, phi_input(n), identity=False) + square_tail(n, m0)
    phi_c = phi_square(n, m0)
    phi = phi_c
    width = 8 * n**3 - 4 * n
    if J >= 2:
        P += product_first_layer(n, phi_c, phi_c, bias_blocks=n**2, shared_diagonal=phi_c[1])
        P += (J - 1) * product_tail(n, m0)
        if J >= 3:
            P += carry_params(n, phi_c, (J - 2) * m0)
        P += (J - 2) * product_first_layer(n, phi_carried(n), phi_product(n, m0), bias_blocks=n**2)
        phi = phi_product(n, m0)
        width = 8 * n**3 + 2 * n**2 * iverson_ge(J, 3)
    for mj in msq:
        P += square_first_layer(n, phi, identity=True) + square_tail(n, mj)
        phi = phi_square(n, mj)
    P += phi[0] + n
    if msq:
        width = maximum(width, 8 * n**3 - 4 * n)
    return _counts(J * m0 + sum(msq), width, P)


# ---------------------------------------------------------------------------- constants


def _taylor(n: int, rs, J: int, m0: int):
    """Lemma T1 in mpmath: gamma, e_C, mu (dict), b0, rho_0, tau_J (without the factor t)."""
    x = rs**2
    theta = mpmath.mpf(n) ** 2 * mpmath.mpf(4) ** (-m0 - 1)
    e_C = theta * x
    gamma = x + e_C

    def rho(k):
        return mpmath.fsum(
            x**i * mpmath.factorial(2 * k) / mpmath.factorial(2 * k + 2 * i) for i in range(J - k + 1)
        )

    b = e_C / ((2 * J - 1) * (2 * J))
    mu = {}
    for k in range(J - 1, 0, -1):
        mu[k] = rho(k) + b
        b = (x * b + e_C * mu[k] + theta * gamma * mu[k]) / ((2 * k - 1) * (2 * k))
    return gamma, e_C, mu, b, rho(0), factorial_tail(x, J, 0)


def _doubling(n: int, rs, d0, nu0, msq, with_network: bool = True):
    """Lemma T2 in mpmath: M_j, nu_j, d_j for j = 0..s (``with_network=False``: all e_j = 0)."""
    nu, d, M = [nu0], [d0], []
    for j, mj in enumerate(msq, start=1):
        c_prev, c_j = mpmath.cosh(rs * 2 ** (j - 1)), mpmath.cosh(rs * 2**j)
        M.append(nu[-1])
        e = mpmath.mpf(n) ** 2 * nu[-1] ** 2 * mpmath.mpf(4) ** (-mj - 1) if with_network else 0
        dj = 2 * (nu[-1] + c_prev) * d[-1] + 2 * e
        nu.append(min(2 * nu[-1] ** 2 + 1 + 2 * e, c_j + dj))
        d.append(dj)
    return M, nu, d


def _constants(n, rs, J, ms, t):
    gamma, e_C, mu, b0, rho0, tau = _taylor(n, rs, J, ms[0])
    M, nu, d = _doubling(n, rs, t * tau + b0, rho0 + b0, ms[1:])
    return gamma, e_C, mu, b0, t * tau, M, nu, d


def cos_constants(n: int, r: float, s: int, J: int, m: Sequence[int], norm: str = "fro") -> TrigConstants:
    """Lemmas T1-T2 for given (s, J, m = (m_0..m_s)), every constant rounded up to a float."""
    n, r = _check_n(n), _check_r(r)
    if len(m) != s + 1:
        raise ValueError(f"m must hold s + 1 = {s + 1} integers (m_0, m_1..m_s), got {tuple(m)!r}")
    with mpmath.workdps(DPS):
        rs = mpmath.mpf(r) / 2**s
        t = _norm_factor(n, norm)
        return _rounded(*_constants(n, rs, J, list(m), t))


def _rounded(gamma, e_C, mu, b0, trunc, M, nu, d) -> TrigConstants:
    up = _ceil_float
    return TrigConstants(
        gamma=up(gamma),
        e_C=up(e_C),
        mu={k: up(v) for k, v in mu.items()},
        b0=up(b0),
        truncation=up(trunc),
        M=tuple(map(up, M)),
        nu=tuple(map(up, nu)),
        d=tuple(map(up, d)),
    )


# ------------------------------------------------------------------------------- rule


def _truncation_only(n, rs, J, s, t):
    """d_s of Lemma T2 with every network error zero (b_0 = e_j = 0): step 1 of Rule T."""
    x = rs**2
    rho0 = mpmath.fsum(x**i / mpmath.factorial(2 * i) for i in range(J + 1))
    return _doubling(n, rs, t * factorial_tail(x, J, 0), rho0, [1] * s, with_network=False)[2][-1]


def _rule_s(n, eps, r, s, t):
    """(J, m) of Rule T at s, or None."""
    rs = r / 2**s
    return least_J_then_m(
        lambda J: _truncation_only(n, rs, J, s, t),
        lambda J, m: _constants(n, rs, J, [m] * (s + 1), t)[-1][-1],
        eps,
        _J_MAX,
        _M_MAX,
    )


def choose_trig(function: str, n: int, eps: float, r: float, norm: str = "fro", *, s: int | None = None):
    """Rule T (docs/trig_network.md) for f = cos or cosh on ``{||A||_2 <= r}``.

    Guarantee: ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= certified_error <= eps`` (Lemmas T1-T2)
    for the network of the returned counts. ``s`` fixes the number of double angles.

    Raises:
        ValueError: unknown function, n not an integer >= 1, eps not in (0, 1), r not > 0,
            unknown norm, s not an integer >= 0.
    """
    function = _check_choice("function", function, tuple(TRIG_FUNCTIONS))
    n, eps, r = _check_n(n), _check_eps(eps), _check_r(r)
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        found = search_double_angles(
            "cos/cosh", n, eps, r, norm, s, _rule_s, cos_counts, f"J <= {_J_MAX}, m <= {_M_MAX}"
        )
        consts = _constants(n, found.r_s, found.J, list(found.m), found.t)
        return TrigChoice(
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
            certified_error=min(eps, _ceil_float(consts[-1][-1])),
            r_s=_ceil_float(found.r_s),
            constants=_rounded(*consts),
        )
