"""Vectorised evaluation of the count formulas over numpy grids (sympy.lambdify, no point loop).

The symbolic formulas of :mod:`bounds.counts` are lambdified once (cached) to numpy functions of
(n, K, m, ...); ``evaluate_counts_grid`` broadcasts its inputs and evaluates every point at once.
Counts are computed in float64 by the lambdified code and returned as exact int64; values are
checked to be below 2^53, where float64 represents every integer exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import _symbols as S
from .counts import (
    horner_exp,
    horner_hidden,
    paterson_stockmeyer_exp_closed,
    square_first,
    square_first_from_taylor,
)
from .rules import ALL_METHODS, choose

__all__ = ["GridCounts", "GridChoice", "evaluate_counts_grid", "choose_grid"]

_EXACT_LIMIT = 2.0**53


@dataclass(frozen=True)
class GridCounts:
    """Depth, width and params (int64 arrays of the broadcast shape of the inputs)."""

    depth: np.ndarray
    width: np.ndarray
    params: np.ndarray


@dataclass(frozen=True)
class GridChoice:
    """Rule outputs over a grid of (n, eps, r), arrays of the broadcast shape.

    ``m`` has one more trailing axis: (m_0, m_1, ..., m_smax) for SS (zero-padded), (m,) for H
    and PS (0 where K <= 1); ``p`` is 0 except for PS. ``choices`` holds the per-point
    :class:`~bounds.Choice` objects (flattened, C order)."""

    n: np.ndarray
    eps: np.ndarray
    r: np.ndarray
    K: np.ndarray
    s: np.ndarray
    p: np.ndarray
    m: np.ndarray
    depth: np.ndarray
    width: np.ndarray
    params: np.ndarray
    certified_error: np.ndarray
    choices: tuple


def _to_int(x, shape) -> np.ndarray:
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
    if x.size and np.max(np.abs(x)) >= _EXACT_LIMIT:
        raise ValueError("a count exceeds 2^53 and cannot be evaluated exactly in float64")
    return np.rint(x).astype(np.int64)


@functools.cache
def _lambdified(name: str):
    """Numpy functions of the symbolic formulas, built once."""
    n, K, m = S.n, S.K, S.m
    if name == "horner":
        c = horner_exp(n, K, m)
        return sp.lambdify((n, K, m), [c.depth, c.width, c.params], "numpy")
    if name == "horner_hidden":
        return sp.lambdify((n, K, m), horner_hidden(n, K, m), "numpy")
    if name == "first_from_taylor":
        return sp.lambdify((n, m), square_first_from_taylor(n, 2, m), "numpy")
    if name == "first_from_affine":
        return sp.lambdify((n,), square_first_from_taylor(n, 1, 0), "numpy")
    if name == "square_first":
        return sp.lambdify((n, m), square_first(n, m), "numpy")
    if name == "square_stage":
        expr = (n**3 - n) * S.iota2(m) + n * S.iota1(m)
        return sp.lambdify((n, m), expr, "numpy")
    if name == "square_output":
        expr = n**3 * S.omega2(m) - n * (S.omega2(m) - S.omega1(m))
        return sp.lambdify((n, m), expr, "numpy")
    if name == "ps":
        c = paterson_stockmeyer_exp_closed(n, K, S.p, m, S.q, S.kappa)
        return sp.lambdify((n, K, S.p, m, S.q, S.kappa), [c.depth, c.width, c.params], "numpy")
    raise KeyError(name)


def _as_int_array(name: str, x, lowest: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array with entries >= {lowest}")
    if a.size and a.min() < lowest:
        raise ValueError(f"{name} must have entries >= {lowest}, got min {a.min()}")
    return a.astype(np.int64)


def _horner_grid(n, K, m) -> GridCounts:
    n, K, m = np.broadcast_arrays(n, K, m)
    if np.any((K >= 2) & (m < 1)):
        raise ValueError("m must be >= 1 wherever K >= 2")
    # The symbolic formula is the K >= 2 branch; K <= 1 is the affine map I + K A.
    safe_m = np.where(K >= 2, m, 1)  # (shape) any m >= 1 where the result is discarded
    depth, width, params = _lambdified("horner")(n, K, safe_m)
    affine = K <= 1
    depth = np.where(affine, 0, depth)
    width = np.where(affine, 0, width)
    params = np.where(affine, n + K * n**2, params)
    return GridCounts(*(_to_int(x, n.shape) for x in (depth, width, params)))


def _ss_grid(n, K, m0, msq) -> GridCounts:
    msq = _as_int_array("msq", msq, 0)
    if msq.ndim == 0:
        raise ValueError("msq must have a trailing axis of squaring depths (m_1, ..., m_smax)")
    if msq.shape[-1] == 0:
        shape = np.broadcast_shapes(np.shape(n), np.shape(K), np.shape(m0), msq.shape[:-1])
        return _horner_grid(*(np.broadcast_to(x, shape) for x in (n, K, m0)))
    active = msq > 0  # (..., smax)
    # Padding must be trailing: once a stage is absent, all later ones are.
    if np.any(active[..., 1:] & ~active[..., :-1]):
        raise ValueError("msq must list m_1..m_s first and pad with zeros after them")
    shape = np.broadcast_shapes(np.shape(n), np.shape(K), np.shape(m0), msq.shape[:-1])
    n, K, m0 = (np.broadcast_to(x, shape) for x in (n, K, m0))
    msq = np.broadcast_to(msq, (*shape, msq.shape[-1]))
    active = msq > 0
    s = active.sum(axis=-1)
    if np.any((s >= 1) & (K < 1)):
        raise ValueError("K >= 1 is required where s >= 1 (K = 0 would square a constant)")
    if np.any((K >= 2) & (m0 < 1)):
        raise ValueError("m0 must be >= 1 wherever K >= 2")
    h = _horner_grid(n, K, m0)
    m0_safe = np.where(K >= 2, m0, 1)
    n_b = n[..., None]  # (..., 1) against msq (..., smax)
    msq_safe = np.where(active, msq, 1)
    stage = np.where(active, _lambdified("square_stage")(n_b, msq_safe), 0).sum(axis=-1)
    # F_j for j >= 2 reads the output of squaring j - 1.
    later = active[..., 1:]
    firsts = np.where(later, _lambdified("square_first")(n_b, msq_safe[..., :-1]), 0)
    first_1 = np.where(
        K >= 2,
        _lambdified("first_from_taylor")(n, m0_safe),
        _lambdified("first_from_affine")(n),
    )
    last = np.take_along_axis(msq_safe, np.maximum(s - 1, 0)[..., None], axis=-1)[..., 0]
    output = _lambdified("square_output")(n, last)
    taylor = np.where(K >= 2, _lambdified("horner_hidden")(n, K, m0_safe), 0)
    params = taylor + first_1 + firsts.sum(axis=-1) + stage + output
    depth = np.where(K >= 2, (K - 1) * m0, 0) + msq.sum(axis=-1)
    width = np.maximum(8 * n**3 - 4 * n, np.where(K >= 2, 8 * n**3 + 2 * n**2 * (K >= 3), 0))
    ss = s >= 1
    return GridCounts(
        np.where(ss, _to_int(depth, shape), h.depth),
        np.where(ss, _to_int(width, shape), h.width),
        np.where(ss, _to_int(params, shape), h.params),
    )


def _ps_grid(n, K, m, p) -> GridCounts:
    n, K, m, p = np.broadcast_arrays(n, K, m, p)
    ps = p >= 2
    if np.any(ps & (p > K - 1)):
        raise ValueError("p must satisfy 1 <= p <= K - 1")
    h = _horner_grid(n, K, m)
    p_safe = np.where(ps, p, 2)
    K_safe = np.where(ps, K, 3)
    q = -(-K_safe // p_safe)
    kappa = K_safe - (q - 1) * p_safe
    m_safe = np.maximum(m, 1)
    depth, width, params = _lambdified("ps")(n, K_safe, p_safe, m_safe, q, kappa)
    return GridCounts(
        np.where(ps, _to_int(depth, n.shape), h.depth),
        np.where(ps, _to_int(width, n.shape), h.width),
        np.where(ps, _to_int(params, n.shape), h.params),
    )


def evaluate_counts_grid(method: str, n, K, m, *, msq=None, p=None) -> GridCounts:
    """Counts of many networks at once, from the lambdified formulas of :mod:`bounds.counts`.

    Arguments broadcast together (numpy rules). ``method``:

    * ``"horner"`` (THEORY.md section 5): degree ``K`` and ``m`` layers per product; K <= 1 is
      the affine map I + K A (m ignored there).
    * ``"scaling_squaring"`` (section 6): ``m`` is m_0 (ignored where K <= 1); ``msq`` has a
      trailing axis (m_1, ..., m_smax) padded with zeros after the last squaring, so that
      s = number of nonzero entries (s = 0 gives Method H). ``msq=None`` means s = 0.
    * ``"paterson_stockmeyer"`` (section 7): block size ``p`` (p = 1 gives Method H).

    Returns int64 arrays of the broadcast shape.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(map(repr, ALL_METHODS))}")
    n = _as_int_array("n", n, 1)
    K = _as_int_array("K", K, 0)
    m = _as_int_array("m", m, 0)
    if method == "horner":
        return _horner_grid(n, K, m)
    if method == "scaling_squaring":
        if msq is None:
            return _horner_grid(n, K, m)
        return _ss_grid(n, K, m, msq)
    if p is None:
        raise ValueError("method 'paterson_stockmeyer' needs the block sizes p")
    return _ps_grid(n, K, m, _as_int_array("p", p, 1))


