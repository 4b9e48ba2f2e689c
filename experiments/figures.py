"""Figures of the study, drawn only from result files (never by re-running training).

Each ``figure_*`` function reads the JSON written by ``python -m experiments reproduce`` (or by
training runs) and saves ``figures/<name>.png`` and ``.pdf``. :data:`FIGURES` lists them with the
one-line captions used in ``figures/README.md``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["FIGURES", "draw_all", "load_json"]

_REPO = Path(__file__).resolve().parent.parent

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 200,
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": 8,
        "axes.titlesize": 10,
    }
)
METHOD_STYLE = {
    "horner": ("tab:blue", "o"),
    "scaling_squaring": ("tab:red", "s"),
    "paterson_stockmeyer": ("tab:green", "^"),
}
from experiments.figures_study import ENCODING_COLOR  # noqa: E402  (one colour per encoding everywhere)


def load_json(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out_dir / f"{name}.{ext}"
        fig.savefig(p, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


FUNCTION_COLOR = {
    "exp": "tab:red",
    "sin": "tab:blue",
    "cos": "tab:cyan",
    "sinh": "tab:purple",
    "cosh": "tab:pink",
    "pow": "tab:olive",
    "inverse": "tab:brown",
    "sqrt": "tab:orange",
    "log": "tab:green",
    "sign": "tab:gray",
}


def _functions_bounds_row(axes, rows: list[dict]) -> None:
    """Figure 1's second row: every function's proven counts against 1/eps at one n (n = 3 if there)."""
    ns = sorted({r["n"] for r in rows})
    n = 3 if 3 in ns else ns[-1]
    for f in dict.fromkeys(r["function"] for r in rows):
        sel = sorted((r for r in rows if r["function"] == f and r["n"] == n), key=lambda r: -r["eps"])
        dom = ", ".join(f"{k}={v:g}" for k, v in sel[0]["domain"].items())
        for ax, key in zip(axes, ("width", "depth", "params"), strict=True):
            ax.plot(
                [1 / r["eps"] for r in sel],
                [r[key] for r in sel],
                marker=".",
                ms=4,
                color=FUNCTION_COLOR.get(f),
                ls="--" if f in ("sinh", "cosh") else "-",  # the same counts as sin, cos
                label=f"{f} ({dom})",
            )
    for ax, key in zip(axes, ("width", "depth", "params"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("1 / eps")
        ax.set_ylabel(key)
        ax.set_title(f"every function, n = {n}", fontsize=9)


def figure_bounds(results: Path, out: Path) -> list[Path]:
    """Fig. 1: width, depth, params of the proven networks against 1/eps, n in {2,3,5,10}; a second row
    with every registered function (bounds.choose_for) when functions_bounds.json is there."""
    data = load_json(results / "bounds_grid.json")
    by = defaultdict(list)
    for row in data["rows"]:
        by[row["method"], row["n"]].append(row)
    others = results / "functions_bounds.json"
    rows2 = load_json(others)["rows"] if others.is_file() else []
    fig, axes = plt.subplots(
        2 if rows2 else 1, 3, layout="constrained", figsize=(11.5, 7.0 if rows2 else 3.4), squeeze=False
    )
    if rows2:
        _functions_bounds_row(axes[1], rows2)
    axes = axes[0]
    ns = sorted({n for _, n in by})
    for (method, n), rows in sorted(by.items()):
        rows.sort(key=lambda r: -r["eps"])
        inv = [1 / r["eps"] for r in rows]
        color, marker = METHOD_STYLE.get(method, ("k", "x"))
        alpha = 0.35 + 0.65 * (ns.index(n) + 1) / len(ns)
        for ax, key in zip(axes, ("width", "depth", "params"), strict=True):
            ax.plot(
                inv,
                [r[key] for r in rows],
                marker=marker,
                ms=3,
                color=color,
                alpha=alpha,
                label=f"{method.replace('_', ' ')}, n={n}",
            )
    for ax, key in zip(
        axes,
        ("width (largest hidden layer)", "depth (hidden layers)", "params (nonzero weights + biases)"),
        strict=True,
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("1 / eps")
        ax.set_ylabel(key)
    handles, labels = axes[0].get_legend_handles_labels()
    if rows2:  # one legend per row, right of it
        fig.legend(handles, labels, loc="outside right upper", fontsize=6, title="exp", title_fontsize=7)
        h2, l2 = fig.axes[3].get_legend_handles_labels()
        fig.legend(h2, l2, loc="outside right lower", fontsize=6, title="f (domain)", title_fontsize=7)
    else:
        fig.legend(handles, labels, loc="outside lower center", ncol=6, fontsize=6)
    fig.suptitle(
        f"Proven ReLU network size for exp(A), ||A||_2 <= {data['radius']:g} (Frobenius error <= eps)"
        + ("; below: every function" if rows2 else ""),
        x=0.42 if rows2 else 0.5,
    )
    return _save(fig, out, "fig1_bounds")


def figure_constructive_error(results: Path, out: Path) -> list[Path]:
    """Fig. 2: worst measured error of the built networks against eps; every point lies under y = eps.
    Left: exp networks (Methods H, SS, PS); right: sign networks (docs/sign_network.md), if checked."""
    data = load_json(results / "constructive_check.json")
    sign_path = results / "sign_check.json"
    panels = [("exp(A), ||A||_2 <= r", data["rows"], "method")]
    if sign_path.is_file():
        panels.append(("sign(A), ||I - A^2||_2 <= rho", load_json(sign_path)["rows"], "rho"))
    functions_path = results / "functions_check.json"
    if functions_path.is_file():  # every registered function (theory_study.functions_grid)
        rows = load_json(functions_path)["rows"]
        ball = [r for r in rows if "r" in r["domain"]]
        near = [r for r in rows if "rho" in r["domain"]]
        if ball:
            panels.append(("f(A) on ||A||_2 <= r (constructive.network)", ball, "function"))
        if near:
            panels.append(("||I - A||_2 <= rho (sign: ||I - A^2||_2 <= rho)", near, "function"))
    cols = min(len(panels), 2)
    rows_ = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows_, cols, layout="constrained", figsize=(4.8 * cols, 3.8 * rows_), squeeze=False
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, rows, key) in zip(axes.flat, panels, strict=False):
        for group in sorted({r[key] for r in rows}):
            sel = [r for r in rows if r[key] == group]
            if key == "method":
                color, marker = METHOD_STYLE.get(group, ("k", "x"))
                label = group.replace("_", " ")
            elif key == "function":
                dom = ", ".join(f"{k}={v:g}" for k, v in sel[0]["domain"].items())
                color, marker, label = FUNCTION_COLOR.get(group), "o", f"{group} ({dom})"
            else:
                color, marker, label = None, "D", f"rho = {group:g}"
            ax.scatter(
                [r["eps"] for r in sel],
                [max(r["worst_error"], 1e-17) for r in sel],
                s=14,
                color=color,
                marker=marker,
                alpha=0.7,
                label=f"{label} (worst found)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axline((1e-3, 1e-3), (1e-1, 1e-1), color="k", lw=1, label="error = eps")
        ax.set_xlabel("eps (guaranteed Frobenius error)")
        ax.set_ylabel("worst measured Frobenius error")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle("Built networks keep their promise (random, boundary, structured, adversarial inputs)")
    return _save(fig, out, "fig2_constructive_error")


def figure_squaring(results: Path, out: Path) -> list[Path]:
    """Fig. 3: Yarotsky's f_m against x^2 for m = 1..4, and max |f_m - x^2| against m with 4^-(m+1)."""
    data = load_json(results / "squaring.json")
    fig, (a, b) = plt.subplots(1, 2, layout="constrained", figsize=(8.5, 3.3))
    x = data["x"]
    a.plot(x, [t * t for t in x], "k-", lw=1.5, label="x^2")
    for m, ys in data["curves"].items():
        a.plot(x, ys, lw=1, label=f"f_{m}")
    a.set_xlabel("x")
    a.set_ylabel("value")
    a.legend()
    a.set_title("Squaring network (Lemma 1)")
    ms = [r["m"] for r in data["errors"]]
    b.semilogy(ms, [r["max_error"] for r in data["errors"]], "o", ms=4, label="measured max |f_m(x) - x^2|")
    if "exact_midpoint_error" in data["errors"][0]:
        b.semilogy(
            ms,
            [r["exact_midpoint_error"] for r in data["errors"]],
            "s",
            ms=6,
            mfc="none",
            color="tab:red",
            label="exact arithmetic at x = 2^-(m+1)",
        )
    b.semilogy(ms, [r["bound"] for r in data["errors"]], "k-", lw=1, label="4^-(m+1)")
    b.set_xlabel("m (hidden layers)")
    b.set_ylabel("max error on [0, 1]")
    b.legend()
    b.set_title("Error against depth: float64 floors, exact arithmetic does not")
    return _save(fig, out, "fig3_squaring")


