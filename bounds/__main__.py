"""Command line: ``python -m bounds --n 5 --eps 1e-6 --radius 1 [options]``."""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from .choice import Choice, format_m, latex_table
from .rules import ALL_METHODS, NORMS, OBJECTIVES, choose

DESCRIPTION = """\
Certified sizes of ReLU networks that approximate the matrix exponential.

Theorem (THEORY.md section 8): for n >= 1, r > 0 and eps in (0, 1) there is an explicit ReLU
network Phi with sup over ||A||_2 <= r of ||Phi(A) - exp(A)||_F <= eps. Its width is
8n^3 + 2n^2 (Taylor/Horner H, scaling and squaring SS), its depth O(Lambda^2) for H and
O(Lambda^(3/2)) for SS, Lambda = 1 + r + ln(n/eps). This command runs the choice rules of
THEORY.md (H: section 5, SS: section 6, Paterson-Stockmeyer PS: section 7), decided in 60-digit
arithmetic, and prints the chosen integers with the exact counts: K Taylor degree, s squarings,
p PS block size, m layers per product (SS: m_0/m_1,...,m_s), depth = hidden layers,
width = largest hidden layer, params = nonzero weights and biases (output map included), and
the certified error bound (always <= eps). Several values of --n/--eps/--radius give one row
per combination."""