def choose_grid(ns, epss, rs, method: str = "scaling_squaring", norm: str = "fro") -> GridChoice:
    """Run :func:`bounds.choose` at every point of the broadcast grid (ns, epss, rs) and
    evaluate the counts of all chosen networks with :func:`evaluate_counts_grid`.

    The rules loop over points (each is a 60-digit search); the counts come from the
    lambdified formulas. For a Cartesian grid pass ``np.meshgrid(..., indexing="ij")`` arrays
    or arrays shaped with ``np.ix_``.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(map(repr, ALL_METHODS))}")
    n_arr, eps_arr, r_arr = np.broadcast_arrays(np.asarray(ns), np.asarray(epss), np.asarray(rs))
    shape = n_arr.shape
    choices = tuple(
        choose(int(nv), float(ev), float(rv), method, norm)
        for nv, ev, rv in zip(n_arr.ravel(), eps_arr.ravel(), r_arr.ravel(), strict=True)
    )
    width_m = max([len(c.m) for c in choices] + [1])
    m = np.zeros((len(choices), width_m), dtype=np.int64)  # (points, stages)
    for i, c in enumerate(choices):
        m[i, : len(c.m)] = c.m
    K = np.array([c.K for c in choices], dtype=np.int64)
    s = np.array([c.s for c in choices], dtype=np.int64)
    p = np.array([c.p or 0 for c in choices], dtype=np.int64)
    n_flat = n_arr.ravel().astype(np.int64)
    if method == "scaling_squaring":
        counts = evaluate_counts_grid(method, n_flat, K, m[:, 0], msq=m[:, 1:])
    elif method == "paterson_stockmeyer":
        counts = evaluate_counts_grid(method, n_flat, K, m[:, 0], p=np.maximum(p, 1))
    else:
        counts = evaluate_counts_grid("horner", n_flat, K, m[:, 0])
    return GridChoice(
        n=n_arr.astype(np.int64),
        eps=eps_arr.astype(np.float64),
        r=r_arr.astype(np.float64),
        K=K.reshape(shape),
        s=s.reshape(shape),
        p=p.reshape(shape),
        m=m.reshape((*shape, width_m)),
        depth=counts.depth.reshape(shape),
        width=counts.width.reshape(shape),
        params=counts.params.reshape(shape),
        certified_error=np.array([c.certified_error for c in choices]).reshape(shape),
        choices=choices,
    )
