"""The theory half of the study: bound grids, checked constructive networks, the squaring net.

Each function computes one result file's content (plain JSON-ready dicts); :mod:`experiments.figures`
draws figures 1-3 from those files only. Nothing here trains anything.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch

import bounds
from constructive import PrecisionWarning, SquaringNet, count, exp_network
from constructive.check import check_network
from experiments.progress import progress_bar

__all__ = [
    "bounds_grid",
    "constructive_grid",
    "functions_grid",
    "functions_bounds_grid",
    "squaring_study",
    "BOUNDS_NS",
    "BOUNDS_EPS",
    "FUNCTION_DOMAINS",
]

BOUNDS_NS = (2, 3, 5, 10)
BOUNDS_EPS = tuple(10.0**-k for k in range(1, 13))


def bounds_grid(ns=BOUNDS_NS, epss=BOUNDS_EPS, radius: float = 1.0, methods=bounds.ALL_METHODS) -> dict:
    """``bounds.choose`` over n x eps at one radius (figure 1: width, depth, params against 1/eps)."""
    rows = []
    for method in methods:
        for n in ns:
            for eps in epss:
                rows.append(bounds.choose(n, eps, radius, method=method).to_dict())
    return {"radius": radius, "rows": rows}


def constructive_grid(
    ns=(1, 2, 3),
    radii=(0.5, 1.0, 2.0, 4.0),
    epss=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6),
    methods=bounds.ALL_METHODS,
    count_random: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Build every network of the grid, read its counts off the weights and search its worst error
    (random in the ball, on the sphere, structured, adversarial; figure 2)."""
    rows = []
    grid = [(m, n, r, e) for m in methods for n in ns for r in radii for e in epss]
    for method, n, r, eps in progress_bar(grid, desc="constructive networks", disable=not progress):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            net = exp_network(n, eps, r, method=method)
        counted = count(net.to_relu_network())
        res = check_network(net, count=count_random, seed=seed)
        c = net.choice
        rows.append(
            {
                "method": method,
                "n": n,
                "radius": r,
                "eps": eps,
                "K": c.K,
                "s": c.s,
                "m": list(c.m),
                "depth": counted.depth,
                "width": counted.width,
                "params": counted.params,
                "counts_agree": tuple(counted) == (c.depth, c.width, c.params),
                "certified_error": c.certified_error,
                "worst_error": res.worst_error,
                "worst_kind": res.worst_kind,
                "by_kind": res.by_kind,
                "inputs": res.inputs,
                "reference": res.reference,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    return {"seed": seed, "count_random": count_random, "rows": rows}


def sign_grid(
    ns=(1, 2, 3),
    rhos=(0.25, 0.5, 0.9),
    epss=(1e-1, 1e-2, 1e-3, 1e-4),
    count_random: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Sign networks (docs/sign_network.md, Theorem S) over n x rho x eps: counts read off the weights
    against ``bounds.sign_counts`` and the worst error found on the domain ``||I - A^2||_2 <= rho``."""
    from constructive.sign import check_sign_network, sign_network

    rows = []
    grid = [(n, rho, e) for n in ns for rho in rhos for e in epss]
    for n, rho, eps in progress_bar(grid, desc="sign networks", disable=not progress):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            net = sign_network(n, eps, rho)
        counted = count(net.to_relu_network())
        c = net.choice
        res = check_sign_network(net, count=count_random, seed=seed)
        rows.append(
            {
                "n": n,
                "rho": rho,
                "eps": eps,
                "k": c.k,
                "m": list(c.m),
                "depth": counted.depth,
                "width": counted.width,
                "params": counted.params,
                "counts_agree": tuple(counted) == (c.depth, c.width, c.params),
                "certified_error": c.certified_error,
                "worst_error": res.worst_error,
                "worst_kind": res.worst_kind,
                "reference": res.reference,
            }
        )
    return {"seed": seed, "count_random": count_random, "rows": rows}


def squaring_study(curve_ms=(1, 2, 3, 4), error_ms=tuple(range(1, 31)), points: int = 2049) -> dict:
    """Lemma 1 measured: f_m on a grid for the curve panel, and max |f_m(x) - x^2| against m next to
    4^(-m-1) (figure 3). The explicit network is evaluated, not the formula: in float64 (which stops
    following the bound near m = 24, THEORY.md section 10.5) and in exact rational arithmetic at the
    midpoint x = 2^(-m-1), where Lemma 1 says the error equals 4^(-m-1) exactly."""
    from fractions import Fraction

    from constructive.exact import exact_forward

    x = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    curves = {str(m): SquaringNet(m).to_relu_network()(x[:, None])[:, 0].tolist() for m in curve_ms}
    # Generic (non-dyadic) points expose float64 rounding; dyadic grids would be evaluated exactly.
    generic = torch.rand(4096, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = []
    for m in error_ms:
        net = SquaringNet(m).to_relu_network()
        # the maximum of f_m - x^2 sits at the midpoints (2k+1) 2^(-m-1)
        mids = (torch.arange(min(2**m, 2**12), dtype=torch.float64) + 0.5) / 2**m
        xs = torch.cat([mids, generic])
        f = net(xs[:, None])[:, 0]
        mid = Fraction(1, 2 ** (m + 1))
        exact = exact_forward(net, [mid])[0][0] - mid * mid
        errors.append(
            {
                "m": m,
                "max_error": float((f - xs**2).abs().max()),
                "exact_midpoint_error": float(exact),
                "bound": 4.0 ** (-m - 1),
            }
        )
    return {"x": x.tolist(), "curves": curves, "errors": errors}


def summary_ratios(grid: dict) -> dict:
    """Worst error / eps and worst error / certified bound over a constructive grid."""
    rows = grid["rows"]
    ratio = [r["worst_error"] / r["eps"] for r in rows]
    tight = [r["certified_error"] / r["worst_error"] for r in rows if r["worst_error"] > 0]
    return {
        "networks": len(rows),
        "all_below_eps": all(r["worst_error"] <= r["eps"] for r in rows),
        "all_counts_agree": all(r["counts_agree"] for r in rows),
        "max_error_over_eps": max(ratio),
        "median_error_over_eps": float(np.median(ratio)),
        "min_bound_over_error": min(tight) if tight else math.nan,
        "max_bound_over_error": max(tight) if tight else math.nan,
    }


#: Domains of the functions grid: the balls ||A||_2 <= 1 and ||I - A||_2 <= 0.5 (sign: ||I - A^2||_2).
FUNCTION_DOMAINS: dict[str, dict] = {
    "exp": {"r": 1.0},
    "sin": {"r": 1.0},
    "cos": {"r": 1.0},
    "sinh": {"r": 1.0},
    "cosh": {"r": 1.0},
    "pow": {"r": 1.0, "k": 3},
    "inverse": {"rho": 0.5},
    "sqrt": {"rho": 0.5},
    "log": {"rho": 0.5},
    "sign": {"rho": 0.5},
}


def functions_grid(
    functions=tuple(FUNCTION_DOMAINS),
    ns=(1, 2, 3),
    epss=(1e-1, 1e-2, 1e-3),
    count_random: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Every registered function's network (``constructive.network``) over n x eps on its domain in
    ``FUNCTION_DOMAINS``: counts read off ``to_relu_network()`` against ``bounds.choose_for`` and the
    worst error found by the function's checker (``constructive.functions.CHECKERS``; figure 2)."""
    from constructive.functions import check, network

    rows = []
    grid = [(f, n, e) for f in functions for n in ns for e in epss]
    for f, n, eps in progress_bar(grid, desc="function networks", disable=not progress):
        domain = FUNCTION_DOMAINS[f]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            net = network(f, n, eps, **domain)
            c = bounds.choose_for(f, n, eps, **domain)
        counted = count(net.to_relu_network())
        res = check(net, count=count_random, seed=seed)
        rows.append(
            {
                "function": f,
                "n": n,
                "eps": eps,
                "domain": domain,
                "depth": counted.depth,
                "width": counted.width,
                "params": counted.params,
                "counts_agree": tuple(counted) == (c.depth, c.width, c.params),
                "certified_error": float(c.certified_error),
                "worst_error": res.worst_error,
                "worst_kind": res.worst_kind,
                "inputs": res.inputs,
                "reference": res.reference,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    return {"seed": seed, "count_random": count_random, "rows": rows}


def functions_bounds_grid(functions=tuple(FUNCTION_DOMAINS), ns=(2, 3, 5), epss=BOUNDS_EPS[:6]) -> dict:
    """``bounds.choose_for`` of every function over n x eps on its ``FUNCTION_DOMAINS`` domain
    (figure 1's second row: width, depth, params against 1/eps)."""
    rows = []
    for f in functions:
        domain = FUNCTION_DOMAINS[f]
        for n in ns:
            for eps in epss:
                c = bounds.choose_for(f, n, eps, **domain)
                rows.append(
                    {
                        "function": f,
                        "n": n,
                        "eps": eps,
                        "domain": domain,
                        "depth": int(c.depth),
                        "width": int(c.width),
                        "params": int(c.params),
                        "certified_error": float(c.certified_error),
                    }
                )
    return {"rows": rows}
