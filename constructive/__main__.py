"""``python -m constructive``: build the exp network the theorem describes, count it, check it.

Example::

    python -m constructive --n 3 --eps 1e-4 --radius 1 --check 200
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

import torch

from .check import check_network
from .exact import certify_exact, rational_ball_samples
from .exp_nets import ALL_METHODS, METHODS, exp_network
from .relu_network import count

DESCRIPTION = """\
Build the ReLU network that approximates exp(A) on {A in R^(n x n): ||A||_2 <= r} to eps (THEORY.md,
Methods H and SS; PS with --method paterson_stockmeyer or all), read its depth, width and parameter
count off the realised weights, and print them beside the formulas of `python -m bounds`. With
--check N, search for the worst error on N random matrices in the ball (a quarter on its boundary),
structured extreme matrices and an adversarial ascent, against scipy.linalg.expm (mpmath below eps = 1e-9).
With --sign RHO, build the Newton-Schulz network for sign(A) on ||I - A^2||_2 <= RHO instead
(docs/sign_network.md).
With --exact N, evaluate the explicit network in exact rational arithmetic on N rational matrices of
the ball and compare with exp(A) by mpmath at 60 digits (no floating-point evaluation error).

Example::

    python -m constructive --n 2 --eps 1e-6 --radius 1 --method all --exact 4"""


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m constructive",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=_positive_int, required=True, help="matrix size n >= 1")
    p.add_argument("--eps", type=_float, required=True, help="tolerance, 0 < eps < 1")
    p.add_argument("--radius", type=_float, default=None, help="norm radius r > 0 of the domain (exp)")
    p.add_argument(
        "--sign",
        type=_float,
        default=None,
        metavar="RHO",
        help="build the Newton-Schulz network for sign(A) on ||I - A^2||_2 <= RHO < 1 instead of exp "
        "(docs/sign_network.md; --method and --exact do not apply)",
    )
    p.add_argument(
        "--function",
        default="exp",
        help="the matrix function, a name of constructive.functions.BUILDERS (default exp); pow, cos and "
        "cosh use --radius (pow also --k), docs/power_network.md and docs/trig_network.md",
    )
    p.add_argument("--k", type=_positive_int, default=None, help="the power k >= 2 (--function pow)")
    p.add_argument(
        "--rho",
        type=_float,
        default=None,
        help="the domain ||I - A||_2 <= RHO < 1 (--function inverse, sqrt, log; docs/inverse_network.md)",
    )
    p.add_argument(
        "--method",
        choices=(*ALL_METHODS, "paper", "all"),
        default="paper",
        help="one construction, 'paper' (horner and scaling_squaring; the default) or 'all' (adds "
        "paterson_stockmeyer, THEORY.md section 7)",
    )
    p.add_argument(
        "--norm",
        choices=("fro", "2"),
        default="fro",
        help="norm of the guarantee: Frobenius (default) or spectral",
    )
    p.add_argument(
        "--check",
        type=_positive_int,
        default=None,
        metavar="N",
        help="search the worst error on N random matrices plus structured and adversarial ones",
    )
    p.add_argument(
        "--exact",
        type=_positive_int,
        default=None,
        metavar="N",
        help="certify N rational matrices (+-rI first) in exact rational arithmetic against mpmath",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --check and --exact inputs (default 0)")
    p.add_argument(
        "--max-bytes",
        type=_float,
        default=None,
        metavar="B",
        help="refuse to build an explicit network whose estimated peak memory (params from the bounds "
        "formulas x constructive.EXPLICIT_BYTES_PER_PARAM) exceeds B bytes (default "
        "constructive.MAX_EXPLICIT_BYTES = 2 GiB)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    return p


def _built_row(build, head: dict, max_bytes: float | None = None) -> tuple:
    """Build a network (recording warnings) and the row of its counts beside its Choice's formulas.

    ``head(choice)`` gives the row's leading, network-specific fields. The explicit network is
    refused (ValueError, nothing built) when its estimated memory exceeds ``max_bytes``."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = build()
    counted = count(net.to_relu_network(max_bytes=max_bytes))
    c = net.choice
    row = {
        **head(c),
        "m": list(c.m),
        "depth": counted.depth,
        "width": counted.width,
        "params": counted.params,
        "bounds_depth": c.depth,
        "bounds_width": c.width,
        "bounds_params": c.params,
        "counts_agree": (counted.depth, counted.width, counted.params) == (c.depth, c.width, c.params),
        "certified_error": c.certified_error,
        "build_seconds": round(time.perf_counter() - t0, 3),
        "warnings": [str(w.message) for w in caught],
    }
    return net, row


