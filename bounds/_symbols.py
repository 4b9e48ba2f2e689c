"""Symbols and Iverson-bracket helpers shared by the count formulas (THEORY.md section 9).

Every helper works on two kinds of input with one formula: Python integers (the result is a
Python integer, so counts of concrete networks are exact ints and cheap to evaluate) and sympy
expressions (the result is a ``Piecewise``, so the same formula is a symbolic expression that
can be simplified or lambdified over numpy grids).
"""

from __future__ import annotations

import numbers

import sympy as sp

__all__ = [
    "K",
    "kappa",
    "m",
    "m0",
    "ms",
    "n",
    "p",
    "q",
    "s",
    "as_int",
    "iverson_eq",
    "iverson_ge",
    "maximum",
    "omega1",
    "omega2",
    "iota1",
    "iota2",
]

n, m, K, s = sp.symbols("n m K s", integer=True, positive=True)
m0, ms = sp.symbols("m_0 m_s", integer=True, positive=True)
p, q, kappa = sp.symbols("p q kappa", integer=True, positive=True)


def as_int(x):
    """Return ``x`` as a Python int when it is an integer value (int, numpy or sympy integer).

    Returns ``None`` for symbolic expressions. ``bool`` is rejected (``True`` is not a size).
    """
    if isinstance(x, bool):
        raise ValueError(f"expected an integer or a sympy expression, got the bool {x!r}")
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, sp.Integer):
        return int(x)
    if isinstance(x, sp.Basic):
        return None
    raise ValueError(f"expected an integer or a sympy expression, got {x!r}")


def iverson_eq(a, b):
    """The Iverson bracket [a == b]: an int for integer inputs, a ``Piecewise`` otherwise."""
    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return int(ia == ib)
    return sp.Piecewise((1, sp.Eq(a, b)), (0, True))


def iverson_ge(a, b):
    """The Iverson bracket [a >= b]: an int for integer inputs, a ``Piecewise`` otherwise."""
    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return int(ia >= ib)
    return sp.Piecewise((1, sp.Ge(a, b)), (0, True))


def maximum(a, b):
    """max(a, b): a Python int for integer inputs, ``sympy.Max`` otherwise."""
    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return max(ia, ib)
    return sp.Max(a, b)


def omega2(m):
    """Units of the last hidden layer of a two-branch product block read by its output,
    omega_2(m) = 6 + 2[m = 1] (THEORY.md section 4, "summation is merged into the consumer")."""
    return 6 + 2 * iverson_eq(m, 1)


def omega1(m):
    """Units of the last hidden layer of a one-branch square block, omega_1(m) = 3 + [m = 1]."""
    return 3 + iverson_eq(m, 1)


def iota2(m):
    """Params of hidden layers 2..m of one two-branch block, iota_2(m) = (16m - 6)[m >= 2]
    (THEORY.md section 5: 13 per branch in layer 2, 8 per branch in each later layer)."""
    return (16 * m - 6) * (1 - iverson_eq(m, 1))


def iota1(m):
    """Params of hidden layers 2..m of one one-branch block, iota_1(m) = (8m - 3)[m >= 2]."""
    return (8 * m - 3) * (1 - iverson_eq(m, 1))
