"""Figures of the study across functions and encodings (results/study), drawn from run records.

Figure 5 is the function x model grid: per cell the accuracy within 5% of every seed, shown as
the median with the [min, max] across seeds. Figure 8 is accuracy against training step per
encoding, one panel per function (periodic evaluations on the first eval_size test matrices,
the last point on the full test set). Figure 11 shows, per function, every seed of the best
encoding and every attempt made where it fell short of the target (tagged runs: longer schedule,
wider model, curriculum, ..., model selection on a validation set, starred where it delivered an
earlier step), against training step: whether a seed learns the function, and whether
more steps or a larger model change that. Figure 12 sets, per analysed transformer run, its
accuracy within 5% when every token is predicted from the true earlier tokens (teacher-forced,
as in training) against greedy decoding's (``analysis.json``, experiments.token_loss): points
far above the diagonal are runs that lean on true earlier entries they do not have at inference.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.run_index import run_curve  # noqa: E402
from experiments.study_table import FUNCTION_ORDER, best_per_function, cells_of_runs  # noqa: E402

__all__ = [
    "MODELS",
    "figure_accuracy_vs_steps",
    "figure_forced_vs_greedy",
    "figure_function_encoding_grid",
    "figure_seeds_and_attempts",
]

MODELS = ("P10", "P1000", "B1999", "FP15", "mlp")
ENCODING_COLOR = {
    "P10": "tab:blue",
    "P1000": "tab:orange",
    "B1999": "tab:green",
    "FP15": "tab:red",
    "mlp": "tab:gray",
}
# Tags of the plan that are not attempts at the target: fp32 is the precision ablation.
ABLATION_TAGS = ("fp32",)
ATTEMPT_COLOR = {
    "long": "black",
    "wide": "tab:purple",
    "curriculum": "tab:brown",
    "mantissa": "tab:cyan",
    "sampling": "tab:pink",
    "select": "tab:olive",
}
FUNCTION_COLOR = {
    "exp": "tab:orange",
    "sign": "tab:blue",
    "sin": "tab:green",
    "cos": "tab:red",
    "log": "tab:purple",
}


LINESTYLES = ("-", "--", ":", "-.")


def _main_grid(cells) -> dict:
    """Cells of the plan's main grid (no tag), by (function, model)."""
    grid = {(c.function, c.model): c for c in cells if not c.tag}
    if not grid:
        raise FileNotFoundError(2, "no finished study runs", "results/study/<f>-<model>-s<seed>/results.json")
    return grid


def _functions(names) -> list[str]:
    """The distinct function names in ``names``, in the study's order."""
    found = set(names)
    return [f for f in FUNCTION_ORDER if f in found] + sorted(found - set(FUNCTION_ORDER))


def _panel_row(k: int, size: float):
    """A row of k square panels sharing the accuracy axis; returns (figure, list of axes)."""
    fig, axes = plt.subplots(1, k, layout="constrained", figsize=(size * k, size), squeeze=False, sharey=True)
    return fig, list(axes[0])


def figure_function_encoding_grid(run_dirs: list[Path]):
    """Fig. 5: accuracy within 5% per function (rows) and model (columns), median [min, max] over
    seeds; an empty cell was not run. Returns the figure (experiments.figures saves it)."""
    cells = _main_grid(cells_of_runs(run_dirs))
    functions = _functions(f for f, _ in cells)
    grid = np.full((len(functions), len(MODELS)), np.nan)
    fig, ax = plt.subplots(layout="constrained", figsize=(6.4, 0.75 * len(functions) + 1.4))
    for i, f in enumerate(functions):
        for j, m in enumerate(MODELS):
            c = cells.get((f, m))
            if c is None:
                ax.text(j, i, "not run\nyet", ha="center", va="center", fontsize=7, color="0.5")
                continue
            accs = [100 * a for a in c.accuracies("0.05")]
            grid[i, j] = statistics.median(accs)
            text = f"{grid[i, j]:.1f}"
            if len(accs) > 1:
                text += f"\n[{min(accs):.1f}, {max(accs):.1f}]"
            text += f"\n{len(accs)} seed" + ("s" if len(accs) > 1 else "")
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="black" if grid[i, j] > 35 else "white",
            )
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(MODELS)), [m if m != "mlp" else "ReLU MLP" for m in MODELS])
    dists = {f: next(c.distribution for (g, _), c in cells.items() if g == f) for f in functions}
    ax.set_yticks(range(len(functions)), [f"{f}\n({dists[f]})" for f in functions], fontsize=8)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="test matrices within 5% (%)")
    ax.set_title("3x3: accuracy within 5% (median [min, max] over seeds)")
    return fig


