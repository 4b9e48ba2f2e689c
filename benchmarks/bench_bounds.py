"""Bounds (issue 7, item 5): network sizes over a 10^5-point grid, target < 1 s.

What is timed (benchmarks/timing.py: warm-up excluded, median wall time of the repeats):

1. **counts** -- ``bounds.evaluate_counts_grid`` (the lambdified sympy formulas of
   ``bounds.counts``, evaluated by numpy with no loop over points) on a Cartesian grid of
   10^5 points ``n in 1..50`` x ``K in 2..41`` x ``m in 1..50``, per method:
   Horner ``(n, K, m)``; scaling and squaring with ``m_0 = m`` and two squarings
   ``(m_1, m_2) = (m + 1, m)``; Paterson-Stockmeyer with block size ``p = max(1, isqrt(K))``.
   Depth, width and params are returned as exact int64. The one-off lambdify (cached after the
   first call) is timed separately as the cold start and not included. Target: < 1 s.
2. **rules + counts** over a grid of ``(n, eps, r)`` -- ``bounds.choose_grid``, which runs the
   rules (``bounds.choose``: a 60-digit search per point) and then the vectorised counts. The rules
   loop over points, so a 10^5-point grid is timed on a subgrid (``rules_points`` points:
   ``n in {2..}``, ``eps`` log-spaced in [1e-10, 1e-2], ``r`` in [0.5, 3]) and the median per-point
   time scaled to 10^5 points (reported as extrapolated). Target: < 1 s; the top cProfile entries
   of the rule search are recorded.

    python -m benchmarks --only bounds [--quick]
"""

from __future__ import annotations

import cProfile
import math
import pstats
import time

import numpy as np

import bounds
from bounds import choose_grid, evaluate_counts_grid
from bounds.grid_rules import rule_grid

from .timing import environment, row, time_side_by_side

__all__ = ["counts_grid", "run", "SETTINGS", "QUICK_SETTINGS"]

SETTINGS = {
    "grid": (50, 40, 50),  # n, K, m: 10^5 points
    "rules_grid": (3, 4, 3),  # n, eps, r: 36 points for the rules
    "repeats": 7,
    "rules_repeats": 1,
    "vector_rules_grid": (10, 100, 100),  # n, eps, r: 10^5 points for the float64 rule_grid
}
QUICK_SETTINGS = {
    **SETTINGS,
    "grid": (5, 4, 5),
    "rules_grid": (1, 2, 1),
    "vector_rules_grid": (2, 3, 3),
    "repeats": 1,
}
TARGET_SECONDS = 1.0
GRID_POINTS = 100_000


def counts_grid(shape: tuple[int, int, int]) -> dict[str, tuple]:
    """Positional and keyword arguments of evaluate_counts_grid per method, on the
    ``np.ix_`` grid n = 1..shape[0], K = 2..shape[1]+1, m = 1..shape[2]."""
    n, K, m = np.ix_(np.arange(1, shape[0] + 1), np.arange(2, shape[1] + 2), np.arange(1, shape[2] + 1))
    msq = np.stack(np.broadcast_arrays(m + 1, m), axis=-1)  # (1, 1, M, 2): (m_1, m_2)
    p = np.maximum(1, np.array([math.isqrt(int(k)) for k in K.ravel()]).reshape(K.shape))
    return {
        "horner": ((n, K, m), {}),
        "scaling_squaring": ((n, K, m), {"msq": msq}),
        "paterson_stockmeyer": ((n, K, m), {"p": p}),
    }


def _profile_rules(points: list[tuple[int, float, float]], rows: int = 8) -> dict[str, list[dict]]:
    """cProfile of ``bounds.choose`` over points: top functions by own time, and the functions of
    the bounds package by cumulative time (which rule steps the own time is spent under)."""
    prof = cProfile.Profile()
    prof.enable()
    for n, eps, r in points:
        bounds.choose(n, eps, r)
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values()) or 1.0

    def entry(k, v):
        return {
            "function": pstats.func_std_string(k),
            "tottime_s": round(v[2], 4),
            "cumtime_s": round(v[3], 4),
            "share_of_total": round(v[2] / total, 4),
            "calls": v[1],
        }

    by_own = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:rows]
    ours = [kv for kv in stats.items() if "/bounds/" in kv[0][0]]
    by_cum = sorted(ours, key=lambda kv: kv[1][3], reverse=True)[:rows]
    return {
        "by_own_time": [entry(k, v) for k, v in by_own],
        "bounds_by_cumulative_time": [entry(k, v) for k, v in by_cum],
    }