def _check_fields(res) -> dict:
    """The worst-case search result (a ``constructive.check.CheckResult``) as row fields."""
    return {
        "worst_error": res.worst_error,
        "worst_kind": res.worst_kind,
        "error_over_eps": res.ratio,
        "inputs_checked": res.inputs,
        "reference": res.reference,
        "guarantee_holds": res.holds,
    }


def run_sign(args) -> list[dict]:
    """The sign network of Theorem S (docs/sign_network.md): counts beside the formulas, --check."""
    from .sign import check_sign_network, sign_network

    if args.exact:
        raise ValueError("--exact is for the exp networks; allowed with --sign: --check N")
    if args.radius is not None:
        raise ValueError(
            "--radius is for the exp networks; with --sign RHO the domain is ||I - A^2||_2 <= RHO "
            "(and ||A||_2 <= sqrt(1 + RHO)): drop --radius"
        )
    net, row = _built_row(
        lambda: sign_network(args.n, args.eps, args.sign, norm=args.norm),
        lambda c: {
            "method": "sign (newton-schulz)",
            "n": args.n,
            "eps": args.eps,
            "rho": c.rho,
            "alpha": c.alpha,
            "K": c.k,
            "s": "-",
            "p": None,
        },
        args.max_bytes,
    )
    if args.check:
        row.update(_check_fields(check_sign_network(net, count=args.check, seed=args.seed)))
    return [row]


def run_function(args) -> list[dict]:
    """``--function F`` (F other than exp): build by ``BUILDERS``, count, --check and --exact."""
    from .functions import network

    if args.sign is not None:
        raise ValueError("--sign is --function sign with its own option; give one of them")
    if args.rho is not None:  # the near-identity domain ||I - A||_2 <= rho (inverse, sqrt, log)
        domain = {"rho": args.rho}
    elif args.radius is None:
        raise ValueError(
            f"--radius (or --rho for inverse, sqrt, log) is required for --function {args.function}"
        )
    else:
        domain = {"r": args.radius} if args.k is None else {"r": args.radius, "k": args.k}
    net, row = _built_row(
        lambda: network(args.function, args.n, args.eps, norm=args.norm, **domain),
        lambda c: {
            "method": args.function if args.k is None else f"{args.function} k={args.k}",
            "n": args.n,
            "eps": args.eps,
            "radius": args.radius,
            **({"rho": args.rho} if args.rho is not None else {}),
            "K": getattr(c, "J", getattr(c, "k", getattr(c, "K", "-"))),
            "s": getattr(c, "s", "-"),
            "p": None,
        },
        args.max_bytes,
    )
    if args.check:
        from .functions import check

        row.update(_check_fields(check(net, count=args.check, seed=args.seed)))
    if args.exact:
        if args.rho is not None:  # A = I - X with X rational in the ball ||X||_2 <= rho
            balls = rational_ball_samples(args.n, args.rho, args.exact, seed=args.seed)
            inputs = [
                [[int(i == j) - x for j, x in enumerate(row)] for i, row in enumerate(X)] for X in balls
            ]
        else:
            inputs = rational_ball_samples(args.n, args.radius, args.exact, seed=args.seed)
        certs = [certify_exact(net, A) for A in inputs]
        row.update(
            exact_inputs=len(certs),
            exact_worst_error=max(c.exact_error for c in certs),
            exact_float64_worst_error=max(c.float64_error for c in certs),
            exact_digits=certs[0].digits,
            exact_holds=all(c.holds for c in certs),
        )
    return [row]


