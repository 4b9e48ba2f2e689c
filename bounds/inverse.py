"""Certified ReLU networks for the matrix inverse by the factored Neumann series.

Domain ``D(rho) = {A in R^{n x n}: ||I - A||_2 <= rho}``, ``0 <= rho < 1``. With ``X = I - A``,
``A^-1 = sum_i X^i = prod_{t >= 0} (I + X^(2^t))`` and the k-factor product

    P_k = (I + X)(I + X^2)(I + X^4) ... (I + X^(2^(k-1))) = sum_{i < 2^k} X^i

is also the k-th Newton-Schulz iterate ``X_{j+1} = X_j (2I - A X_j)`` from ``X_0 = I`` (Higham 2008,
*Functions of Matrices*, SIAM, section 7.3; Schulz 1933). docs/inverse_network.md derives, with
explicit constants:

* Lemma I1 (exact): ``||A^-1 - P_k||_2 <= rho^(2^k) / (1 - rho)``, attained at ``A = (1 - rho) I``.
* Lemma I2 (the network): stage s squares ``Z~_{s-1} -> Z~_s ~ X^(2^s)`` (Lemma 3, squaring variant)
  and, in parallel, multiplies ``P~_s = Pi(P~_{s-1}, I + Z~_{s-1})`` (Lemma 3); the errors obey
  ``delta_{t+1} = (2 zeta_t + delta_t) delta_t + e^sq_t`` and
  ``p_{t+1} = V_t p_t + pi_t delta_t + e^pr_t``.

The squaring and the product of a stage are independent, so a doubling of the degree costs one
product depth m; Newton-Schulz computes the same polynomial with its two products in sequence
(2m per doubling) and carries A and X_j besides. Every constant is decided in mpmath at ``DPS``
digits and returned rounded up to a float.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath

from ._iterative import IterationChoice, check_rho, least_steps, least_uniform_m
from ._symbols import as_int, iota1, iota2, maximum, omega1, omega2
from .counts import Counts, _counts, square_first, square_first_from_taylor
from .rules import DPS, NORMS, _ceil_float, _check_choice, _check_eps, _check_n, _norm_factor

__all__ = [
    "InverseChoice",
    "InverseConstants",
    "check_rho",
    "choose_inverse",
    "inverse_constants",
    "inverse_counts",
    "inverse_truncation_error",
]

_K_MAX = 60
_M_MAX = 2000


@dataclass(frozen=True)
class InverseConstants:
    """Lemmas I1-I2 for k factors with layers ``m = (m_1, ..., m_k)`` (stage s has m_s layers).

    Indexed by t = 0..k-1 (the quantities that stage t + 1 reads): ``zeta`` = rho^(2^t) >= ||X^(2^t)||_2;
    ``delta``: bounds on ||Z~_t - X^(2^t)||_F (delta_0 = 0); ``M``: entry ranges of Z~_t (the squaring
    of stage t + 1); ``U``, ``V``: entry ranges of P~_t and of I + Z~_t (the product of stage t + 1;
    index 0 unused); ``pi``: bounds on ||P_t||_2; ``p``: (p_1..p_k) bounds on ||P~_t - P_t||_F.
    """

    zeta: tuple[float, ...]
    delta: tuple[float, ...]
    M: tuple[float, ...]
    U: tuple[float, ...]
    V: tuple[float, ...]
    pi: tuple[float, ...]
    p: tuple[float, ...]


@dataclass(frozen=True)
class InverseChoice(IterationChoice):
    """An inverse network chosen by Rule I (docs/inverse_network.md).

    Guarantees ``sup_{||I - A||_2 <= rho} ||Phi(A) - A^-1|| <= certified_error <= eps`` in the
    Frobenius (``norm="fro"``) or spectral norm, in exact arithmetic.

    Fields: ``k`` factors of the Neumann product; ``m = (m_1, ..., m_k)`` layers per stage (Rule I
    uses one m; empty for k = 1, the affine map 2I - A); ``depth, width, params`` exact counts;
    ``iteration_error`` = t rho^(2^k) / (1 - rho) (t = sqrt(n) or 1), ``network_error`` = p_k.
    """

    constants: InverseConstants

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened into lists)."""
        c = self.constants
        return {
            "function": "inverse",
            "n": self.n,
            "eps": self.eps,
            "rho": self.rho,
            "norm": self.norm,
            "k": self.k,
            "m": list(self.m),
            "depth": self.depth,
            "width": self.width,
            "params": self.params,
            "certified_error": self.certified_error,
            "iteration_error": self.iteration_error,
            "network_error": self.network_error,
            "M": list(c.M),
            "U": list(c.U),
            "V": list(c.V),
            "delta": list(c.delta),
            "p": list(c.p),
        }


