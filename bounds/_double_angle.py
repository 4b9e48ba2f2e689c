"""Pieces shared by the double-angle rules: Rule T (cos/cosh, ``bounds.trig``) and Rule N
(sin/sinh, ``bounds.sine``).

Both rules scale by 2^-s, take the least Horner degree J whose truncation alone meets eps/2, then the
least uniform m that meets eps, and pick s by (depth, params, s). The lemmas (the error recursions)
stay in their modules; this module holds the search around them and the even/odd Taylor tail.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import mpmath

from .counts import Counts
from .rules import DPS, MAX_RADIUS, MAX_SQUARINGS, _norm_factor

__all__ = [
    "DoubleAngleChoice",
    "DoubleAngleSearch",
    "factorial_tail",
    "least_J_then_m",
    "search_double_angles",
]


def factorial_tail(x, K: int, a: int):
    """sum_{i>K} x^i/(2i+a)! (a = 0: cosine series in x = r_s^2, a = 1: sine series), summed until the
    term is below 10^-(DPS+5) of the sum, plus a geometric bound on the rest (consecutive terms have
    ratio x/((2i+1+a)(2i+2+a)) < 1/2 there)."""
    i, term, total = K + 1, x ** (K + 1) / mpmath.factorial(2 * K + 2 + a), mpmath.mpf(0)
    while True:
        total += term
        ratio = x / ((2 * i + 1 + a) * (2 * i + 2 + a))
        term *= ratio
        i += 1
        if ratio < 0.5 and term < total * mpmath.mpf(10) ** (-DPS - 5):
            return total + 2 * term  # term + term ratio + ... <= 2 term


def least_J_then_m(truncation: Callable, error: Callable, eps, j_max: int, m_max: int):
    """(J, m) with J the least J >= 1 with ``truncation(J) <= eps/2``, then m the least m >= 1 with
    ``error(J, m) <= eps``; None when J would exceed ``j_max`` or m ``m_max``."""
    J = 1
    while truncation(J) > eps / 2:
        J += 1
        if J > j_max:
            return None
    m = 1
    while error(J, m) > eps:
        m += 1
        if m > m_max:
            return None
    return J, m


@dataclass(frozen=True)
class DoubleAngleChoice:
    """The fields of a double-angle rule's choice (cos/cosh ``TrigChoice``, sin/sinh ``SineChoice``):
    ``J`` Horner stages, ``s`` double angles, ``m = (m_0, m_1, ..., m_s)``, exact ``depth, width,
    params``, ``certified_error`` and ``r_s = r / 2^s``. Subclasses add ``constants``."""

    function: str
    n: int
    eps: float
    r: float
    norm: str
    J: int
    s: int
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    r_s: float

    def _fields_dict(self) -> dict:
        """JSON-ready dict of the shared fields (r as "radius"); ``to_dict`` adds the constants."""
        return {
            "function": self.function,
            "n": self.n,
            "eps": self.eps,
            "radius": self.r,
            "norm": self.norm,
            "J": self.J,
            "s": self.s,
            "m": list(self.m),
            "depth": self.depth,
            "width": self.width,
            "params": self.params,
            "certified_error": self.certified_error,
            "r_s": self.r_s,
        }


@dataclass(frozen=True)
class DoubleAngleSearch:
    """The (s, J, m) a double-angle rule picked: ``m = (m,) * (s + 1)``, ``counts`` of that network,
    ``r_s = r / 2^s`` and the norm factor ``t`` (both mpf at ``DPS`` digits)."""

    s: int
    J: int
    m: tuple[int, ...]
    counts: Counts
    r_s: object
    t: object


def _check_double_angle_domain(functions: str, r: float, s) -> None:
    """ValueError when r exceeds MAX_RADIUS or s (if given) is not an integer in [0, MAX_SQUARINGS]."""
    if r > MAX_RADIUS:
        # The bounds grow like cosh(r) ~ e^r / 2, as exp's do: beyond MAX_RADIUS no float64
        # network resolves any eps < 1, and the search would run for minutes.
        raise ValueError(
            f"r = {r!r} exceeds MAX_RADIUS = {MAX_RADIUS:g}, the largest radius for which the "
            f"{functions} rules are evaluated (their error constants grow like e^r, as exp's)"
        )
    if s is not None and (
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= MAX_SQUARINGS
    ):
        raise ValueError(
            f"s (the number of double angles) must be an integer in [0, {MAX_SQUARINGS}], got {s!r}"
        )


def search_double_angles(
    functions: str,
    n: int,
    eps: float,
    r: float,
    norm: str,
    s: int | None,
    rule_s: Callable,
    counts: Callable,
    limits: str,
) -> DoubleAngleSearch:
    """The double-angle search of Rules T and N on checked n, eps, r, norm.

    Refuses r > MAX_RADIUS and s outside [0, MAX_SQUARINGS] (``functions`` names the rules in the
    message, e.g. "cos/cosh"); then for each s in ``[s]`` or 0..max(0, ceil(log2 r)) + 8,
    ``rule_s(n, eps, r, s, t)`` (mpf arguments) gives (J, m) or None and ``counts(n, J, [m] * (s + 1))``
    the network's counts; the least (depth, params, s) wins. ValueError naming ``limits`` when no s
    gives a network.
    """
    _check_double_angle_domain(functions, r, s)
    s_range = [int(s)] if s is not None else range(max(0, math.ceil(math.log2(r))) + 9)
    best = None
    with mpmath.workdps(DPS):
        t = _norm_factor(n, norm)
        for sv in s_range:
            found = rule_s(n, mpmath.mpf(eps), mpmath.mpf(r), sv, t)
            if found is None:
                continue
            J, m = found
            c = counts(n, J, [m] * (sv + 1))
            key = (c.depth, c.params, sv)
            if best is None or key < best[0]:
                best = (key, sv, J, m, c)
        if best is None:
            raise ValueError(f"no s, {limits} meets eps = {eps} at r = {r}")
        _, sv, J, m, c = best
        return DoubleAngleSearch(s=sv, J=J, m=(m,) * (sv + 1), counts=c, r_s=mpmath.mpf(r) / 2**sv, t=t)
