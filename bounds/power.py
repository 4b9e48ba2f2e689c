"""Certified ReLU networks for the matrix power A^k (k >= 2) on ``||A||_2 <= r`` (docs/power_network.md).

Left-to-right binary powering: with k = (1 b_{T-1} ... b_0)_2, start from X_0 = A and for each bit
after the leading one square (``X <- X^2``) and, if the bit is 1, multiply by A (``X <- X A``).
Each operation is a Lemma 3 stage (squaring variant or product) of m hidden layers; A is carried
to the last multiplication. Lemma P1 (docs/power_network.md) bounds the network error:

* squaring stage t: ``d_{t+1} = (nu_t + r^{e_t}) d_t + e_t``, ``nu_{t+1} = min(nu_t^2 + e_t,
  r^{2 e_t} + d_{t+1})``, ``e_t = n^2 nu_t^2 4^{-m-1}`` (ranges ``(nu_t, nu_t)``);
* product stage t: ``d_{t+1} = r d_t + e_t``, ``nu_{t+1} = min(r nu_t + e_t, r^{e_t + 1} + d_{t+1})``,
  ``e_t = n^2 nu_t r 4^{-m-1}`` (ranges ``(nu_t, r)``);

from ``d_0 = 0``, ``nu_0 = r`` (e_t is the exponent of X_t). Rule P: the least uniform m with
``d_N <= eps``. Constants are decided in mpmath at ``DPS`` digits and rounded up to floats.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath

from ._symbols import as_int, maximum
from .counts import Counts, _counts
from .rules import DPS, NORMS, _ceil_float, _check_choice, _check_eps, _check_n, _check_r
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

__all__ = ["PowerChoice", "power_schedule", "power_counts", "power_constants", "choose_power"]

_M_MAX = 2000


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
        raise ValueError(f"k (the power) must be an integer >= 2, got {k!r}")
    return int(k)


def power_schedule(k: int) -> tuple[str, ...]:
    """The stages of left-to-right binary powering: "S" (square) and "M" (multiply by A).

    Example: k = 5 = 101_2 gives ("S", "S", "M"); k = 2^T gives T squarings."""
    k = _check_k(k)
    ops = []
    for bit in bin(k)[3:]:
        ops.append("S")
        if bit == "1":
            ops.append("M")
    return tuple(ops)


@dataclass(frozen=True)
class PowerChoice:
    """A power network chosen by Rule P (docs/power_network.md).

    Guarantees ``sup_{||A||_2 <= r} ||Phi(A) - A^k|| <= certified_error <= eps`` (Frobenius, hence
    also spectral), in exact arithmetic. Fields: ``ops`` the stages ("S"/"M"), ``m`` their layers;
    ``nu`` = (nu_0..nu_N) bounds on ``||X~_t||_2`` (stage t's range: ``(nu_t, nu_t)`` for "S",
    ``(nu_t, r)`` for "M"); ``d`` = (d_0..d_N) bounds on ``||X~_t - A^{e_t}||_F``.
    """

    n: int
    eps: float
    r: float
    k: int
    norm: str
    ops: tuple[str, ...]
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    nu: tuple[float, ...]
    d: tuple[float, ...]

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        return {
            "function": "pow",
            "n": self.n,
            "eps": self.eps,
            "radius": self.r,
            "k": self.k,
            "norm": self.norm,
            "ops": "".join(self.ops),
            "m": list(self.m),
            "depth": self.depth,
            "width": self.width,
            "params": self.params,
            "certified_error": self.certified_error,
            "nu": list(self.nu),
            "d": list(self.d),
        }


def power_counts(n, k: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the power network (docs/power_network.md, "Counts").

    Stage t reads X~_t: the input (Phi = n^2) for t = 0, else the output of stage t - 1. A is
    carried (2n^2 units per layer) through every layer before the last "M" stage, which reads it.
    Squaring stage: ``square_first_layer + square_tail``; "M" stage: ``8n(Phi(X~_t) + 2n^2) + 4n^3
    + n^3 iota_2(m_t)``; output ``Phi(X~_N)``. Depth ``sum(m)``; width ``max`` over stages of the
    first layer (``8n^3 - 4n`` or ``8n^3``) plus ``2n^2`` while A is carried.
    """
    ops = power_schedule(k)
    ms = [as_int(v) for v in m]
    if len(ms) != len(ops) or any(v is None or v < 1 for v in ms):
        raise ValueError(f"m must hold {len(ops)} integers >= 1 (one per stage), got {tuple(m)!r}")
    last_mul = max((t for t, op in enumerate(ops) if op == "M"), default=-1)
    carried_layers = sum(ms[:last_mul]) if last_mul >= 0 else 0
    P = carry_params(n, phi_input(n), carried_layers) if carried_layers else 0
    phi = phi_input(n)
    widths = []
    for t, (op, mt) in enumerate(zip(ops, ms, strict=True)):
        carry_units = 2 * n**2 if t < last_mul else 0
        if op == "S":
            P += square_first_layer(n, phi, identity=False) + square_tail(n, mt)
            widths.append(8 * n**3 - 4 * n + carry_units)
            phi = phi_square(n, mt)
        else:
            P += product_first_layer(n, phi, phi_carried(n)) + product_tail(n, mt)
            widths.append(8 * n**3 + carry_units)
            phi = phi_product(n, mt)
    P += phi[0]
    width = widths[0]
    for w in widths[1:]:
        width = maximum(width, w)
    return _counts(sum(ms), width, P)


