"""Constructive exp networks (issue 7, item 1): how fast is the structured forward, against what.

Three comparisons, each timed side by side in one process (benchmarks/timing.py: warm-up excluded,
median wall time of interleaved repeats), float64, inputs drawn in the ball ``||A||_2 <= r = 1``
(a Gaussian matrix scaled to spectral norm ``u r``, ``u ~ U(0, 1)``), networks from
``constructive.exp_network(n, eps, r)`` (Method SS, Frobenius norm):

1. **structured vs explicit**: ``net.structured(A)`` against ``net.to_relu_network()`` (sparse COO
   affine maps with ReLU between them) on the same inputs ``A.reshape(B, n*n)``, n in {2, 3, 4},
   eps in {1e-3, 1e-6}, batches 10^3 and 10^4. Ratio = explicit time / structured time
   (target >= 20). The two outputs are checked to agree to 1e-12 relative.
2. **structured vs torch.linalg.matrix_exp** on the same batch of 10^4, n in {3, 5, 8}, eps in
   {1e-3, 1e-6}. Ratio = matrix_exp time / structured time (no target; < 1 means the network is
   slower than LAPACK-style scaling and squaring, as it must be: it spends ~100 ReLU layers).
3. **fraction of the elementwise ceiling**, same cases as 2. How the work is counted: every hidden
   layer of the network is, in the structured forward, one update of the state of each of the
   ``n^3`` scalar products of a Lemma 3 product stage, each with 2 branches (s and d of Lemma 2;
   the one-branch squares of the squaring variant are computed as two branches with d = 0). So
   one forward touches ``E = B * n^3 * 2 * L`` elements, L = hidden layers (depth) of the network.
   The ceiling does, over the same E elements, a ReLU (``torch.clamp_min(x, 0, out=h)``) and one
   fused multiply-add (``torch.addcmul(y, h, w, out=o)``), on float64 tensors of three sizes: the
   per-layer size ``B n^3 2`` (L passes) and the cache-resident sizes 2^15 and 2^17 (the forward
   itself works on chunks of ``2 * CPU_CHUNK_PRODUCTS = 2^16`` branch elements; on the 2-core
   EPYC the ceiling's rate peaks between these sizes). The fastest of the three is the ceiling;
   fraction = (E / structured time) / (E / ceiling time) (target >= 0.30).
   Per counted element and layer the structured forward (constructive/squaring.py) runs a ReLU
   over its two state numbers (h, f), a softshrink and two subtractions with alpha: 7 reads and 5
   writes of float64, against the ceiling's 4 reads and 2 writes, so about 0.5 is what equal
   memory traffic per access would allow.

    python -m benchmarks --only constructive [--quick] [--threads N]
"""

from __future__ import annotations

import math

import torch

from constructive import exp_network
from constructive.matmul import CPU_CHUNK_PRODUCTS

from .timing import environment, row, time_side_by_side

__all__ = ["ball_sample", "elementwise_ceiling", "run", "SETTINGS", "QUICK_SETTINGS"]

SETTINGS = {
    "r": 1.0,
    "explicit_ns": (2, 3, 4),
    "explicit_batches": (1_000, 10_000),
    "matrix_exp_ns": (3, 5, 8),
    "batch": 10_000,
    "eps": (1e-3, 1e-6),
    "repeats": 5,
    "ceiling_repeats": 3,
    "seed": 0,
}
QUICK_SETTINGS = {
    **SETTINGS,
    "explicit_ns": (2,),
    "explicit_batches": (64,),
    "matrix_exp_ns": (3,),
    "batch": 64,
    "eps": (1e-3,),
    "repeats": 1,
    "ceiling_repeats": 1,
}
TARGET_EXPLICIT_RATIO = 20.0
TARGET_CEILING_FRACTION = 0.30
CEILING_CACHE_LOG2 = (15, 17)


def ball_sample(batch: int, n: int, r: float, seed: int) -> torch.Tensor:
    """(batch, n, n) float64 matrices with ``||A||_2 = u r``, u uniform on (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    u = torch.rand(batch, generator=g, dtype=torch.float64)
    return A * (u * r / torch.linalg.matrix_norm(A, ord=2))[:, None, None]


def elementwise_ceiling(total: int, tensor_elements: int):
    """A function doing ReLU + one fused multiply-add over ``total`` float64 elements in passes
    over tensors of ``tensor_elements``; returns (function, elements it processes)."""
    size = min(total, tensor_elements)
    passes = math.ceil(total / size)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(size, generator=g, dtype=torch.float64) - 0.5
    w = torch.rand(size, generator=g, dtype=torch.float64)
    y = torch.rand(size, generator=g, dtype=torch.float64)
    h, o = torch.empty_like(x), torch.empty_like(x)

    def ceiling():
        for _ in range(passes):
            torch.clamp_min(x, 0.0, out=h)
            torch.addcmul(y, h, w, out=o)

    return ceiling, passes * size


def _top_ops(fn, rows: int = 8) -> list[dict]:
    """Top operators of one call of fn by self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [
        {
            "op": e.key,
            "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 3),
            "share": round(e.self_cpu_time_total / total, 4),
            "calls": e.count,
        }
        for e in events[:rows]
    ]


def _case(net, n: int, eps: float) -> dict:
    return {"n": n, "eps": eps, "K": net.K, "s": net.s, "depth": net.choice.depth}


