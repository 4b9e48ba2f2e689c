"""One entry point for every benchmark of issue 7: a table of ratios and JSON records.

    python -m benchmarks [--only GROUP ...] [--quick] [--threads N] [--results-dir DIR]
    python benchmarks/run.py ...   (the same)

Groups, in the order run (one process, side by side):

* ``constructive`` (item 1, :mod:`benchmarks.bench_constructive`): structured forward vs the
  explicit ReLU network and vs ``torch.linalg.matrix_exp``; fraction of the elementwise ceiling.
* ``bounds`` (item 5, :mod:`benchmarks.bench_bounds`): counts over a 10^5-point grid.
* ``data`` (items 2-3, :mod:`benchmarks.bench_data`, called through its ``main``): batched
  reference functions vs a scipy loop, encode + decode rates.
* ``models`` (item 4, :mod:`benchmarks.bench_models`, called through its ``run``): transformer
  training tokens/s, greedy decoding with and without the KV cache, MLP training.

Threads: ``--threads N`` sets ``torch.set_num_threads(N)`` for every group; without it each group
uses its own default (1 for constructive, bounds and data; 2, both cores, for models, as issue 7
asks for the reference configuration). Each group's JSON goes to ``DIR/<group>.json`` and all of
them, with the summary rows, to ``DIR/all.json`` (DIR defaults to benchmarks/results).

    python -m benchmarks --only models --against-lawt LAWT_DIR [--force] [--rounds N] [--threads N]

runs, instead of the groups, our reference transformer side by side with Charton's LAWT code
(issue 13, :mod:`benchmarks.against_lawt`) and writes ``DIR/lawt.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script, python benchmarks/run.py: same as python -m benchmarks
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.run import main

    raise SystemExit(main())

import torch  # noqa: E402

from .timing import environment, row  # noqa: E402

__all__ = ["GROUPS", "DEFAULT_THREADS", "run_group", "run", "format_table", "main"]

GROUPS = ("constructive", "bounds", "data", "models")
DEFAULT_THREADS = {"constructive": 1, "bounds": 1, "data": 1, "models": 2}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _data_rows(res: dict) -> list[dict]:
    rows = [
        row(
            "2 data",
            f"{r['function']} n={res['settings']['n']} B={res['settings']['batch']}",
            "batched vs scipy loop (x faster)",
            r["ratio"],
            "x",
            20.0,
        )
        for r in res["functions"]
    ]
    rows += [
        row(
            "3 encodings",
            r["encoding"],
            "encode+decode matrices/s",
            r["encode_decode_matrices_per_s"],
            "mat/s",
        )
        for r in res["encodings"]
    ]
    return rows


def _models_rows(res: dict) -> list[dict]:
    from . import bench_models

    rows = []
    for name, r in res["transformer"].items():
        for metric, unit in (
            ("train_tokens_per_s", "tok/s"),
            ("decode_cached_matrices_per_s", "mat/s"),
            ("decode_uncached_matrices_per_s", "mat/s"),
            ("kv_cache_speedup", "x"),
        ):
            rows.append(
                row(
                    "4 models",
                    f"transformer {name}",
                    metric,
                    r[metric],
                    unit,
                    bench_models.TARGETS.get((name, metric)),
                )
            )
    for name, r in res["mlp"].items():
        rows.append(row("4 models", f"mlp {name}", "train_examples_per_s", r["train_examples_per_s"], "ex/s"))
    return rows


def run_group(group: str, quick: bool, results_dir: Path) -> dict:
    """Run one group with the current torch thread count; returns its JSON-ready dict."""
    if group == "constructive":
        from . import bench_constructive

        return bench_constructive.run(quick=quick)
    if group == "bounds":
        from . import bench_bounds

        return bench_bounds.run(quick=quick)
    if group == "data":
        from . import bench_data

        out = results_dir / "data.json"
        argv = ["--out", str(out), "--threads", str(torch.get_num_threads())]
        if quick:
            argv += ["--batch", "200", "--scipy-subset", "20", "--repeats", "1", "--accuracy-samples", "0"]
        if bench_data.main(argv) != 0:
            raise RuntimeError("bench_data.main failed")
        res = json.loads(out.read_text())
        return {"group": "data", **res, "rows": _data_rows(res)}
    if group == "models":
        from . import bench_models

        res = bench_models.run(list(bench_models.CONFIGS), torch.get_num_threads(), quick)
        return {"group": "models", **res, "rows": _models_rows(res)}
    raise ValueError(f"unknown group {group!r}; known: {', '.join(GROUPS)}")


def run(
    groups: list[str], quick: bool = False, threads: int | None = None, results_dir: Path = RESULTS_DIR
) -> dict:
    """Run the groups in order, write ``<group>.json`` and ``all.json``; returns the combined dict.

    With a subset of the groups, ``all.json`` keeps the other groups of its previous version.

    A group that raises is recorded with its traceback and the others still run.
    """
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group(s) {unknown}; known: {', '.join(GROUPS)}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    results_dir.mkdir(parents=True, exist_ok=True)
    combined = {"environment": environment(), "quick": quick, "threads": {}, "groups": {}, "errors": {}}
    t_start = time.perf_counter()
    for group in groups:
        n_threads = threads if threads is not None else DEFAULT_THREADS[group]
        torch.set_num_threads(n_threads)
        combined["threads"][group] = n_threads
        t0 = time.perf_counter()
        try:
            res = run_group(group, quick, results_dir)
        except Exception as exc:  # keep the other groups' results
            combined["errors"][group] = "".join(traceback.format_exception(exc))
            print(f"group {group} failed:\n{combined['errors'][group]}", file=sys.stderr)
            continue
        if quick:  # tiny sizes: the targets are for the full sizes
            res["rows"] = [dict(r, target=None, met=None) for r in res["rows"]]
        res["threads"] = n_threads
        res["group_wall_s"] = time.perf_counter() - t0
        (results_dir / f"{group}.json").write_text(json.dumps(res, indent=2) + "\n")
        combined["groups"][group] = res
    all_path = results_dir / "all.json"
    if set(groups) != set(GROUPS) and all_path.is_file():
        # --only: keep the other groups of the previous record (each carries its own environment)
        previous = json.loads(all_path.read_text())
        if previous.get("quick") == quick:
            for g, res in previous.get("groups", {}).items():
                if g not in combined["groups"] and g not in combined["errors"]:
                    combined["groups"][g] = res
                    combined["threads"][g] = previous.get("threads", {}).get(g)
            order = {g: i for i, g in enumerate(GROUPS)}
            combined["groups"] = dict(sorted(combined["groups"].items(), key=lambda kv: order.get(kv[0], 99)))
    combined["rows"] = [dict(r, group=g) for g, res in combined["groups"].items() for r in res["rows"]]
    combined["wall_s"] = time.perf_counter() - t_start
    combined["load_average_after"] = environment()["load_average_1_5_15min"]
    (results_dir / "all.json").write_text(json.dumps(combined, indent=2) + "\n")
    return combined


def _fmt(v: float) -> str:
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:.3g}"


def format_table(combined: dict) -> str:
    env = combined["environment"]
    lines = [
        f"# {env['cpu']}, {env['cpu_count']} CPUs, torch {env['torch']}, threads {combined['threads']}",
        f"# load average (1, 5, 15 min) at start {env['load_average_1_5_15min']}, "
        f"at end {combined['load_average_after']}",
        f"{'item':<15}{'case':<44}{'metric':<36}{'value':>10} {'unit':<6}{'target':>8}  met",
    ]
    for r in combined["rows"]:
        target = (
            "" if r["target"] is None else ("<" if not r["higher_is_better"] else ">=") + _fmt(r["target"])
        )
        met = {None: "", True: "yes", False: "NO"}[r["met"]]
        lines.append(
            f"{r['item']:<15}{r['case'][:43]:<44}{r['metric'][:35]:<36}"
            f"{_fmt(r['value']):>10} {r['unit']:<6}{target:>8}  {met}"
        )
    for g in combined["errors"]:
        lines.append(f"{g}: FAILED (traceback in all.json)")
    return "\n".join(lines)


def markdown_table(combined: dict) -> str:
    """The summary rows as a Markdown table (for benchmarks/README.md)."""
    lines = [
        "| item | case | metric | value | target | met |",
        "|---|---|---|---:|---:|:---:|",
    ]
    for r in combined["rows"]:
        target = ""
        if r["target"] is not None:
            target = ("&ge; " if r["higher_is_better"] else "< ") + _fmt(r["target"])
        met = {None: "", True: "yes", False: "**no**"}[r["met"]]
        lines.append(
            f"| {r['item']} | {r['case']} | {r['metric']} | {_fmt(r['value'])} {r['unit']} "
            f"| {target} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        metavar="GROUP",
        help=f"groups to run, of {', '.join(GROUPS)} (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for every group (default: per group, see module doc)",
    )
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="ALL_JSON",
        help="print the table of an existing all.json as Markdown and exit (runs nothing)",
    )
    p.add_argument(
        "--against-lawt",
        type=Path,
        metavar="LAWT_DIR",
        help="time our reference transformer side by side with LAWT's code in LAWT_DIR instead of "
        "running the groups (benchmarks/against_lawt.py; set-up: shared/bench/README.md)",
    )
    p.add_argument(
        "--rounds", type=int, default=3, help="with --against-lawt: interleaved rounds (default 3)"
    )
    p.add_argument("--force", action="store_true", help="with --against-lawt: measure even on a busy machine")
    args = p.parse_args(argv)
    if args.against_lawt is not None:
        if args.only not in (None, ["models"]):
            p.error("--against-lawt times the models only; use --only models or leave --only out")
        if args.rounds < 1 or (args.threads is not None and args.threads < 1):
            p.error("--rounds and --threads must be >= 1")
        from . import against_lawt

        return against_lawt.measure_and_write(
            args.against_lawt,
            args.results_dir / "lawt.json",
            args.rounds,
            args.threads if args.threads is not None else DEFAULT_THREADS["models"],
            args.quick,
            args.force,
        )
    if args.markdown is not None:
        print(markdown_table(json.loads(args.markdown.read_text())))
        return 0
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    combined = run(args.only or list(GROUPS), args.quick, args.threads, args.results_dir)
    print()
    print(format_table(combined))
    print(f"wrote {args.results_dir / 'all.json'}")
    return 1 if combined["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