def _recursion(n: int, r, ops, ms):
    """Lemma P1 in mpmath: nu_t, d_t for t = 0..N."""
    nu, d, e = [r], [mpmath.mpf(0)], 1
    for op, mt in zip(ops, ms, strict=True):
        q = mpmath.mpf(4) ** (-mt - 1) * n**2
        if op == "S":
            err = q * nu[-1] ** 2
            dn = (nu[-1] + r**e) * d[-1] + err
            nun = min(nu[-1] ** 2 + err, r ** (2 * e) + dn)
            e *= 2
        else:
            err = q * nu[-1] * r
            dn = r * d[-1] + err
            nun = min(r * nu[-1] + err, r ** (e + 1) + dn)
            e += 1
        d.append(dn)
        nu.append(nun)
    return nu, d


def power_constants(
    n: int, r: float, k: int, m: Sequence[int]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(nu, d) of Lemma P1 for the stage layers m, each rounded up to a float."""
    n, r, k = _check_n(n), _check_r(r), _check_k(k)
    ops = power_schedule(k)
    with mpmath.workdps(DPS):
        nu, d = _recursion(n, mpmath.mpf(r), ops, list(m))
        return tuple(map(_ceil_float, nu)), tuple(map(_ceil_float, d))


def choose_power(n: int, eps: float, r: float, k: int, norm: str = "fro") -> PowerChoice:
    """Rule P (docs/power_network.md): binary powering with the least uniform m with d_N <= eps.

    Guarantee: ``sup_{||A||_2 <= r} ||Phi(A) - A^k|| <= certified_error <= eps`` in the Frobenius
    norm (and so in the spectral norm: there is no truncation term). Raises ValueError on n not an
    integer >= 1, eps not in (0, 1), r not > 0, k not an integer >= 2, unknown norm.
    """
    n, eps, r, k = _check_n(n), _check_eps(eps), _check_r(r), _check_k(k)
    norm = _check_choice("norm", norm, NORMS)
    ops = power_schedule(k)
    with mpmath.workdps(DPS):
        rm, epsm = mpmath.mpf(r), mpmath.mpf(eps)
        m = 1
        while _recursion(n, rm, ops, [m] * len(ops))[1][-1] > epsm:
            m += 1
            if m > _M_MAX:
                raise ValueError(f"no m <= {_M_MAX} meets eps = {eps} (r^k too large)")
        ms = (m,) * len(ops)
        nu, d = _recursion(n, rm, ops, list(ms))
        c = power_counts(n, k, ms)
        return PowerChoice(
            n=n,
            eps=eps,
            r=r,
            k=k,
            norm=norm,
            ops=ops,
            m=ms,
            depth=c.depth,
            width=c.width,
            params=c.params,
            certified_error=min(eps, _ceil_float(d[-1])),
            nu=tuple(map(_ceil_float, nu)),
            d=tuple(map(_ceil_float, d)),
        )