def run(quick: bool = False, profile: bool = True) -> dict:
    s = QUICK_SETTINGS if quick else SETTINGS
    env = environment()
    details, rows = [], []
    for method, (args, kwargs) in counts_grid(s["grid"]).items():
        t0 = time.perf_counter()
        out = evaluate_counts_grid(method, *args, **kwargs)  # first call: lambdify, then evaluate
        cold = time.perf_counter() - t0
        points = out.params.size
        t = time_side_by_side(
            {"counts": lambda m=method, a=args, k=kwargs: evaluate_counts_grid(m, *a, **k)},
            s["repeats"],
        )["counts"]
        per_1e5 = t.wall_median_s * GRID_POINTS / points
        details.append(
            {
                "method": method,
                "points": points,
                "cold_first_call_s": cold,
                "timing": t.as_dict(),
                "seconds_per_1e5_points": per_1e5,
                "max_params": int(out.params.max()),
            }
        )
        rows.append(
            row(
                "5 bounds",
                f"{method} ({points:,} pts of n,K,m)",
                "counts grid time",
                t.wall_median_s,
                "s",
                TARGET_SECONDS if points == GRID_POINTS else None,
                higher_is_better=False,
            )
        )
    gn, ge, gr = s["rules_grid"]
    ns = np.arange(2, 2 + 3 * gn, 3)
    epss = np.logspace(-2, -10, ge)
    rs = np.linspace(0.5, 3.0, gr)
    rules_points = gn * ge * gr
    t = time_side_by_side(
        {"rules": lambda: choose_grid(ns[:, None, None], epss[None, :, None], rs[None, None, :])},
        s["rules_repeats"],
        warmup=0,  # the rules cache nothing between calls
    )["rules"]
    per_point = t.wall_median_s / rules_points
    extrapolated = per_point * GRID_POINTS
    rules = {
        "method": "scaling_squaring",
        "points": rules_points,
        "timing": t.as_dict(),
        "seconds_per_point": per_point,
        "extrapolated_seconds_per_1e5_points": extrapolated,
        "profile": {},
    }
    if profile and not quick and extrapolated >= TARGET_SECONDS:
        pts = [(int(n), float(e), float(r)) for n in ns[:1] for e in epss for r in rs[:1]]
        rules["profile"] = _profile_rules(pts)
    rows.append(
        row(
            "5 bounds",
            f"choose_grid SS, 1e5 pts of n,eps,r (extrapolated from {rules_points})",
            "rules+counts time",
            extrapolated,
            "s",
            TARGET_SECONDS,
            higher_is_better=False,
        )
    )
    # bounds.grid_rules.rule_grid: Rules H and SS vectorised in float64, mpmath (choose) only for
    # decisions within its 1e-9 relative margin; the same K, s, m and counts as choose.
    vn, ve, vr = s["vector_rules_grid"]
    v_ns, v_eps, v_rs = np.arange(1, vn + 1), np.logspace(-2, -10, ve), np.linspace(0.5, 4.0, vr)
    vector_rules = {}
    for method in ("horner", "scaling_squaring"):
        t = time_side_by_side(
            {
                "rule_grid": lambda m=method: rule_grid(
                    v_ns[:, None, None], v_eps[None, :, None], v_rs[None, None, :], method=m
                )
            },
            s["repeats"],
        )["rule_grid"]
        points = vn * ve * vr
        vector_rules[method] = {"points": points, "timing": t.as_dict()}
        rows.append(
            row(
                "5 bounds",
                f"rule_grid {method} ({points:,} pts of n,eps,r)",
                "rules+counts time",
                t.wall_median_s,
                "s",
                TARGET_SECONDS if points == GRID_POINTS else None,
                higher_is_better=False,
            )
        )
    return {
        "group": "bounds",
        "vector_rules": vector_rules,
        "environment": env,
        "load_average_after": environment()["load_average_1_5_15min"],
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
        "quick": quick,
        "counts": details,
        "rules": rules,
        "rows": rows,
    }
