"""experiments.study (the plan runner) and experiments.study_table (the table across seeds)."""

import json
import stat
import sys
from pathlib import Path

import pytest

from experiments.__main__ import main
from experiments.study import PlanError, PlannedRun, load_plan, resolve_best, run_plan, run_state
from experiments.study_table import cell_table, collect_cells, study_readme, verdict_table

REPO = Path(__file__).resolve().parent.parent


def _write_plan(tmp_path: Path, groups: list, **extra) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"groups": groups, **extra}))
    return path


def _fake_results(
    run_dir: Path,
    acc5: float,
    median: float = 0.01,
    *,
    function="exp",
    encoding="P1000",
    model="transformer",
    steps=100,
    status="finished",
) -> None:
    """A results.json of the shape train() writes, with chosen accuracies (for the logic tests)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    acc = {
        t: {"acc": acc5 * f, "ci95": [acc5 * f * 0.9, min(1.0, acc5 * f * 1.1)]}
        for t, f in (("0.05", 1.0), ("0.02", 0.8), ("0.01", 0.5), ("0.005", 0.2))
    }
    res = {
        "run": run_dir.name,
        "model": model,
        "function": function,
        "distribution": "uniform",
        "n": 3,
        "encoding": encoding if model == "transformer" else None,
        "status": status,
        "steps": steps,
        "examples_seen": steps * 32,
        "final": {
            "l1": {
                "norm": "l1",
                "n": 1000,
                "n_invalid": 0,
                "accuracy": acc,
                "quantiles": {"0.5": median, "0.9": 2 * median, "0.99": 3 * median},
            }
        },
        "record": {
            "wall_time_s": 360.0,
            "torch_threads": 1,
            "cpu": "test cpu",
            "cpu_count": 2,
            "python": "3.11",
            "torch": "2.x",
        },
    }
    (run_dir / "results.json").write_text(json.dumps(res))


# ------------------------------------------------------------------------------------------------
# plan files


def test_committed_plan_expands_to_the_study(tmp_path):
    plan = load_plan(REPO / "experiments/plans/study-3x3.json", out=tmp_path)
    names = [r.name for r in plan.runs]
    functions = ("exp", "sign", "sin", "cos", "log")
    for f in functions:
        for enc in ("P10", "P1000", "B1999", "FP15"):
            assert f"{f}-{enc}-s0" in names
        for seed in (0, 1, 2):
            assert f"{f}-mlp-s{seed}" in names
        assert f"{f}-best-s1" in names and f"{f}-best-s2" in names
    grid = [n for n in names if n.count("-") == 2]  # untagged: <f>-<model>-s<seed>
    assert len(grid) == len(set(names) & set(grid)) == 5 * (4 + 3 + 2)
    assert len(names) == len(set(names))


def test_plan_default_out_is_relative_to_the_repository():
    plan = load_plan(REPO / "experiments/plans/study-3x3.json")
    assert plan.out == REPO / "results" / "study"


def test_planned_run_train_arguments():
    run = PlannedRun("study-transformer", "sin", "B1999", 2, tag="long", overrides=("steps=40000",))
    assert run.name == "sin-B1999-long-s2"
    assert run.train_args() == [
        "--config",
        "study-transformer",
        "--set",
        "function=sin",
        "--set",
        "seed=2",
        "--set",
        "encoding=B1999",
        "--set",
        "steps=40000",
    ]


@pytest.mark.parametrize(
    "groups, message",
    [
        ([{"config": "nope", "function": "exp", "seed": 0, "encoding": "P10"}], "unknown config"),
        (
            [{"config": "tiny-transformer", "function": "exp", "seed": 0, "encoding": "P7"}],
            "unknown encoding",
        ),
        ([{"config": "tiny-mlp", "function": "tan", "seed": 0}], "tan"),
        ([{"config": "tiny-mlp", "function": "exp", "seed": -1}], "non-negative"),
        ([{"config": "tiny-mlp", "function": "exp", "seed": 0, "colour": 1}], "unknown group key"),
        ([{"config": "tiny-mlp", "function": "exp", "seed": 0, "set": {"stepz": 3}}], "stepz"),
        ([{"config": "tiny-mlp", "function": "exp", "seed": [0, 0]}], "more than once"),
    ],
)
def test_bad_plans_are_refused_with_a_reason(tmp_path, groups, message):
    with pytest.raises(PlanError, match=message):
        load_plan(_write_plan(tmp_path, groups), out=tmp_path / "out")


def test_unreadable_plan(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(bad)


# ------------------------------------------------------------------------------------------------
# state and the best encoding


def test_run_state(tmp_path):
    run = tmp_path / "r"
    assert run_state(run) == "new"
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert run_state(run) == "stale"
    (run / "checkpoint.pt").write_bytes(b"x")
    assert run_state(run) == "resumable"
    _fake_results(run, 0.5, status="running")
    assert run_state(run) == "resumable"
    _fake_results(run, 0.5)
    assert run_state(run) == "finished"


def test_best_waits_for_all_four_encodings_then_takes_the_most_accurate(tmp_path):
    plan = load_plan(
        _write_plan(
            tmp_path, [{"config": "tiny-transformer", "function": "sin", "encoding": "best", "seed": 1}]
        ),
        out=tmp_path / "out",
    )
    (pending,) = plan.runs
    scores = {"P10": (0.2, 0.1), "P1000": (0.9, 0.02), "B1999": (0.9, 0.01), "FP15": (0.5, 0.05)}
    for enc, (acc, med) in scores.items():
        assert resolve_best(plan, pending) is None  # not all four finished yet
        _fake_results(plan.out / f"sin-{enc}-s0", acc, med, function="sin", encoding=enc)
    best = resolve_best(plan, pending)
    assert best.encoding == "B1999"  # tie on accuracy broken by the lower median error
    assert best.name == "sin-B1999-s1"


# ------------------------------------------------------------------------------------------------
# the runner


FAKE_TRAIN = """#!{python}
import json, sys
from pathlib import Path
args = sys.argv[1:]
with open({log!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
run = Path(args[args.index("--out") + 1] if "--out" in args else args[args.index("--resume") + 1])
run.mkdir(parents=True, exist_ok=True)
if "--fail" in json.dumps(args) or "seed=7" in args:
    sys.exit(3)
(run / "results.json").write_text(json.dumps({{"status": "finished", "steps": 5, "final": {{"l1": {{
    "accuracy": {{"0.05": {{"acc": 1.0, "ci95": [0.9, 1.0]}}}}, "quantiles": {{"0.5": 0.0}}}}}}}}))
"""


@pytest.fixture
def fake_python(tmp_path):
    log = tmp_path / "calls.jsonl"
    exe = tmp_path / "fake_python"
    exe.write_text(FAKE_TRAIN.format(python=sys.executable, log=str(log)))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe, log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_runner_starts_new_resumes_checkpointed_restarts_stale_skips_finished(tmp_path, fake_python):
    exe, log = fake_python
    plan = load_plan(
        _write_plan(tmp_path, [{"config": "tiny-mlp", "function": "exp", "seed": [0, 1, 2, 3]}]),
        out=tmp_path / "out",
    )
    out = plan.out
    _fake_results(out / "exp-mlp-s0", 0.9, model="mlp")  # finished: skipped
    (out / "exp-mlp-s1").mkdir(parents=True)
    (out / "exp-mlp-s1" / "checkpoint.pt").write_bytes(b"ckpt")  # resumed
    (out / "exp-mlp-s2").mkdir()
    (out / "exp-mlp-s2" / "config.json").write_text("{}")  # stale: removed and started afresh
    messages = []
    assert run_plan(plan, jobs=2, python=str(exe), echo=messages.append) == 0
    calls = {c[c.index("--out") + 1] if "--out" in c else c[c.index("--resume") + 1]: c for c in _calls(log)}
    assert set(calls) == {str(out / f"exp-mlp-s{s}") for s in (1, 2, 3)}
    assert "--resume" in calls[str(out / "exp-mlp-s1")]
    for s in (2, 3):
        c = calls[str(out / f"exp-mlp-s{s}")]
        assert c[:4] == ["-m", "experiments", "train", "--config"] and f"seed={s}" in c
    assert not (out / "exp-mlp-s2" / "config.json").exists()  # the stale folder was cleared
    assert sum(m.startswith("finished") for m in messages) == 3
    # A second call finds everything finished and starts nothing.
    n_calls = len(_calls(log))
    assert run_plan(plan, jobs=2, python=str(exe), echo=messages.append) == 0
    assert len(_calls(log)) == n_calls


def test_runner_counts_failures_and_respects_max_runs(tmp_path, fake_python):
    exe, log = fake_python
    plan = load_plan(
        _write_plan(tmp_path, [{"config": "tiny-mlp", "function": "exp", "seed": [7, 8, 9]}]),
        out=tmp_path / "out",
    )
    messages = []
    assert run_plan(plan, jobs=1, max_runs=2, python=str(exe), echo=messages.append) == 1  # seed 7 fails
    assert len(_calls(log)) == 2
    assert any(m.startswith("FAILED exp-mlp-s7") for m in messages)
    assert run_state(plan.out / "exp-mlp-s9") == "new"


def test_study_cli_trains_a_tiny_plan_for_real(tmp_path, capsys):
    plan = _write_plan(
        tmp_path,
        [{"config": "tiny-mlp", "function": "exp", "seed": [0, 1], "set": {"steps": 8, "threads": 1}}],
    )
    assert main(["study", str(plan), "--out", str(tmp_path / "out")]) == 0
    for seed in (0, 1):
        res = json.loads((tmp_path / "out" / f"exp-mlp-s{seed}" / "results.json").read_text())
        assert res["status"] == "finished" and res["steps"] == 8
    assert "finished exp-mlp-s1" in capsys.readouterr().out
    assert main(["study", str(plan), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("finished") == 2


def test_study_cli_bad_plan_is_one_line_exit_2(tmp_path, capsys):
    assert main(["study", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read plan" in err[0]


# ------------------------------------------------------------------------------------------------
# the table across seeds


def test_cells_group_seeds_and_report_median_min_max(tmp_path):
    for seed, acc in ((0, 0.9), (1, 0.5), (2, 0.7)):
        _fake_results(tmp_path / f"exp-P1000-s{seed}", acc, encoding="P1000")
    _fake_results(tmp_path / "exp-mlp-s0", 1.0, model="mlp")
    _fake_results(tmp_path / "exp-P10-long-s0", 0.25, encoding="P10")
    cells = {c.name: c for c in collect_cells(tmp_path)}
    assert set(cells) == {"exp-P1000", "exp-mlp", "exp-P10-long"}
    assert cells["exp-P1000"].seeds == (0, 1, 2)
    assert cells["exp-P1000"].median_seed()["run"] == "exp-P1000-s2"  # accuracy 0.7 is the median
    assert [cells[n].tag for n in ("exp-P1000", "exp-mlp", "exp-P10-long")] == ["", "", "long"]
    table = cell_table(list(cells.values()))
    row = next(line for line in table.splitlines() if "| exp-P1000 |" in line)
    assert "70.0 [50.0, 90.0]" in row  # within 5%
    assert "56.0 [40.0, 72.0]" in row  # within 2% (0.8 x each)
    readme = study_readme(tmp_path)
    assert "| exp (uniform) | P1000 | 70.0 [50.0, 90.0] | 1 of 3 |" in readme  # the verdict row
    assert "0.5 thread-hours" in readme  # 5 runs x 360 s


def test_verdict_counts_seeds_at_the_target_and_names_the_best_run_of_any_row(tmp_path):
    # sin: the grid's best encoding (P1000, median 0.6) never reaches 90%; a tagged attempt of
    # another encoding does (0.92), and is named as the best run. cos: nothing reaches it.
    for seed, acc in ((0, 0.6), (1, 0.4), (2, 0.89)):
        _fake_results(tmp_path / f"sin-P1000-s{seed}", acc, function="sin")
    _fake_results(tmp_path / "sin-P10-s0", 0.3, function="sin", encoding="P10")
    _fake_results(tmp_path / "sin-P10-long-s0", 0.92, function="sin", encoding="P10")
    _fake_results(tmp_path / "sin-mlp-s0", 0.95, function="sin", model="mlp")
    _fake_results(tmp_path / "sin-mlp-s1", 0.85, function="sin", model="mlp")
    _fake_results(tmp_path / "cos-FP15-s0", 0.8, function="cos", encoding="FP15")
    rows = verdict_table(collect_cells(tmp_path)).splitlines()[2:]
    assert rows == [
        "| sin (uniform) | P1000 | 60.0 [40.0, 89.0] | 0 of 3 | sin-P10-long-s0: 92.0 [82.8, 100.0] "
        "| 90.0 [85.0, 95.0] | yes |",
        "| cos (uniform) | FP15 | 80.0 | 0 of 1 | cos-FP15-s0: 80.0 [72.0, 88.0] | - | no |",
    ]


def test_committed_study_readme_matches_its_records():
    root = REPO / "results" / "study"
    assert (root / "README.md").read_text() == study_readme(root)


def test_a_second_runner_on_the_same_folder_is_refused(tmp_path, fake_python):
    import os

    exe, _ = fake_python
    plan = load_plan(
        _write_plan(tmp_path, [{"config": "tiny-mlp", "function": "exp", "seed": 0}]), out=tmp_path / "o"
    )
    plan.out.mkdir()
    (plan.out / ".runner.pid").write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(PlanError, match="another runner"):
        run_plan(plan, python=str(exe), echo=lambda s: None)
    (plan.out / ".runner.pid").write_text("999999999")  # dead: the stale lock is taken over
    assert run_plan(plan, python=str(exe), echo=lambda s: None) == 0
    assert not (plan.out / ".runner.pid").exists()


def test_plan_edits_take_effect_while_running(tmp_path, fake_python):
    exe, log = fake_python
    path = _write_plan(tmp_path, [{"config": "tiny-mlp", "function": "exp", "seed": 0}])
    plan = load_plan(path, out=tmp_path / "o")
    path.write_text(json.dumps({"groups": [{"config": "tiny-mlp", "function": "sin", "seed": 0}]}))
    assert run_plan(plan, jobs=1, python=str(exe), echo=lambda s: None) == 0
    assert [c[c.index("--out") + 1] for c in _calls(log)] == [str(tmp_path / "o" / "sin-mlp-s0")]


def test_plan_edit_this_runner_cannot_read_keeps_the_loaded_plan_and_says_restart(tmp_path, fake_python):
    # A plan edited to use a setting the runner's code does not know (here: no such key) keeps
    # the runner on its loaded plan, and the message tells the user how to pick the edit up.
    exe, log = fake_python
    path = _write_plan(tmp_path, [{"config": "tiny-mlp", "function": "exp", "seed": 0}])
    plan = load_plan(path, out=tmp_path / "o")
    edited = {"groups": [{"config": "tiny-mlp", "function": "sin", "seed": 0, "set": {"no_such_key": 1}}]}
    path.write_text(json.dumps(edited))
    said = []
    assert run_plan(plan, jobs=1, python=str(exe), echo=said.append) == 0
    assert [c[c.index("--out") + 1] for c in _calls(log)] == [str(tmp_path / "o" / "exp-mlp-s0")]
    assert any("keeping the loaded plan" in s and "restart the runner" in s for s in said)