def run(args) -> list[dict]:
    if args.function != "exp":
        return run_function(args)
    if args.sign is not None:
        return run_sign(args)
    if args.radius is None:
        raise ValueError("--radius is required for the exp networks (or give --sign RHO for sign(A))")
    rows = []
    methods = {"paper": METHODS, "all": ALL_METHODS}.get(args.method, (args.method,))
    for method in methods:
        net, row = _built_row(
            lambda method=method: exp_network(args.n, args.eps, args.radius, method=method, norm=args.norm),
            lambda c, method=method: {
                "method": method,
                "n": args.n,
                "eps": args.eps,
                "radius": args.radius,
                "K": c.K,
                "s": c.s,
                "p": c.p,
            },
            args.max_bytes,
        )
        if args.check:
            row.update(_check_fields(check_network(net, count=args.check, seed=args.seed)))
        if args.exact:
            inputs = rational_ball_samples(args.n, args.radius, args.exact, seed=args.seed)
            certs = [certify_exact(net, A) for A in inputs]
            row.update(
                exact_inputs=len(certs),
                exact_worst_error=max(c.exact_error for c in certs),
                exact_float64_worst_error=max(c.float64_error for c in certs),
                exact_digits=certs[0].digits,
                exact_holds=all(c.holds for c in certs),
            )
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    cols = ["method", "K", "s", "p", "m", "depth", "width", "params", "bounds", "certified"]
    if "worst_error" in rows[0]:
        cols += ["worst error", "worst/eps", "kind"]
    lines = []
    for r in rows:
        cells = [
            r["method"],
            str(r["K"]),
            str(r["s"]),
            "-" if r["p"] is None else str(r["p"]),
            "/".join(map(str, r["m"])) or "-",
            str(r["depth"]),
            str(r["width"]),
            str(r["params"]),
            "agree"
            if r["counts_agree"]
            else f"DIFFER ({r['bounds_depth']}, {r['bounds_width']}, {r['bounds_params']})",
            f"{r['certified_error']:.3e}",
        ]
        if "worst_error" in r:
            cells += [f"{r['worst_error']:.3e}", f"{r['error_over_eps']:.3f}", r["worst_kind"]]
        lines.append(cells)
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    try:
        rows = run(args)
    except ValueError as e:
        print(f"python -m constructive: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        r0 = rows[0]
        steps = " (K = Newton-Schulz steps)" if args.function in ("exp", "sign") else ""
        domain = f"rho={r0['rho']:g}{steps}" if "rho" in r0 else f"radius={r0['radius']:g}"
        kind = "sign networks" if "rho" in r0 and args.function == "exp" else f"{args.function} networks"
        print(
            f"{kind} for n={r0['n']}, eps={r0['eps']:g}, {domain} "
            f"({args.norm} norm); counts read from the built weights"
        )
        print(format_table(rows))
        for r in rows:
            for w in r["warnings"]:
                print(f"warning ({r['method']}): {w}", file=sys.stderr)
            if "worst_error" in r:
                print(
                    f"{r['method']}: worst error {r['worst_error']:.3e} over {r['inputs_checked']} inputs "
                    f"vs {r['reference']}: {'<=' if r['guarantee_holds'] else 'ABOVE'} eps"
                )
            if "exact_worst_error" in r:
                print(
                    f"{r['method']}: exact-arithmetic worst error {r['exact_worst_error']:.3e} over "
                    f"{r['exact_inputs']} rational inputs (float64 evaluation: "
                    f"{r['exact_float64_worst_error']:.3e}; mpmath {r['exact_digits']} digits): "
                    f"{'<=' if r['exact_holds'] else 'ABOVE'} eps"
                )
    ok = all(
        r["counts_agree"] and r.get("guarantee_holds", True) and r.get("exact_holds", True) for r in rows
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