def figure_accuracy_vs_steps(run_dirs: list[Path]):
    """Fig. 8: accuracy within 5% against training step, one panel per function, one line per
    encoding (the median seed's run) and the MLP. Returns the figure."""
    cells = _main_grid(cells_of_runs(run_dirs))
    functions = _functions(f for f, _ in cells)
    fig, axes = _panel_row(len(functions), 2.9)
    for ax, f in zip(axes, functions, strict=True):
        for m in MODELS:
            c = cells.get((f, m))
            if c is None:
                continue
            mid = c.median_seed()
            run_dir = c.dirs[c.results.index(mid)]
            curve = run_curve(run_dir)
            ax.plot(
                curve.steps,
                [100 * a for a in curve.acc5],
                marker=".",
                ms=3,
                color=ENCODING_COLOR[m],
                label=m if m != "mlp" else "ReLU MLP",
            )
        dist = next(c.distribution for (g, _), c in cells.items() if g == f)
        ax.set_title(f"{f} ({dist})", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-2, 102)
    axes[0].set_ylabel("within 5% (%)")
    axes[0].legend(fontsize=7)
    return fig


def _selected_point(run_dir: Path) -> tuple[int, float] | None:
    """(selected step, its test accuracy within 5%) of a run that selected an earlier step on its
    validation set (train.validation_size), else None: its curve shows the last model's path."""
    res = json.loads((Path(run_dir) / "results.json").read_text())
    sel = res.get("selection")
    if not sel or sel["step"] == sel["last_step"]:
        return None
    return sel["step"], res["final"]["l1"]["accuracy"]["0.05"]["acc"]


def figure_seeds_and_attempts(run_dirs: list[Path]):
    """Fig. 11: accuracy within 5% against training step, one panel per function, a line per seed
    of the function's best transformer encoding (highest median over seeds) and per attempt
    (tagged runs other than the fp32 ablation). A run that delivers the weights selected on a
    validation set gets a star at the selected step, at the delivered model's test accuracy.
    Returns the figure."""
    cells = cells_of_runs(run_dirs)
    best = best_per_function(list(_main_grid(cells).values()))
    attempts = [c for c in cells if c.tag and c.tag not in ABLATION_TAGS and c.model != "mlp"]
    functions = _functions(best)
    fig, axes = _panel_row(len(functions), 3.1)
    for ax, f in zip(axes, functions, strict=True):
        b = best[f]
        lines = [
            (
                d,
                f"{b.model} s{seed}",
                {"ls": LINESTYLES[i % len(LINESTYLES)], "lw": 1, "color": ENCODING_COLOR[b.model]},
            )
            for i, (seed, d) in enumerate(zip(b.seeds, b.dirs, strict=True))
        ]
        lines += [
            (
                d,
                f"{c.model} {c.tag} s{seed}",
                {
                    "lw": 1.6,
                    "ls": LINESTYLES[i % len(LINESTYLES)],  # seeds of one attempt share its colour
                    "color": ATTEMPT_COLOR.get(c.tag, "tab:olive"),
                },
            )
            for c in attempts
            if c.function == f
            for i, (seed, d) in enumerate(zip(c.seeds, c.dirs, strict=True))
        ]
        for run_dir, label, style in lines:
            curve = run_curve(run_dir)
            ax.plot(curve.steps, [100 * a for a in curve.acc5], label=label, **style)
            delivered = _selected_point(run_dir)
            if delivered is not None:
                step, acc = delivered
                ax.plot(
                    [step],
                    [100 * acc],
                    marker="*",
                    ms=9,
                    ls="none",
                    color=style["color"],
                    label=f"{label}: delivered (step {step})",
                )
        ax.axhline(90, color="0.6", lw=0.6, ls=":")
        ax.set_title(f"{f} ({b.distribution})", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("within 5% (%)")
    return fig


def forced_and_greedy(run_dirs: list[Path]) -> list[tuple[str, str, float, float]]:
    """(run, function, greedy accuracy within 5%, teacher-forced accuracy within 5%) of every run
    folder whose ``analysis.json`` holds the token breakdown, in the order given.

    Raises FileNotFoundError when none does (run ``python -m experiments analyze RUN``)."""
    points = []
    for d in run_dirs:
        path = Path(d) / "analysis.json"
        if not path.is_file():
            continue
        a = json.loads(path.read_text())
        if "teacher_forced_acc5" in a.get("tokens", {}):
            points.append((a["run"], a["function"], a["acc5"], a["tokens"]["teacher_forced_acc5"]))
    if not points:
        raise FileNotFoundError(2, "no analysis.json with the token breakdown", "<run>/analysis.json")
    return points


def figure_forced_vs_greedy(run_dirs: list[Path]):
    """Fig. 12: per analysed transformer run, accuracy within 5% teacher-forced (y) against greedy
    (x), coloured by function, each point named by its run; the diagonal marks equality."""
    points = forced_and_greedy(run_dirs)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.plot([0, 100], [0, 100], color="0.6", lw=0.8, ls=":")
    for f in FUNCTION_ORDER:
        mine = [p for p in points if p[1] == f]
        if not mine:
            continue
        x, y = [100 * p[2] for p in mine], [100 * p[3] for p in mine]
        ax.scatter(x, y, s=18, color=FUNCTION_COLOR.get(f, "0.3"), label=f, zorder=3)
        for (run, *_), xi, yi in zip(mine, x, y, strict=True):
            ax.annotate(run, (xi, yi), fontsize=5, xytext=(3, 2), textcoords="offset points")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("within 5%, greedy decoding (%)")
    ax.set_ylabel("within 5%, teacher-forced: each token after the true ones (%)")
    ax.legend(fontsize=7, loc="lower right")
    return fig