EPILOG = """\
examples:
  python -m bounds --n 5 --eps 1e-6 --radius 1
  python -m bounds --n 2 3 5 10 --eps 1e-2 1e-4 1e-6 --radius 1 4 --side-by-side
  python -m bounds --n 3 --eps 1e-8 --radius 4 --method best --objective depth --json

Bad input prints one line on stderr and exits with status 2."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr instead of usage + message
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bounds",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, nargs="+", required=True, help="matrix size(s), >= 1")
    parser.add_argument("--eps", type=float, nargs="+", required=True, help="error tolerance(s), in (0, 1)")
    parser.add_argument(
        "--radius",
        type=float,
        nargs="+",
        default=None,
        help="radius r of the domain ||A||_2 <= r, > 0 (exp, pow, cos, cosh, ...)",
    )
    parser.add_argument(
        "--function",
        default="exp",
        help="the matrix function, a name of bounds.functions.CHOOSERS (default: exp); other than exp, "
        "the generic rule of that function is printed (--method/--latex/--side-by-side are for exp)",
    )
    parser.add_argument("--k", type=int, nargs="+", default=None, help="the power(s) k >= 2 (--function pow)")
    parser.add_argument(
        "--rho", type=float, nargs="+", default=None, help="the domain parameter rho (--function sign, ...)"
    )
    parser.add_argument(
        "--method",
        choices=(*ALL_METHODS, "best", "all"),
        default="all",
        help="choice rule; 'all' prints every method, 'best' the one with least --objective (default: all)",
    )
    parser.add_argument(
        "--norm",
        choices=NORMS,
        default="fro",
        help="norm of the certified error: Frobenius or spectral (default: fro)",
    )
    parser.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="depth",
        help="what --method best minimises (default: depth)",
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON list of objects")
    fmt.add_argument("--latex", action="store_true", help="print a LaTeX tabular")
    fmt.add_argument(
        "--side-by-side",
        action="store_true",
        help="one row per (n, r, eps) with the methods side by side, in the format of "
        "THEORY.md section 10.3 (H: K, m, L, P | SS: s, K, m_0 / m_1..m_s, L, P | "
        "PS: p, m, L, W, P)",
    )
    return parser


_COLUMNS = (
    ("method", "<"),
    ("n", ">"),
    ("eps", ">"),
    ("r", ">"),
    ("K", ">"),
    ("s", ">"),
    ("p", ">"),
    ("m", "<"),
    ("depth", ">"),
    ("width", ">"),
    ("params", ">"),
    ("certified error", ">"),
)


def format_table(choices: list[Choice]) -> str:
    """A plain aligned table, one row per choice."""
    rows = [
        (
            c.method,
            str(c.n),
            f"{c.eps:g}",
            f"{c.r:g}",
            str(c.K),
            str(c.s),
            "-" if c.p is None else str(c.p),
            format_m(c.method, c.m),
            str(c.depth),
            str(c.width),
            str(c.params),
            f"{c.certified_error:.3e}",
        )
        for c in choices
    ]
    header = tuple(name for name, _ in _COLUMNS)
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row):
        cells = [f"{cell:{align}{w}}" for cell, (_, align), w in zip(row, _COLUMNS, widths, strict=True)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *map(line, rows)])


def _cell(c: Choice) -> str:
    m = ",".join(map(str, c.m)) if c.m else "-"
    if c.method == "horner":
        return f"{c.K}, {m}, {c.depth}, {c.params}"
    if c.method == "scaling_squaring":
        if c.s == 0:
            return f"0, {c.K}, {m}, {c.depth}, {c.params}"
        tail = ",".join(map(str, c.m_squarings))
        return f"{c.s}, {c.K}, {c.m0} / {tail}, {c.depth}, {c.params}"
    if c.method == "paterson_stockmeyer":
        return f"{c.p}, {m}, {c.depth}, {c.width}, {c.params}"
    return f"{c.method}: {c.K}, {m}, {c.depth}, {c.width}, {c.params}"


def format_side_by_side(choices: list[Choice], methods) -> str:
    """Rows ``| n (W_H) | r | eps | method cells... |`` as in THEORY.md section 10.3."""
    names = {"horner": "H: K, m, L, P", "scaling_squaring": "SS: s, K, m_0 / m_1..m_s, L, P"}
    names["paterson_stockmeyer"] = "PS: p, m, L, W, P"
    lines = ["| n (W_H) | r | eps | " + " | ".join(names.get(m, m) for m in methods) + " |"]
    per_point = len(methods)
    for i in range(0, len(choices), per_point):
        group = choices[i : i + per_point]
        first = group[0]
        w = next((c.width for c in group if c.method == "horner"), first.width)
        cells = " | ".join(_cell(c) for c in group)
        lines.append(f"| {first.n} ({w}) | {first.r:g} | {first.eps:.0e} | {cells} |")
    return "\n".join(lines)


_DOMAIN_FLAGS = (("r", "radius"), ("k", "k"), ("rho", "rho"))


def _construction(d: dict) -> str:
    """The construction's integers from a choice's ``to_dict()``: those of J, s, k, ops, m it has."""
    parts = []
    for key in ("J", "K", "s", "k", "ops", "p", "m"):
        if key in d and d[key] is not None:
            v = d[key]
            parts.append(f"{key}={'/'.join(map(str, v)) if isinstance(v, list) else v}")
    return " ".join(parts)


def _main_function(args) -> int:
    """``--function F``: one row per (n, domain, eps) of ``bounds.choose_for(F, n, eps, **domain)``."""
    from .functions import choose_for, domain_parameters

    try:
        accepted = domain_parameters(args.function)
        lists = []
        for key, flag in _DOMAIN_FLAGS:
            given = getattr(args, flag)
            if given is not None and key not in accepted:
                raise ValueError(f"--{flag} does not apply to {args.function}")
            if given is not None:
                lists.append([(key, v) for v in given])
        if args.norm != "fro" and "norm" in accepted:
            lists.append([("norm", args.norm)])
        rows = []
        for n, *domain, eps in itertools.product(args.n, *lists, args.eps):
            c = choose_for(args.function, n, eps, **dict(domain))
            d = c.to_dict()
            rows.append(
                {
                    "function": args.function,
                    "n": n,
                    "eps": eps,
                    "domain": " ".join(f"{k}={v:g}" for k, v in domain if k != "norm"),
                    "construction": _construction(d),
                    "depth": c.depth,
                    "width": c.width,
                    "params": c.params,
                    "certified_error": c.certified_error,
                    "choice": d,
                }
            )
    except ValueError as exc:
        print(f"python -m bounds: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r["choice"] | {"function": args.function} for r in rows], indent=1))
        return 0
    cols = ("function", "n", "eps", "domain", "construction", "depth", "width", "params", "certified error")
    cells = [
        (
            r["function"],
            str(r["n"]),
            f"{r['eps']:g}",
            r["domain"],
            r["construction"],
            str(r["depth"]),
            str(r["width"]),
            str(r["params"]),
            f"{r['certified_error']:.3e}",
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in (cols, *cells)) for i in range(len(cols))]
    norm = "Frobenius" if args.norm == "fro" else "spectral"
    print(f"# certified ReLU networks for {args.function}(A), error in the {norm} norm")
    for row in (cols, *cells):
        print("  ".join(f"{x:<{w}}" for x, w in zip(row, widths, strict=True)).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 success, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"python -m bounds: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.function != "exp":
        return _main_function(args)
    if args.radius is None:
        print("python -m bounds: error: the following arguments are required: --radius", file=sys.stderr)
        return 2
    methods = ALL_METHODS if args.method == "all" else (args.method,)
    choices = []
    try:
        # Order (n, r, eps) as THEORY.md section 10.3 does; methods vary fastest.
        for n, r, eps, method in itertools.product(args.n, args.radius, args.eps, methods):
            choices.append(choose(n, eps, r, method, args.norm, objective=args.objective))
    except ValueError as exc:
        print(f"python -m bounds: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([c.to_dict() for c in choices], indent=1))
    elif args.latex:
        print(latex_table(choices))
    elif args.side_by_side:
        print(format_side_by_side(choices, methods))
    else:
        norm = "Frobenius" if args.norm == "fro" else "spectral"
        print(f"# certified ReLU networks for exp(A), ||A||_2 <= r, error in the {norm} norm")
        print(format_table(choices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