def _record_file(results: Path, name: str) -> Path | None:
    """``<name>.json`` in ``results``, else in the sibling ``<name>/`` folder (runs/reproduce ->
    runs/<name>: a user's fresh output), else the committed reference ``results/<name>/``."""
    for p in (
        results / f"{name}.json",
        results.parent / name / f"{name}.json",
        _REPO / "results" / name / f"{name}.json",
    ):
        if p.is_file():
            return p
    return None


def compare_functions_file(results: Path) -> Path | None:
    """compare_functions.json for figure 4's per-function panels (see _record_file)."""
    return _record_file(results, "compare_functions")


def _error_vs_params_panel(ax, rows: list[dict], title: str, norm: str) -> None:
    kinds = {"constructive": ("tab:blue", "o"), "mlp": ("tab:gray", "s"), "transformer": ("tab:orange", "^")}
    for kind, (color, marker) in kinds.items():
        sel = [r for r in rows if r["kind"] == kind and r["params"]]
        if not sel:
            continue
        for key, filled in (("median_rel_error", True), ("worst_rel_error", False)):
            pts = [r for r in sel if r[key] is not None]  # None: an invalid (undecodable) prediction
            style = {"color": color} if filled else {"facecolors": "none", "edgecolors": color}
            ax.scatter(
                [r["params"] for r in pts],
                [max(r[key], 1e-17) for r in pts],
                marker=marker,
                s=22,
                label=f"{kind}: {key.split('_')[0]}",
                **style,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (nonzero weights + biases)")
    ax.set_ylabel(f"relative error ({norm} norm)")
    ax.set_title(title, fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def _function_panels(axes, data: dict) -> None:
    """One panel per function of compare_functions.json: the constructive rows beside the trained
    models scored on the same matrices (the domain subset where the domain leaves some out)."""
    for ax, (f, d) in zip(axes, data["functions"].items(), strict=False):
        size, inside = d["test_set"]["size"], d["inside"]
        same = "all" if inside == size else "domain"
        rows = [r for r in d["rows"] if r["matrices"] == same]
        where = f"all {size}" if same == "all" else f"{inside} of {size} in {d['domain_text']}"
        _error_vs_params_panel(ax, rows, f"{f}: study test set, {where}", data.get("norm", "l1"))


def figure_error_vs_params(results: Path, out: Path) -> list[Path]:
    """Fig. 4: median and worst relative error against parameter count, constructive vs trained;
    one more panel per function when compare_functions.json is there (compare_functions_file)."""
    data = load_json(results / "compare.json")
    cf_path = compare_functions_file(results)
    cf = load_json(cf_path) if cf_path else {"functions": {}}
    panels = 1 + len(cf["functions"])
    cols = min(panels, 3)
    fig, axes = plt.subplots(
        -(-panels // cols),
        cols,
        layout="constrained",
        figsize=(5.2 * cols, 3.8 * -(-panels // cols)),
        squeeze=False,
    )
    for extra in axes.flat[panels:]:
        extra.set_visible(False)
    _function_panels(list(axes.flat)[1:], cf)
    title = f"exp on the shared test set: {data['test_set']['description']}"
    _error_vs_params_panel(axes.flat[0], data["rows"], title, data.get("norm", "l1"))
    return _save(fig, out, "fig4_error_vs_params")


def figure_error_distribution(results: Path, out: Path) -> list[Path]:
    """Fig. 7: distribution of per-matrix relative errors per model on the shared test set."""
    data = load_json(results / "compare.json")
    rows = [r for r in data["rows"] if r.get("rel_errors")]
    fig, ax = plt.subplots(layout="constrained", figsize=(max(5.0, 0.55 * len(rows) + 2), 3.8))
    vals = [[max(e, 1e-17) for e in r["rel_errors"] if e is not None] or [float("nan")] for r in rows]
    labels = []
    for r in rows:
        invalid = sum(e is None for e in r["rel_errors"])
        labels.append(r["name"] + (f" ({invalid} invalid)" if invalid else ""))
    ax.boxplot(vals, whis=(0, 100), showfliers=False)
    ax.set_xticks(range(1, len(rows) + 1), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    for t, ls in ((0.05, "--"), (0.005, ":")):
        ax.axhline(t, color="k", lw=0.8, ls=ls, label=f"{t:.1%} tolerance")
    ax.set_ylabel(f"relative error ({data.get('norm', 'l1')} norm)")
    ax.set_title("Relative error per test matrix (box: quartiles, whiskers: min-max)")
    ax.legend(fontsize=7)
    return _save(fig, out, "fig7_error_distribution")


def _run_results(run_dirs: list[Path]) -> list[tuple[Path, dict, dict]]:
    found = []
    for d in run_dirs:
        if (d / "results.json").is_file() and (d / "config.json").is_file():
            found.append((d, load_json(d / "results.json"), load_json(d / "config.json")))
    return found


def _groups(runs: list[dict]) -> list[tuple[str, str]]:
    """(function, training distribution) pairs, sorted; a model is judged on its own distribution."""
    return sorted({(r["function"], r["distribution"]) for r in runs})


def _run_label(s: dict) -> str:
    return s["label"] if s["label"] != "mlp" else f"MLP ({s['run']})"


def figure_study_grid(results: Path, out: Path, run_dirs: list[Path]) -> list[Path]:
    """Fig. 5: the function x encoding grid of the study (experiments.figures_study)."""
    from experiments.figures_study import figure_function_encoding_grid

    return _save(figure_function_encoding_grid(run_dirs), out, "fig5_accuracy_by_encoding")


def figure_study_steps(results: Path, out: Path, run_dirs: list[Path]) -> list[Path]:
    """Fig. 8: accuracy against training step per encoding (experiments.figures_study)."""
    from experiments.figures_study import figure_accuracy_vs_steps

    return _save(figure_accuracy_vs_steps(run_dirs), out, "fig8_accuracy_vs_steps")


def figure_study_attempts(results: Path, out: Path, run_dirs: list[Path]) -> list[Path]:
    """Fig. 11: every seed of each function's best encoding and every attempt (experiments.figures_study)."""
    from experiments.figures_study import figure_seeds_and_attempts

    return _save(figure_seeds_and_attempts(run_dirs), out, "fig11_seeds_and_attempts")


def figure_study_forced(results: Path, out: Path, run_dirs: list[Path]) -> list[Path]:
    """Fig. 12: teacher-forced against greedy accuracy of the analysed runs (experiments.figures_study)."""
    from experiments.figures_study import figure_forced_vs_greedy

    return _save(figure_forced_vs_greedy(run_dirs), out, "fig12_forced_vs_greedy")


def figure_learning_curves(results: Path, out: Path, run_dirs: list[Path]) -> list[Path]:
    """Fig. 6: accuracy within 5% (top) and median relative error (bottom) against training step,
    one column per (function, training distribution), one line per run."""
    from experiments.run_index import run_curve, run_summary
    from experiments.study_table import is_study_run

    run_dirs = [d for d in run_dirs if not is_study_run(d)]  # the study's curves are figure 8
    runs = [(d, s) for d, s in ((d, run_summary(d)) for d in run_dirs) if s is not None]
    groups = _groups([s for _, s in runs]) or [("exp", "uniform")]
    fig, axes = plt.subplots(
        2, len(groups), layout="constrained", figsize=(3.6 * len(groups), 5.4), squeeze=False, sharex="col"
    )
    for col, (f, dist) in enumerate(groups):
        top, bottom = axes[0][col], axes[1][col]
        for d, s in runs:
            if (s["function"], s["distribution"]) != (f, dist):
                continue
            curve = run_curve(d)
            if not curve.steps:
                continue
            style = {"marker": ".", "ms": 3, "color": ENCODING_COLOR.get(s["label"]), "label": _run_label(s)}
            if s["label"] == "mlp":
                style["ls"] = ["-", "--", ":", "-."][
                    sum(1 for _, t in runs if t["label"] == "mlp" and t["run"] < s["run"]) % 4
                ]
            top.plot(curve.steps, [100 * a for a in curve.acc5], **style)
            pts = [(st, m) for st, m in zip(curve.steps, curve.median, strict=True) if m is not None]
            bottom.plot([p[0] for p in pts], [p[1] for p in pts], **style)
        top.set_title(f"{f} ({dist})")
        top.set_ylabel("within 5% (%)")
        top.set_ylim(0, 100)
        top.legend(fontsize=6)
        bottom.set_yscale("log")
        bottom.set_xlabel("training step")
        bottom.set_ylabel("median relative error (l1)")
    fig.suptitle("Learning curves (periodic test evaluation)")
    return _save(fig, out, "fig6_learning_curves")


def figure_authors_sweep(results: Path, out: Path) -> list[Path]:
    """Fig. 9: accuracy within 5% against training-set size, the authors' MLP protocol beside ours,
    read from results/authors_sweep (experiments.authors_sweep); skipped when it holds no records."""
    from experiments.authors_sweep import REFERENCE_DIR, figure_accuracy_vs_size

    return _save(figure_accuracy_vs_size(REFERENCE_DIR), out, "fig9_authors_sweep")


def generalisation_file(results: Path) -> Path | None:
    """generalisation.json for figure 10 (see _record_file)."""
    return _record_file(results, "generalisation")


def figure_generalisation(results: Path, out: Path) -> list[Path]:
    """Fig. 10: accuracy within 5% of every shipped model on every matrix class, unscaled and scaled
    (experiments.generalisation); skipped when generalisation_file finds no record."""
    from experiments.generalisation import figure_heatmap

    path = generalisation_file(results)
    if path is None:
        raise FileNotFoundError(2, "no generalisation record", str(results.parent / "generalisation"))
    return _save(figure_heatmap(load_json(path)), out, "fig10_generalisation")


FIGURES: dict[str, tuple[Callable, str]] = {
    "fig1_bounds": (
        figure_bounds,
        "Proven width, depth and parameters against 1/eps (n = 2, 3, 5, 10; methods H, SS, PS; r = 1); "
        "below, every registered function at n = 3 (bounds.choose_for).",
    ),
    "fig2_constructive_error": (
        figure_constructive_error,
        "Worst measured error of every built network "
        "against its eps; all points lie below the line error = eps (exp, sign, and every registered "
        "function: sin, cos, sinh, cosh, pow, inverse, sqrt, log).",
    ),
    "fig3_squaring": (
        figure_squaring,
        "Yarotsky's squaring network f_m against x^2 (m = 1..4); its maximal float64 "
        "error and its exact-arithmetic midpoint error against m beside 4^-(m+1).",
    ),
    "fig4_error_vs_params": (
        figure_error_vs_params,
        "Relative error against parameter count: constructive "
        "networks (theory) beside trained MLPs and transformers on one test set; one panel per "
        "function on the study's test set (compare_functions.json; the constructive networks on the "
        "matrices inside their domain).",
    ),
    "fig5_accuracy_by_encoding": (
        figure_study_grid,
        "Accuracy within 5% per function (3x3, its well-posed distribution) and model: four "
        "transformer encodings and the ReLU MLP, median [min, max] over seeds (results/study).",
    ),
    "fig6_learning_curves": (
        figure_learning_curves,
        "Test accuracy within 5% against training step, per encoding and function.",
    ),
    "fig7_error_distribution": (
        figure_error_distribution,
        "Distribution of per-matrix relative errors per model on the shared test set.",
    ),
    "fig8_accuracy_vs_steps": (
        figure_study_steps,
        "Accuracy within 5% against training step per encoding, one panel per function (results/study).",
    ),
    "fig9_authors_sweep": (
        figure_authors_sweep,
        "Accuracy within 5% against training-set size, the authors' MLP protocol (dashed) beside ours "
        "(solid), one panel per function, one line per dimension, Wilson 95% bands (results/authors_sweep).",
    ),
    "fig10_generalisation": (
        figure_generalisation,
        "Accuracy within 5% of each shipped model (rows) on every matrix class (columns), the class as "
        "defined and rescaled to the training spectral-norm distribution (generalisation.json).",
    ),
    "fig11_seeds_and_attempts": (
        figure_study_attempts,
        "Accuracy within 5% against training step: every seed of each function's best transformer "
        "encoding, and the attempts where it fell short of 90% (longer schedule, wider model, curriculum "
        "on ||A||, scheduled sampling, mantissa loss); dotted line at 90% (results/study).",
    ),
    "fig12_forced_vs_greedy": (
        figure_study_forced,
        "Accuracy within 5% of each analysed transformer run when every token is predicted after the "
        "true earlier tokens (teacher-forced, as in training) against greedy decoding, which feeds the "
        "model its own; above the diagonal, the run leans on true entries it lacks at inference "
        "(experiments analyze, results/study/<run>/analysis.json).",
    ),
}

NEEDS_RUNS = {
    "fig5_accuracy_by_encoding",
    "fig6_learning_curves",
    "fig8_accuracy_vs_steps",
    "fig11_seeds_and_attempts",
    "fig12_forced_vs_greedy",
}
# Per-run files a figure reads (default: the run's results.json and metrics.jsonl).
RUN_FILES = {"fig12_forced_vs_greedy": "analysis.json"}
SOURCES = {
    "fig1_bounds": ["bounds_grid.json", "functions_bounds.json"],
    "fig2_constructive_error": ["constructive_check.json", "sign_check.json", "functions_check.json"],
    "fig3_squaring": ["squaring.json"],
    "fig4_error_vs_params": ["compare.json", "compare_functions.json"],
    "fig7_error_distribution": ["compare.json"],
    "fig9_authors_sweep": [
        str(Path(__file__).resolve().parent.parent / "results" / "authors_sweep" / "*.json")
    ],
    "fig10_generalisation": ["../generalisation/generalisation.json"],
}


def draw_all(results: Path, out: Path, run_dirs: list[Path]) -> dict[str, list[Path]]:
    """Draw every figure whose input files exist; returns {name: [png, pdf]} of those drawn."""
    drawn = {}
    for name, (fn, _caption) in FIGURES.items():
        if name in NEEDS_RUNS and not run_dirs:
            # Without runs these would be empty axes (and matplotlib's legend warnings).
            print(f"figures: skipped {name}: no finished training runs given")
            continue
        try:
            drawn[name] = fn(results, out, run_dirs) if name in NEEDS_RUNS else fn(results, out)
        except FileNotFoundError as e:
            print(f"figures: skipped {name}: missing {e.filename}")
    if drawn:
        write_readme(out, drawn, results, run_dirs)
    return drawn


def _rel(p: Path) -> str:
    repo = Path(__file__).resolve().parent.parent
    p = Path(p).resolve()
    return str(p.relative_to(repo)) if p.is_relative_to(repo) else str(p)


def write_readme(out: Path, drawn: dict, results: Path, run_dirs: list[Path]) -> Path:
    """``figures/README.md``: per figure a one-line caption, the command, the files it read."""
    lines = [
        "# Figures",
        "",
        "Drawn only from result files, never by retraining. Redraw all of them with",
        f"`python -m experiments figures --results {_rel(results)}`; recompute the result files with",
        "`python -m experiments reproduce` (it ends by drawing these).",
        "",
    ]
    for name in drawn:
        read = [_rel(results / f) for f in SOURCES.get(name, [])]
        if name in NEEDS_RUNS:
            files = RUN_FILES.get(name, "{results.json,metrics.jsonl}")
            used = [d for d in run_dirs if name not in RUN_FILES or (Path(d) / files).exists()]
            read += [_rel(d) + "/" + files for d in used]
        lines += [
            f"## {name}",
            "",
            f"![{name}]({name}.png)",
            "",
            FIGURES[name][1],
            "",
            "Read: " + ", ".join(f"`{r}`" for r in read),
            "",
        ]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path
