"""Rules H and SS over whole numpy grids of (n, eps, r), vectorised in float64 with a safety margin.

Every decision of a rule is an inequality ``lhs <= rhs`` between positive quantities that float64
evaluates to a relative accuracy far better than 1e-12 here (sums of positive terms, products
of a few exponentials; at most a few thousand roundings). A decision is taken in float64 only
when ``lhs`` and ``rhs`` differ by more than the relative margin ``MARGIN = 1e-9``; a point where
any decision (at any s) falls inside the margin, or where a quantity leaves the safe float range,
is decided again by :func:`bounds.choose` in 60-digit mpmath. So the integers (K, s, m) are those
of :func:`bounds.choose` at every point (THEORY.md section 9 allows a documented margin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import evaluate_counts_grid
from .rules import _check_choice, _check_eps, _check_n, _check_r, choose

__all__ = ["MARGIN", "RuleGrid", "rule_grid"]

MARGIN = 1e-9
# Below this, tails and budgets approach the float64 underflow range: decide in mpmath.
_TINY = 1e-250
_J_CAP = 1500  # largest Taylor index handled in float64 (K beyond it: mpmath)
_CHUNK = 8192


@dataclass(frozen=True)
class RuleGrid:
    """Rule outputs over a grid (arrays of the broadcast shape of n, eps, r).

    ``m`` has a trailing axis (m_0, m_1, ..., m_smax), zero-padded (H: (m,), 0 when K <= 1).
    ``certified_error`` is the float64 value of d_s (Lemma 5; b_0 + truncation for H) times
    1 + 1e-12, so still an upper bound, capped at eps; ``choose`` returns the exact ceiling.
    ``n_fallback`` is how many points were decided in mpmath.
    """

    method: str
    n: np.ndarray
    eps: np.ndarray
    r: np.ndarray
    K: np.ndarray
    s: np.ndarray
    m: np.ndarray
    depth: np.ndarray
    width: np.ndarray
    params: np.ndarray
    certified_error: np.ndarray
    n_fallback: int


def _close(lhs, rhs):
    """True where lhs <= rhs cannot be decided safely in float64."""
    with np.errstate(invalid="ignore"):
        return ~(np.abs(lhs - rhs) > MARGIN * np.abs(rhs))


def _b0(theta, S, K):
    """b_0 = theta sum_{k=1}^{K-1} (1+theta)^{k-1} S_k (Lemma 4), rows = points.

    theta (P,), S (P, J) with S[:, k] = sum_{i=k}^{K} t_i, K (P,)."""
    P, J = S.shape
    factors = np.empty((P, J))  # (P, J); cumprod gives (1+theta)^max(k-1, 0)
    factors[:, :2] = 1.0
    factors[:, 2:] = (1.0 + theta)[:, None]
    powers = np.cumprod(factors, axis=1)
    k = np.arange(J)[None, :]
    mask = (k >= 1) & (k <= K[:, None] - 1)
    return theta * np.einsum("pj,pj->p", np.where(mask, powers, 0.0), S)


def _rule_ss_vec(n, eps, r, s, root_n):
    """Rule SS(s) (s = 0: Rule H) at P points; returns a dict of arrays and a 'bad' mask."""
    P = n.shape[0]
    bad = np.zeros(P, dtype=bool)
    rs = np.ldexp(r, -s)
    with np.errstate(over="ignore"):
        c = np.exp(rs[:, None] * 2.0 ** np.arange(s + 1)[None, :])  # (P, s+1): c_0..c_s
    G = np.ones((P, s + 1))
    for j in range(s - 1, -1, -1):
        G[:, j] = G[:, j + 1] * (2 * c[:, j] + eps)
    bad |= ~np.isfinite(G[:, 0]) | ~np.isfinite(c[:, -1])
    G0 = np.where(bad, 1.0, G[:, 0])
    rhs_K = eps / (s + 2)
    # Terms t_j = rs^j / j! until every point's terms are 1e-13 below its threshold: the
    # neglected tail (bounded and added below) then moves no decision by more than 1e-13.
    target = rhs_K / (G0 * root_n) * 1e-13
    cols = [np.ones(P)]
    j = 0
    while True:
        j += 1
        cols.append(cols[-1] * rs / j)
        if j > 2 * rs.max() + 2 and np.all((cols[-1] <= target) | bad):
            break
        if j >= _J_CAP:
            bad |= cols[-1] > target
            break
    t = np.stack(cols, axis=1)  # (P, J+1)
    J = t.shape[1] - 1
    ratio = rs / (J + 1)
    bad |= ratio >= 0.5  # the geometric tail bound below needs ratio < 1/2
    remainder = np.where(ratio < 1, t[:, J] * ratio / (1 - np.minimum(ratio, 0.5)), np.inf)
    suffix = np.cumsum(t[:, ::-1], axis=1)[:, ::-1]  # suffix[:, k] = sum_{j=k}^{J} t_j
    tau = np.concatenate([suffix[:, 1:], np.zeros((P, 1))], axis=1) + remainder[:, None]
    lhs = G0[:, None] * root_n[:, None] * tau  # (P, J+1): K = 0..J
    K_min = 1 if s >= 1 else 0
    ok = lhs <= rhs_K[:, None]
    ok[:, :K_min] = False
    found = ok.any(axis=1)
    bad |= ~found
    K = np.where(found, ok.argmax(axis=1), K_min)
    rows = np.arange(P)
    bad |= _close(lhs[rows, K], rhs_K)
    prev = np.maximum(K - 1, 0)
    bad |= (K > K_min) & _close(lhs[rows, prev], rhs_K)
    trunc = root_n * tau[rows, K]
    beta = (eps - G0 * trunc) / (s + 1)
    # m_0: least m with G_0 b_0(K, m) <= beta (Lemma 4 closed form).
    idx = np.arange(J + 1)[None, :]
    t_le_K = np.where(idx <= K[:, None], t, 0.0)
    S = np.cumsum(t_le_K[:, ::-1], axis=1)[:, ::-1]  # S[:, k] = sum_{i=k}^{K} t_i
    taylor = S[:, 0]
    m0 = np.zeros(P, dtype=np.int64)
    b0 = np.zeros(P)
    need = (K >= 2) & ~bad
    if need.any():
        sel = np.flatnonzero(need)
        S_sel, K_sel = S[sel], K[sel]
        B = np.where((idx >= 1) & (idx <= K_sel[:, None] - 1), S_sel, 0.0).sum(axis=1)
        budget = beta[sel] / G0[sel]
        n2 = n[sel].astype(np.float64) ** 2
        # b_0(K, m) >= theta_m B, so no m below m_a qualifies; the 1e-6 slack makes
        # theta_{m_a - 1} B > budget (1 + 1e-6) robustly (float log errors are ~1e-15).
        x = np.log(n2 * B / budget) / np.log(4.0) - 1.0
        m_try = np.maximum(1, np.ceil(x - 1e-6).astype(np.int64))
        chosen = np.zeros(sel.size, dtype=np.int64)
        b0_sel = np.zeros(sel.size)
        sub_bad = np.zeros(sel.size, dtype=bool)
        todo = np.arange(sel.size)
        for _ in range(4):  # b_0 <= theta (1+theta)^(K-2) B: m_a or one or two more
            if todo.size == 0:
                break
            val = _b0(np.ldexp(n2[todo], -2 * m_try[todo] - 2), S_sel[todo], K_sel[todo])
            cond = val <= budget[todo]
            sub_bad[todo] |= _close(val, budget[todo])
            done = todo[cond]
            chosen[done] = m_try[done]
            b0_sel[done] = val[cond]
            todo = todo[~cond]
            m_try[todo] += 1
        sub_bad[todo] = True
        m0[sel] = chosen
        bad[sel] |= sub_bad
        b0[sel] = b0_sel
    nu = taylor + b0
    d = trunc + b0
    msq = np.zeros((P, s), dtype=np.int64)
    for jj in range(1, s + 1):
        M2n2 = n.astype(np.float64) ** 2 * nu**2
        base = G[:, jj] * M2n2
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(base / beta) / np.log(4.0) - 1.0
        mj = np.maximum(1, np.ceil(np.nan_to_num(x, nan=1.0, posinf=1.0)).astype(np.int64))
        for _ in range(2):  # correct a float-rounded estimate by one step either way
            too_small = np.ldexp(base, -2 * mj - 2) > beta
            mj = np.where(too_small, mj + 1, mj)
        lower = np.maximum(mj - 1, 1)
        too_big = (mj > 1) & (np.ldexp(base, -2 * lower - 2) <= beta)
        bad |= too_big | (np.ldexp(base, -2 * mj - 2) > beta)
        bad |= _close(np.ldexp(base, -2 * mj - 2), beta)
        bad |= (mj > 1) & _close(np.ldexp(base, -2 * lower - 2), beta)
        e = np.ldexp(M2n2, -2 * mj - 2)
        d = (nu + c[:, jj - 1]) * d + e
        nu = np.minimum(nu**2 + e, c[:, jj] + d)
        msq[:, jj - 1] = mj
    bad |= ~(d <= eps) | (eps < _TINY) | (beta < _TINY) | ~np.isfinite(d)
    depth = np.where(K >= 2, (K - 1) * m0, 0) + msq.sum(axis=1)
    return dict(K=K, m0=m0, msq=msq, d=d, depth=depth, bad=bad)


def _decide(n, eps, r, s_max, root_n):
    """Rule SS(s) for s = 0..s_max at each point, s* of least depth (ties: params, then s).

    Returns K, s*, m (points, 1 + s*max) zero-padded, d_{s*} (rounded up by 1e-12 relative,
    capped at eps) and the mask of points that must be decided in mpmath."""
    P = n.size
    per_s = []
    bad = np.zeros(P, dtype=bool)
    best = np.full(P, np.iinfo(np.int64).max)
    big = np.iinfo(np.int64).max
    for s in range(int(s_max.max(initial=0)) + 1):
        active = s <= s_max
        if s >= 1:
            # m_j needs G_j n^2 M_j^2 4^(-m-1) <= beta <= eps/(s+1), with M_j >= 1 and
            # G_j >= 2^(s-j) (c >= 1); so depth(s) >= sum_j m_low(j). Skip s where that
            # lower bound already exceeds the best depth found at smaller s.
            base = (np.log(n.astype(np.float64) ** 2 * (s + 1)) - np.log(eps)) / np.log(4.0) - 1.0
            low = sum(np.maximum(1, np.ceil(base + (s - j) / 2.0 - 1e-6)) for j in range(1, s + 1))
            active &= low <= best
        rows = np.flatnonzero(active)
        res = dict(
            K=np.zeros(P, dtype=np.int64),
            m0=np.zeros(P, dtype=np.int64),
            msq=np.zeros((P, s), dtype=np.int64),
            d=np.zeros(P),
            depth=np.full(P, big),
        )
        if rows.size:
            # Overflow/NaN at hopeless points is expected; they are flagged and decided again.
            with np.errstate(all="ignore"):
                sub = _rule_ss_vec(n[rows], eps[rows], r[rows], s, root_n[rows])
            for key in ("K", "m0", "msq", "d", "depth"):
                res[key][rows] = sub[key]
            bad[rows] |= sub["bad"]
            best = np.minimum(best, res["depth"])
        per_s.append(res)
    depths = np.stack([res["depth"] for res in per_s], axis=1)  # (P, S)
    best_depth = depths.min(axis=1)
    tie = depths == best_depth[:, None]  # (P, S)
    # Ties in depth are broken by params (then s): evaluate params only for tied candidates.
    params_s = np.full(depths.shape, np.iinfo(np.int64).max)
    multi = tie.sum(axis=1) > 1
    for s, res in enumerate(per_s):
        rows = np.flatnonzero(tie[:, s] & multi & ~bad)
        if rows.size:
            params_s[rows, s] = evaluate_counts_grid(
                "scaling_squaring", n[rows], res["K"][rows], res["m0"][rows], msq=res["msq"][rows]
            ).params
    key_params = np.where(tie, params_s, np.iinfo(np.int64).max)
    s_star = np.where(multi, key_params.argmin(axis=1), tie.argmax(axis=1))
    K = np.zeros(P, dtype=np.int64)
    m = np.zeros((P, int(s_star.max(initial=0)) + 1), dtype=np.int64)  # (points, 1 + s*max)
    cert = np.zeros(P)
    for s, res in enumerate(per_s):
        rows = np.flatnonzero(s_star == s)
        if rows.size == 0:
            continue
        K[rows] = res["K"][rows]
        m[rows, 0] = res["m0"][rows]
        m[rows, 1 : s + 1] = res["msq"][rows]
        cert[rows] = res["d"][rows]
    with np.errstate(all="ignore"):
        cert = np.minimum(eps, cert * (1 + 1e-12))
    return K, s_star, m, cert, bad


def rule_grid(ns, epss, rs, method: str = "scaling_squaring", norm: str = "fro") -> RuleGrid:
    """Rule H or SS (THEORY.md sections 5-6; s* of least depth, ties by params then s) at every
    point of the broadcast grid (ns, epss, rs), vectorised; counts from the lambdified formulas.

    Returns the same K, s, m, depth, width and params as :func:`bounds.choose` at every point
    (decisions within the relative margin ``MARGIN`` are made by ``choose`` itself).
    """
    method = _check_choice("method", method, ("horner", "scaling_squaring"))
    norm = _check_choice("norm", norm, ("fro", "2"))
    n_arr, eps_arr, r_arr = np.broadcast_arrays(np.asarray(ns), np.asarray(epss), np.asarray(rs))
    shape = n_arr.shape
    if n_arr.dtype == bool or not np.issubdtype(n_arr.dtype, np.integer):
        raise ValueError("n must be an integer array with entries >= 1")
    n = n_arr.ravel().astype(np.int64)
    eps = eps_arr.ravel().astype(np.float64)
    r = r_arr.ravel().astype(np.float64)
    if n.size and n.min() < 1:
        _check_n(int(n.min()))
    if not np.all((eps > 0) & (eps < 1)):
        _check_eps(float(eps[~((eps > 0) & (eps < 1))][0]))
    if not np.all(np.isfinite(r) & (r > 0)):
        _check_r(float(r[~(np.isfinite(r) & (r > 0))][0]))
    P = n.size
    root_n = np.sqrt(n) if norm == "fro" else np.ones(P)
    if method == "horner":
        s_max = np.zeros(P, dtype=np.int64)
    else:
        frac, ex = np.frexp(r)
        s_max = np.maximum(0, np.where(frac == 0.5, ex - 1, ex)) + 12
    K = np.zeros(P, dtype=np.int64)
    s_star = np.zeros(P, dtype=np.int64)
    cert = np.zeros(P)
    bad = np.zeros(P, dtype=bool)
    m_parts = []
    # Chunks keep the (points, Taylor terms) arrays in cache, and sorting by (r, eps) makes
    # each chunk need about the same number of Taylor terms; results do not depend on either.
    order = np.lexsort((eps, r))
    for lo in range(0, P, _CHUNK):
        sl = order[lo : lo + _CHUNK]
        K[sl], s_star[sl], m_part, cert[sl], bad[sl] = _decide(n[sl], eps[sl], r[sl], s_max[sl], root_n[sl])
        m_parts.append((sl, m_part))
    width_m = max([mp.shape[1] for _, mp in m_parts] + [1])
    m = np.zeros((P, width_m), dtype=np.int64)  # (points, 1 + largest s)
    for sl, mp in m_parts:
        m[sl, : mp.shape[1]] = mp
    for i in np.flatnonzero(bad):
        c = choose(int(n[i]), float(eps[i]), float(r[i]), method, norm)
        if len(c.m) > m.shape[1]:
            m = np.pad(m, ((0, 0), (0, len(c.m) - m.shape[1])))
        K[i], s_star[i], cert[i] = c.K, c.s, c.certified_error
        m[i] = 0
        m[i, : len(c.m)] = c.m
    if method == "horner":
        counts = evaluate_counts_grid("horner", n, K, m[:, 0])
    else:
        counts = evaluate_counts_grid("scaling_squaring", n, K, m[:, 0], msq=m[:, 1:])
    return RuleGrid(
        method=method,
        n=n_arr.astype(np.int64),
        eps=eps_arr.astype(np.float64),
        r=r_arr.astype(np.float64),
        K=K.reshape(shape),
        s=s_star.astype(np.int64).reshape(shape),
        m=m.reshape((*shape, m.shape[1])),
        depth=counts.depth.reshape(shape),
        width=counts.width.reshape(shape),
        params=counts.params.reshape(shape),
        certified_error=cert.reshape(shape),
        n_fallback=int(bad.sum()),
    )
