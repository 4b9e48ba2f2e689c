"""The study's figures read the right runs: figure 11 draws every seed of each function's best
encoding and every attempt, and leaves out the MLP, the other encodings and the fp32 ablation."""

import json

import matplotlib.pyplot as plt
import pytest

from experiments.figures_study import figure_seeds_and_attempts


def _run(root, name, *, function, model, encoding, final_acc, curve, selection=None):
    d = root / name
    d.mkdir()
    acc = {"0.05": {"acc": final_acc}}
    (d / "results.json").write_text(
        json.dumps(
            {
                "status": "finished",
                "function": function,
                "distribution": "uniform",
                "model": model,
                "encoding": encoding,
                "final": {"l1": {"accuracy": acc}},
                "selection": selection,
            }
        )
    )
    rows = [
        {"kind": "eval", "step": 1000 * (i + 1), "test": {"accuracy": {"0.05": {"acc": a}}, "quantiles": {}}}
        for i, a in enumerate(curve)
    ]
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


@pytest.fixture
def study(tmp_path):
    t = {"function": "exp", "model": "transformer"}
    return [
        _run(tmp_path, "exp-P1000-s0", **t, encoding="P1000", final_acc=0.9, curve=[0.1, 0.9]),
        _run(tmp_path, "exp-P1000-s1", **t, encoding="P1000", final_acc=0.3, curve=[0.2, 0.3]),
        _run(tmp_path, "exp-B1999-s0", **t, encoding="B1999", final_acc=0.5, curve=[0.4, 0.5]),
        _run(tmp_path, "exp-P1000-long-s1", **t, encoding="P1000", final_acc=0.8, curve=[0.1, 0.5, 0.8]),
        _run(tmp_path, "exp-P1000-fp32-s0", **t, encoding="P1000", final_acc=0.95, curve=[0.5, 0.95]),
        _run(tmp_path, "exp-mlp-s0", function="exp", model="mlp", encoding=None, final_acc=1.0, curve=[1.0]),
    ]


def test_seeds_and_attempts_draws_best_encoding_seeds_and_attempts_only(study):
    fig = figure_seeds_and_attempts(study)
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    # P1000's median over seeds (0.6) beats B1999's single 0.5; fp32 is an ablation, not an attempt.
    assert set(lines) == {"P1000 s0", "P1000 s1", "P1000 long s1"}
    assert list(lines["P1000 long s1"].get_xdata()) == [1000, 2000, 3000]
    assert list(lines["P1000 long s1"].get_ydata()) == pytest.approx([10, 50, 80])
    assert list(lines["P1000 s1"].get_ydata()) == pytest.approx([20, 30])
    plt.close(fig)


def test_seeds_and_attempts_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished study runs"):
        figure_seeds_and_attempts([tmp_path / "nothing-here-s0"])


def test_seeds_and_attempts_draws_every_seed_beyond_the_line_styles(tmp_path):
    # Four line styles cycle; a fifth seed must still get its line.
    t = {"function": "sin", "model": "transformer", "encoding": "P1000"}
    runs = [_run(tmp_path, f"sin-P1000-s{s}", **t, final_acc=0.5, curve=[0.1 * s]) for s in range(5)]
    fig = figure_seeds_and_attempts(runs)
    (ax,) = fig.axes
    labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert labels == [f"P1000 s{s}" for s in range(5)]
    plt.close(fig)


def _analysis(run_dir, *, function, greedy, forced):
    record = {"run": run_dir.name, "function": function, "acc5": greedy, "groups": {}}
    if forced is not None:
        record["tokens"] = {"roles": [], "ce_per_token": 1.0, "teacher_forced_acc5": forced}
    (run_dir / "analysis.json").write_text(json.dumps(record))


def test_forced_vs_greedy_plots_each_analysed_run_once(tmp_path):
    from experiments.figures_study import figure_forced_vs_greedy

    dirs = []
    for name, f, greedy, forced in [
        ("sin-P1000-s0", "sin", 0.5, 0.75),
        ("sin-P1000-long-s0", "sin", 0.4, 0.85),
        ("exp-P1000-s2", "exp", 0.99, 0.9),
        ("log-mlp-s0", "log", 0.8, None),  # an MLP's analysis has no token breakdown
    ]:
        d = tmp_path / name
        d.mkdir()
        _analysis(d, function=f, greedy=greedy, forced=forced)
        dirs.append(d)
    (tmp_path / "no-analysis").mkdir()
    fig = figure_forced_vs_greedy([*dirs, tmp_path / "no-analysis"])
    (ax,) = fig.axes
    by_label = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert by_label == {"exp": [[99.0, 90.0]], "sin": [[50.0, 75.0], [40.0, 85.0]]}
    assert sorted(t.get_text() for t in ax.texts) == ["exp-P1000-s2", "sin-P1000-long-s0", "sin-P1000-s0"]
    plt.close(fig)


def test_forced_vs_greedy_without_analyses_is_skipped_as_missing(tmp_path):
    from experiments.figures_study import figure_forced_vs_greedy

    with pytest.raises(FileNotFoundError, match="analysis.json"):
        figure_forced_vs_greedy([tmp_path])


def test_seeds_and_attempts_stars_the_step_a_run_selected(tmp_path):
    t = {"function": "cos", "model": "transformer", "encoding": "FP15"}
    sel = {"step": 2000, "last_step": 3000, "validation_acc": 0.9}
    runs = [
        _run(tmp_path, "cos-FP15-s0", **t, final_acc=0.8, curve=[0.1, 0.8]),
        _run(tmp_path, "cos-FP15-select-s0", **t, final_acc=0.88, curve=[0.1, 0.9, 0.7], selection=sel),
        # Selection that kept the last model: nothing to mark.
        _run(tmp_path, "cos-FP15-long-s0", **t, final_acc=0.7, curve=[0.7], selection={**sel, "step": 3000}),
    ]
    fig = figure_seeds_and_attempts(runs)
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    star = lines["FP15 select s0: delivered (step 2000)"]
    assert list(star.get_xdata()) == [2000] and list(star.get_ydata()) == pytest.approx([88])
    assert list(lines["FP15 select s0"].get_ydata()) == pytest.approx([10, 90, 70])
    assert not any("long s0: delivered" in k for k in lines)
    plt.close(fig)