# ------------------------------------------------------------------------------ counts


def inverse_counts(n, k: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the factored-Neumann inverse network
    (docs/inverse_network.md, "Counts"); ``m = (m_1, ..., m_k)``; k = 1 is the affine map 2I - A.

    Stage 1: squaring of X = I - A (F_1 of THEORY.md section 6 with K = 1) and the carry of A
    (2n^2 per layer). Stage s = 2..k: the product P~_s = Pi(P~_{s-1}, I + Z~_{s-1}) with first layer
    ``8(2n^3 + n^4 w - n^2 D) + 4n^3 + 4(2n^2 - n)`` (s = 2, x from the carry) or
    ``8(2n^4 w - n^2 D) + 4n^3 + 4n^2`` (s >= 3), ``w = omega_2(m_{s-1})``, ``D = omega_2 - omega_1``;
    stages s = 2..k-1 also square Z~_{s-1} (``square_first(n, m_{s-1})``). Layers 2..m_s: ``n^3 iota_2``
    per product, ``(n^3 - n) iota_2 + n iota_1`` per squaring; output ``n^3 omega_2(m_k)``.
    Depth ``sum(m)``; width ``8n^3 + 2n^2 - 4n`` (k = 2, n >= 2), ``16n^3 - 4n`` (k >= 3), 8 (k = 2, n = 1).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k (factors of the Neumann product) must be an integer >= 1, got {k!r}")
    ms = [as_int(v) for v in m]
    if len(ms) != (k if k >= 2 else 0) or any(v is None or v < 1 for v in ms):
        raise ValueError(f"m must hold k = {k} integers >= 1 (m_1..m_k; none for k = 1), got {tuple(m)!r}")
    ni = as_int(n)
    if ni is not None and ni < 1:
        raise ValueError(f"n must be an integer >= 1, got {ni}")
    if k == 1:
        return _counts(0, 0, n**2 + n)
    P = square_first_from_taylor(n, 1, 1) + (n**3 - n) * iota2(ms[0]) + n * iota1(ms[0])
    P += 2 * n**2 * ms[0]  # carry of A through stage 1
    for s in range(2, k + 1):
        a, prev = ms[s - 1], ms[s - 2]
        w, d = omega2(prev), omega2(prev) - omega1(prev)
        if s == 2:
            P += 8 * (2 * n**3 + n**4 * w - n**2 * d) + 4 * n**3 + 4 * (2 * n**2 - n)
        else:
            P += 8 * (2 * n**4 * w - n**2 * d) + 4 * n**3 + 4 * n**2
        P += n**3 * iota2(a)
        if s <= k - 1:
            P += square_first(n, prev) + (n**3 - n) * iota2(a) + n * iota1(a)
    P += n**3 * omega2(ms[-1])
    if k == 2:
        width = maximum(8 * n**3 + 2 * n**2 - 4 * n, 8 * n**3)
    else:
        width = 16 * n**3 - 4 * n
    return _counts(sum(ms), width, P)


# ---------------------------------------------------------------------------- constants


def _truncation(rho, k: int):
    """Lemma I1: rho^(2^k) / (1 - rho) >= ||A^-1 - P_k||_2."""
    return rho ** (2**k) / (1 - rho)


def _network(n: int, rho, ms):
    """Lemma I2 in mpmath for k = len(ms) >= 2 stages: zeta, delta, M, U, V, pi, p.

    Stage s = t + 1 reads Z~_t and P~_t; its squaring gives Z~_{t+1} with
    delta_{t+1} = (2 zeta_t + delta_t) delta_t + n^2 M_t^2 4^(-m_s-1), M_t = zeta_t + delta_t;
    its product gives P~_{t+1} with p_{t+1} = V_t p_t + pi_t delta_t + n^2 U_t V_t 4^(-m_s-1),
    U_t = pi_t + p_t, V_t = 1 + zeta_t + delta_t (p_1 = 0: P~_1 = 2I - A exactly)."""
    k = len(ms)
    zeta = [rho ** (2**t) for t in range(k)]
    pi = [mpmath.mpf(0)] + [(1 - rho ** (2**t)) / (1 - rho) for t in range(1, k)]
    delta, M, U, V = [mpmath.mpf(0)], [], [mpmath.mpf(0)], [mpmath.mpf(0)]
    p = [mpmath.mpf(0), mpmath.mpf(0)]  # p[0] unused, p_1 = 0
    for t in range(k):
        theta = mpmath.ldexp(n * n, -2 * ms[t] - 2)  # n^2 4^(-m_{t+1}-1)
        M.append(zeta[t] + delta[t])
        if t >= 1:
            U.append(pi[t] + p[t])
            V.append(1 + zeta[t] + delta[t])
            p.append(V[t] * p[t] + pi[t] * delta[t] + theta * U[t] * V[t])
        if t <= k - 2:
            delta.append((2 * zeta[t] + delta[t]) * delta[t] + theta * M[t] ** 2)
    return zeta, delta, M, U, V, pi, p


def _constants(zeta, delta, M, U, V, pi, p) -> InverseConstants:
    up = lambda xs: tuple(_ceil_float(x) for x in xs)  # noqa: E731
    return InverseConstants(up(zeta), up(delta), up(M), up(U), up(V), up(pi), up(p[1:]))


def inverse_constants(n: int, rho: float, k: int, m: Sequence[int]) -> InverseConstants:
    """Lemma I2 (docs/inverse_network.md) for k >= 2 factors with layers m = (m_1..m_k) on
    ``||I - A||_2 <= rho``; floats rounded up."""
    n = _check_n(n)
    rho = check_rho(rho)
    inverse_counts(1, k, m)  # validates k and m
    if k < 2:
        raise ValueError("k = 1 is the affine map 2I - A; it has no network constants")
    with mpmath.workdps(DPS):
        return _constants(*_network(n, mpmath.mpf(rho), list(m)))


def inverse_truncation_error(rho: float, k: int) -> float:
    """rho^(2^k) / (1 - rho) >= sup_{||I - A||_2 <= rho} ||A^-1 - P_k||_2 (Lemma I1; attained at
    A = (1 - rho) I)."""
    rho = check_rho(rho)
    with mpmath.workdps(DPS):
        return _ceil_float(_truncation(mpmath.mpf(rho), int(k)))


# -------------------------------------------------------------------------------- rule


def choose_inverse(n: int, eps: float, rho: float, norm: str = "fro") -> InverseChoice:
    """Rule I (docs/inverse_network.md): the factored-Neumann network for A^-1 on ||I - A||_2 <= rho.

    1. k = min{k >= 1: t rho^(2^k) / (1 - rho) <= eps/2}, t = sqrt(n) (Frobenius) or 1 (spectral).
    2. One m for all k stages: the least m with p_k(m) <= eps - t rho^(2^k) / (1 - rho).

    Guarantee (Theorem I): ``sup_{||I - A||_2 <= rho} ||Phi(A) - A^-1|| <= certified_error <= eps``.

    Raises:
        ValueError: n not an integer >= 1, eps not in (0, 1), rho not in [0, 1), unknown norm.
    """
    n = _check_n(n)
    eps = _check_eps(eps)
    rho = check_rho(rho)
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        t, rm = _norm_factor(n, norm), mpmath.mpf(rho)
        k = least_steps(lambda k: t * _truncation(rm, k), 1, eps, _K_MAX)
        trunc = t * _truncation(rm, k)
        if k == 1:
            ms, net_err, consts = [], mpmath.mpf(0), InverseConstants((), (), (), (), (), (), ())
        else:
            m, raw = least_uniform_m(
                lambda m: _network(n, rm, [m] * k), lambda raw: trunc + raw[-1][-1], eps, _M_MAX
            )
            ms, net_err, consts = [m] * k, raw[-1][-1], _constants(*raw)
        counts = inverse_counts(n, k, ms)
        return InverseChoice(
            n=n,
            eps=eps,
            rho=rho,
            norm=norm,
            k=k,
            m=tuple(ms),
            depth=counts.depth,
            width=counts.width,
            params=counts.params,
            certified_error=min(eps, _ceil_float(trunc + net_err)),
            iteration_error=_ceil_float(trunc),
            network_error=_ceil_float(net_err),
            constants=consts,
        )