def bench_explicit(s: dict) -> tuple[list[dict], list[dict]]:
    details, rows = [], []
    for n in s["explicit_ns"]:
        for eps in s["eps"]:
            net = exp_network(n, eps, s["r"])
            explicit = net.to_relu_network()
            for batch in s["explicit_batches"]:
                A = ball_sample(batch, n, s["r"], s["seed"])
                x = A.reshape(batch, n * n)  # (B, n^2), row-major vec(A)
                with torch.no_grad():
                    S, E = net.structured(A), explicit(x).reshape(batch, n, n)
                agreement = float((S - E).abs().max() / S.abs().max())
                t = time_side_by_side(
                    {
                        "structured": lambda net=net, A=A: net.structured(A),
                        "explicit": lambda f=explicit, x=x: f(x),
                    },
                    s["repeats"],
                )
                ratio = t["explicit"].wall_median_s / t["structured"].wall_median_s
                details.append(
                    {
                        **_case(net, n, eps),
                        "batch": batch,
                        "max_rel_difference": agreement,
                        "structured": t["structured"].as_dict(),
                        "explicit": t["explicit"].as_dict(),
                        "ratio_wall": ratio,
                        "ratio_cpu": t["explicit"].cpu_median_s / t["structured"].cpu_median_s,
                    }
                )
                rows.append(
                    row(
                        "1 constructive",
                        f"n={n} eps={eps:g} B={batch}",
                        "structured vs explicit (x faster)",
                        ratio,
                        "x",
                        TARGET_EXPLICIT_RATIO,
                    )
                )
    return details, rows


def bench_matrix_exp_and_ceiling(s: dict) -> tuple[list[dict], list[dict]]:
    details, rows = [], []
    batch = s["batch"]
    for n in s["matrix_exp_ns"]:
        for eps in s["eps"]:
            net = exp_network(n, eps, s["r"])
            A = ball_sample(batch, n, s["r"], s["seed"])
            with torch.no_grad():
                err = torch.linalg.matrix_norm(net.structured(A) - torch.linalg.matrix_exp(A))
            L = net.choice.depth
            work = batch * n**3 * 2 * L  # elements the structured forward touches (docstring)
            ceilings = {
                "ceiling_layer_size": elementwise_ceiling(work, batch * n**3 * 2),
                **{f"ceiling_2^{k}": elementwise_ceiling(work, 2**k) for k in CEILING_CACHE_LOG2},
            }
            t = time_side_by_side(
                {
                    "structured": lambda net=net, A=A: net.structured(A),
                    "matrix_exp": lambda A=A: torch.linalg.matrix_exp(A),
                    **{k: fn for k, (fn, _) in ceilings.items()},
                },
                s["ceiling_repeats"],
            )
            st = t["structured"].wall_median_s
            rate = work / st
            ceiling_rates = {k: e / t[k].wall_median_s for k, (_, e) in ceilings.items()}
            fraction = rate / max(ceiling_rates.values())
            speed = t["matrix_exp"].wall_median_s / st
            details.append(
                {
                    **_case(net, n, eps),
                    "batch": batch,
                    "max_fro_error_vs_matrix_exp": float(err.max()),
                    "elements_per_forward": work,
                    "timings": {k: v.as_dict() for k, v in t.items()},
                    "structured_elements_per_s": rate,
                    "ceiling_elements_per_s": ceiling_rates,
                    "ceiling_fraction": fraction,
                    "matrix_exp_over_structured_time": speed,
                    "structured_matrices_per_s": batch / st,
                    "matrix_exp_matrices_per_s": batch / t["matrix_exp"].wall_median_s,
                }
            )
            case = f"n={n} eps={eps:g} B={batch}"
            rows.append(row("1 constructive", case, "structured vs matrix_exp (x faster)", speed, "x"))
            rows.append(
                row(
                    "1 constructive",
                    case,
                    "structured / elementwise ceiling",
                    fraction,
                    "frac",
                    TARGET_CEILING_FRACTION,
                )
            )
    return details, rows


def run(quick: bool = False, profile: bool = True) -> dict:
    """All item-1 measurements as a JSON-ready dict with ``rows`` for the summary table.

    ``profile``: for each target missed, the top torch.profiler operators of one structured
    forward on two chunks of the batch (the profiler's own cost grows with the event count).
    """
    s = QUICK_SETTINGS if quick else SETTINGS
    env = environment()
    with torch.no_grad():
        explicit, rows_e = bench_explicit(s)
        mexp, rows_m = bench_matrix_exp_and_ceiling(s)
    profiles = {}
    if profile and not quick:
        for d, r in zip(explicit + mexp, rows_e + rows_m[1::2], strict=True):
            key = f"n={d['n']} eps={d['eps']:g}"
            if r["met"] is False and key not in profiles:
                n, eps = d["n"], d["eps"]
                net = exp_network(n, eps, s["r"])
                A = ball_sample(2 * max(1, CPU_CHUNK_PRODUCTS // n**3), n, s["r"], s["seed"])
                with torch.no_grad():
                    net.structured(A)
                    profiles[key] = _top_ops(lambda net=net, A=A: net.structured(A))
    env_after = environment()["load_average_1_5_15min"]
    return {
        "group": "constructive",
        "environment": env,
        "load_average_after": env_after,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
        "quick": quick,
        "structured_vs_explicit": explicit,
        "matrix_exp_and_ceiling": mexp,
        "profiles": profiles,
        "rows": rows_e + rows_m,
    }
