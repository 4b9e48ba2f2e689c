"""Subcommands ``compare``, ``figures`` and ``reproduce`` of ``python -m experiments``."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments._cli import fail

REPO = Path(__file__).resolve().parent.parent


def args_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs",
        nargs="*",
        default=[str(REPO / "results" / "reproduce" / "runs")],
        metavar="DIR",
        help="run folders (or folders of them) of trained exp models to include "
        "(default results/reproduce/runs)",
    )
    # Only folders the user names must exist and hold runs; a default one may be absent.
    p.set_defaults(default_runs=p.get_default("runs"))
    p.add_argument("--n", type=int, default=3, help="matrix size of the shared test set (default 3)")
    p.add_argument(
        "--radius", type=float, default=1.0, help="test matrices satisfy ||A||_2 <= radius (default 1)"
    )
    p.add_argument("--test-size", type=int, default=1000, help="number of test matrices (default 1000)")
    p.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[1e-1, 1e-2, 1e-3, 1e-4, 1e-6],
        help="eps of the constructive networks (default 1e-1 1e-2 1e-3 1e-4 1e-6)",
    )
    p.add_argument(
        "--out",
        default=str(REPO / "results" / "compare"),
        help="folder for compare.json and compare.md (default results/compare)",
    )


def _missing_runs(args) -> str | None:
    """What is wrong with the --runs folders the user named, in one sentence; None when each
    holds a finished run (the default folders are not checked: a fresh clone may lack one)."""
    from experiments.run_index import find_runs

    if args.runs == args.default_runs:
        return None
    for p in map(Path, args.runs):
        if not p.is_dir():
            return f"--runs {str(p)!r}: no such folder"
        if not find_runs(p):
            return (
                f"--runs {str(p)!r} holds no finished run (a folder with results.json, there or one "
                "level below); train one with `python -m experiments train`"
            )
    return None


def cmd_compare(args) -> int:
    from experiments.compare import CompareConfig, compare, markdown_table, write
    from experiments.run_index import find_runs

    try:
        cfg = CompareConfig(
            n=args.n, radius=args.radius, test_size=args.test_size, constructive_eps=tuple(args.eps)
        )
        for e in args.eps:
            if not 0 < e < 1:
                raise ValueError(f"--eps values must lie in (0, 1), got {e}")
        missing = _missing_runs(args)
        if missing:
            return fail(missing)
        runs = find_runs(*[Path(r) for r in args.runs])
        result = compare(cfg, runs, progress=lambda s: print(f"scored {s}", flush=True))
    except ValueError as e:
        return fail(str(e))
    paths = write(result, Path(args.out))
    print(markdown_table(result))
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def args_figures(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--results",
        default=str(REPO / "results" / "reproduce"),
        help="folder with bounds_grid.json, constructive_check.json, squaring.json, compare.json "
        "(default results/reproduce)",
    )
    p.add_argument(
        "--runs",
        nargs="*",
        default=[
            str(REPO / "results" / "runs"),
            str(REPO / "results" / "study"),
            str(REPO / "results" / "reproduce" / "runs"),
        ],
        metavar="DIR",
        help="training run folders (or folders of them) for figures 5, 6, 8, 11 and 12",
    )
    p.set_defaults(default_runs=p.get_default("runs"))
    p.add_argument("--out", default=str(REPO / "figures"), help="output folder (default figures/)")


def cmd_figures(args) -> int:
    from experiments.figures import FIGURES, SOURCES, draw_all
    from experiments.run_index import find_runs

    results = Path(args.results)
    # The result files named plainly (not records kept elsewhere, named by a path pattern).
    wanted = sorted({f for files in SOURCES.values() for f in files if Path(f).name == f})
    if not results.is_dir():
        return fail(f"--results {str(results)!r}: no such folder")
    if not any((results / f).is_file() for f in wanted):
        return fail(
            f"--results {str(results)!r} holds none of the result files ({', '.join(wanted)}); "
            "write them with `python -m experiments reproduce`"
        )
    missing = _missing_runs(args)
    if missing:
        return fail(missing)
    drawn = draw_all(Path(args.results), Path(args.out), find_runs(*[Path(r) for r in args.runs]))
    for name, paths in drawn.items():
        print(f"{name}: {FIGURES[name][1]}\n  " + "  ".join(map(str, paths)))
    return 0 if drawn else 1


def args_reproduce(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="default: small grids and 30-45 s training runs, a few minutes on 2 CPU cores",
    )
    mode.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="the cpu configs (6 min per model) and the full constructive grid",
    )
    mode.add_argument(
        "--gpu",
        dest="mode",
        action="store_const",
        const="gpu",
        help="the paper-scale gpu configs (needs CUDA)",
    )
    p.set_defaults(mode="quick")
    p.add_argument(
        "--out",
        default=str(REPO / "runs" / "reproduce"),
        help="result folder (default runs/reproduce, ignored by git; the committed reference records "
        "are rewritten with --out results/reproduce --figures figures)",
    )
    p.add_argument("--figures", help="figure folder (default OUT/figures)")
    p.add_argument("--skip-training", action="store_true", help="compare the runs already in --out/runs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_reproduce(args) -> int:
    from experiments.reproduce import reproduce

    try:
        reproduce(
            args.mode,
            Path(args.out),
            Path(args.figures) if args.figures else None,
            quiet=args.quiet,
            skip_training=args.skip_training,
        )
    except ValueError as e:
        return fail(str(e))
    return 0
