"""Pieces shared by the rules of the iteration networks on a ball around I: Rule I (inverse,
``bounds.inverse``), Rule Q (sqrt, ``bounds.sqrt``), Rule S (sign, ``bounds.sign``) and Rule L
(log, ``bounds.log``).

Each rule takes the least number of steps whose iteration (or truncation) error alone meets eps/2,
then the least uniform m whose network error fills the rest of eps. The lemmas stay in their modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath

from .rules import _check_real

__all__ = ["IterationChoice", "check_rho", "least_steps", "least_uniform_m"]


def check_rho(rho, what: str = "||I - A||_2") -> float:
    """rho as a float in [0, 1), or ValueError naming the domain bound ``what``."""
    rho = _check_real("rho", rho)
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho (the bound on {what}) must lie in [0, 1), got {rho!r}")
    return rho


def least_steps(iteration_error: Callable, first: int, eps: float, k_max: int) -> int:
    """The least k >= ``first`` with ``iteration_error(k) <= eps/2`` (compared in mpmath: call it in
    ``mpmath.workdps(DPS)``); ValueError when k would exceed ``k_max``."""
    k, half = first, mpmath.mpf(eps) / 2
    while iteration_error(k) > half:
        k += 1
        if k > k_max:
            raise ValueError(f"no k <= {k_max} reaches eps = {eps} (rho too close to 1)")
    return k


def least_uniform_m(network: Callable, total_error: Callable, eps: float, m_max: int):
    """(m, raw) for the least m >= 1 with ``total_error(raw) <= eps``, ``raw = network(m)`` (the
    recursions at that m, kept for the constants); ValueError when m would exceed ``m_max``."""
    epsm, m = mpmath.mpf(eps), 1
    while True:
        raw = network(m)
        if total_error(raw) <= epsm:
            return m, raw
        m += 1
        if m > m_max:
            raise ValueError(f"no m <= {m_max} meets eps = {eps}")


@dataclass(frozen=True)
class IterationChoice:
    """The fields of an iteration network's choice on ``||I - A||_2 <= rho`` (inverse, sqrt): ``k``
    steps, ``m`` layers per stage, exact ``depth, width, params``, ``certified_error`` =
    ``iteration_error`` + ``network_error`` (capped at eps). Subclasses add ``constants``."""

    n: int
    eps: float
    rho: float
    norm: str
    k: int
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    iteration_error: float
    network_error: float
