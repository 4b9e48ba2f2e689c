"""The study table: one row per (function, model) across seeds, from finished run records.

A run folder is named ``<function>-<encoding or mlp>[-<tag>]-s<seed>`` (experiments.study); the
runs that differ only in the seed form one *cell*. For each cell and tolerance tau the table
gives the accuracy within tau of every seed (each on the same 1000 test matrices, so their 95%
Wilson intervals are comparable) as ``median [min, max]`` across seeds, and the interval of
the median seed. Nothing is re-run: the numbers are read from ``results.json``.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TOLERANCES",
    "Cell",
    "collect_cells",
    "cells_of_runs",
    "cell_table",
    "verdict_table",
    "study_readme",
]

TOLERANCES = ("0.05", "0.02", "0.01", "0.005")
_SEED = re.compile(r"^(?P<cell>.+)-s(?P<seed>\d+)$")
FUNCTION_ORDER = ("exp", "sign", "sin", "cos", "log", "sqrt")


@dataclass(frozen=True)
class Cell:
    """Finished runs of one (function, model[, tag]) with their seeds, sorted by seed."""

    name: str
    function: str
    distribution: str
    model: str  # encoding name or "mlp"
    seeds: tuple[int, ...]
    results: tuple[dict, ...]
    dirs: tuple[Path, ...] = ()

    @property
    def tag(self) -> str:
        """The plan's tag of this cell ('' for the main grid): the name is ``<function>-<model>[-<tag>]``."""
        return self.name[len(f"{self.function}-{self.model}") + 1 :]

    def accuracies(self, tau: str, norm: str = "l1") -> list[float]:
        return [r["final"][norm]["accuracy"][tau]["acc"] for r in self.results]

    def median_seed(self, tau: str = "0.05", norm: str = "l1") -> dict:
        """The run whose accuracy within tau is the median (the lower middle for even counts)."""
        order = sorted(range(len(self.results)), key=lambda i: self.accuracies(tau, norm)[i])
        return self.results[order[(len(order) - 1) // 2]]

    @property
    def cpu_hours(self) -> float:
        return (
            sum(r["record"]["wall_time_s"] * r["record"].get("torch_threads", 1) for r in self.results) / 3600
        )


def is_study_run(run_dir: str | Path) -> bool:
    """Whether a run folder follows the study's naming ``<function>-<model>[-<tag>]-s<seed>``."""
    return _SEED.match(Path(run_dir).name) is not None


def collect_cells(root: str | Path) -> list[Cell]:
    """Cells of the finished runs directly under ``root``, ordered by function then model."""
    return cells_of_runs(sorted(p.parent for p in Path(root).glob("*/results.json")))


def cells_of_runs(run_dirs: list[Path]) -> list[Cell]:
    """Cells of the given run folders (those named ``<cell>-s<seed>`` with a finished run)."""
    groups: dict[str, list[tuple[int, dict, Path]]] = {}
    for run_dir in run_dirs:
        path = Path(run_dir) / "results.json"
        m = _SEED.match(path.parent.name)
        if not path.is_file():
            continue
        try:
            res = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if m is None or res.get("status") != "finished":
            continue
        groups.setdefault(m["cell"], []).append((int(m["seed"]), res, Path(run_dir)))
    cells = []
    for name, runs in groups.items():
        runs.sort(key=lambda t: t[0])
        first = runs[0][1]
        model = first["encoding"] if first["model"] == "transformer" else "mlp"
        cells.append(
            Cell(
                name,
                first["function"],
                first["distribution"],
                model,
                tuple(s for s, _, _ in runs),
                tuple(r for _, r, _ in runs),
                tuple(d for _, _, d in runs),
            )
        )

    def key(c: Cell):
        f = FUNCTION_ORDER.index(c.function) if c.function in FUNCTION_ORDER else len(FUNCTION_ORDER)
        return (f, c.function, c.model == "mlp", c.name)

    return sorted(cells, key=key)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _spread(accs: list[float]) -> str:
    if len(accs) == 1:
        return _pct(accs[0])
    return f"{_pct(statistics.median(accs))} [{_pct(min(accs))}, {_pct(max(accs))}]"


def cell_table(cells: list[Cell], norm: str = "l1") -> str:
    """Markdown: per cell, seeds, steps, accuracy per tolerance (median [min, max] across seeds),
    the median seed's 95% Wilson interval within 5%, and its median relative error."""
    head = ["f (distribution)", "model", "run", "seeds", "steps"]
    head += [f"within {float(t) * 100:g}%" for t in TOLERANCES]
    head += ["95% CI within 5% (median seed)", "median rel. error (median seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        mid = c.median_seed("0.05", norm)
        lo, hi = mid["final"][norm]["accuracy"]["0.05"]["ci95"]
        med = mid["final"][norm]["quantiles"]["0.5"]
        row = [
            f"{c.function} ({c.distribution})",
            "MLP" if c.model == "mlp" else f"transformer {c.model}",
            c.name,
            ",".join(map(str, c.seeds)),
            ",".join(sorted({str(r["steps"]) for r in c.results})),
        ]
        row += [_spread(c.accuracies(t, norm)) for t in TOLERANCES]
        row += [f"[{_pct(lo)}, {_pct(hi)}]", f"{med:.3g}" if med is not None else "inf"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def best_per_function(cells: list[Cell]) -> dict[str, Cell]:
    """The transformer cell with the highest median accuracy within 5%, per function."""
    best: dict[str, Cell] = {}
    for c in cells:
        if c.model == "mlp":
            continue
        score = statistics.median(c.accuracies("0.05"))
        if c.function not in best or score > statistics.median(best[c.function].accuracies("0.05")):
            best[c.function] = c
    return best


def verdict_table(cells: list[Cell], target: float = 0.9, norm: str = "l1") -> str:
    """Markdown: per function, whether a transformer reaches ``target`` accuracy within 5%.

    Columns: the best transformer encoding of the main grid (untagged cells; highest median
    over seeds, as :func:`best_per_function`) with ``median [min, max]`` and how many of its
    seeds reach the target; the best single transformer run of any cell (attempts and ablations
    included) with its 95% Wilson interval; the MLP's ``median [min, max]``; and whether any
    transformer run reaches the target.
    """
    head = [
        "f (distribution)",
        "best encoding (main grid)",
        "within 5%: median [min, max]",
        f"its seeds at >= {100 * target:g}%",
        "best transformer run: within 5% [95% CI]",
        "MLP within 5%",
        f"a transformer run at >= {100 * target:g}%",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    grid = best_per_function([c for c in cells if not c.tag])
    functions = [f for f in FUNCTION_ORDER if f in grid] + sorted(set(grid) - set(FUNCTION_ORDER))
    for f in functions:
        best = grid[f]
        accs = best.accuracies("0.05", norm)
        runs = [
            (acc, d.name, r)
            for c in cells
            if c.function == f and c.model != "mlp"
            for acc, d, r in zip(c.accuracies("0.05", norm), c.dirs, c.results, strict=True)
        ]
        top_acc, top_name, top = max(runs, key=lambda t: t[0])
        lo, hi = top["final"][norm]["accuracy"]["0.05"]["ci95"]
        mlp = [c for c in cells if c.function == f and c.model == "mlp" and not c.tag]
        row = [
            f"{f} ({best.distribution})",
            best.model,
            _spread(accs),
            f"{sum(a >= target for a in accs)} of {len(accs)}",
            f"{top_name}: {_pct(top_acc)} [{_pct(lo)}, {_pct(hi)}]",
            _spread(mlp[0].accuracies("0.05", norm)) if mlp else "-",
            "yes" if top_acc >= target else "no",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def study_readme(root: str | Path, plan: str = "experiments/plans/study-3x3.json") -> str:
    """results/study/README.md, generated from the run records under ``root``."""
    cells = collect_cells(root)
    runs = [r for c in cells for r in c.results]
    hours = sum(c.cpu_hours for c in cells)
    machines = sorted({f"{r['record'].get('cpu')} ({r['record'].get('cpu_count')} cores)" for r in runs})
    versions = sorted({f"python {r['record'].get('python')}, torch {r['record'].get('torch')}" for r in runs})
    lines = [
        "# The study across functions and encodings (3x3)",
        "",
        "Generated by `python -m experiments summarize results/study --write-readme` from the run",
        "records in this folder; do not edit by hand (a test compares it with the records).",
        "",
        f"Runs: `python -m experiments study {plan}` (two one-thread runs side by side; finished runs",
        "are skipped, interrupted ones resume from their checkpoint). Each run trains for a fixed",
        "number of steps (`decay_over=steps`), so its result does not depend on the machine's load.",
        "Every run of a function is scored on the same 1000 test matrices (`test_seed` 20261129),",
        "drawn from the function's well-posed default distribution (named in the first column).",
        "Accuracy within tau is the share of test matrices whose relative l1 error",
        "||P - f(A)||_1 / ||f(A)||_1 (entrywise) is below tau; an invalid decoded sequence counts as a miss.",
        "Cells with several seeds show `median [min, max]` across seeds.",
        "",
        f"Finished runs: {len(runs)}, {hours:.1f} thread-hours (wall time x torch threads) on "
        f"{', '.join(machines) or '-'}; {', '.join(versions) or '-'}.",
        "",
        cell_table(cells).rstrip(),
        "",
        "Per function: does a transformer reach 90% of the test matrices within 5%? The best",
        "encoding of the main grid (untagged rows; highest median over seeds) and the best single",
        "transformer run of any row, attempts included:",
        "",
        verdict_table(cells).rstrip(),
    ]
    return "\n".join(lines) + "\n"
