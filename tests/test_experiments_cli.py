"""`python -m experiments`: train/evaluate/summarize, and bad input -> one line, exit 2, nothing
overwritten."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.__main__ import COMMANDS, main
from experiments.data import SamplerConfig, make_test_set

REPO = Path(__file__).resolve().parent.parent


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One finished tiny MLP run, trained through the CLI."""
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--config", "tiny-mlp", "--set", "threads=1", "--out", str(run), "--quiet"]) == 0
    return run


def test_commands_registry_is_extensible():
    assert {"train", "evaluate", "summarize"} <= set(COMMANDS)
    for add_args, run, help_text in COMMANDS.values():
        assert callable(add_args) and callable(run) and help_text


def test_train_prints_folder_and_accuracy(tiny_run, capsys):
    assert (tiny_run / "results.json").is_file()
    assert main(["train", "--resume", str(tiny_run), "--quiet"]) == 0
    assert "already finished at step 60" in capsys.readouterr().out


def test_evaluate_reproduces_final_metrics(tiny_run, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(tiny_run), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads((tiny_run / "results.json").read_text())["final"]["l1"]
    assert main(["evaluate", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "error < 0.05" in out and "95% CI" in out


def test_evaluate_on_another_test_set(tiny_run, tmp_path, capsys):
    other = make_test_set(SamplerConfig(function="exp", n=2), 40, seed=99)
    other.save(tmp_path / "other.pt")
    assert main(["evaluate", str(tiny_run), "--test-set", str(tmp_path / "other.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 40
    wrong_n = make_test_set(SamplerConfig(function="exp", n=3), 5, seed=1)
    wrong_n.save(tmp_path / "n3.pt")
    assert main(["evaluate", str(tiny_run), "--test-set", str(tmp_path / "n3.pt")]) == 2
    assert "3x3 matrices but the run was trained on n=2" in _one_line_error(capsys)


def test_summarize_reads_the_run_files(tiny_run, capsys):
    capsys.readouterr()
    assert main(["summarize", str(tiny_run.parent)]) == 0
    out = capsys.readouterr().out
    final = json.loads((tiny_run / "results.json").read_text())["final"]["l1"]
    acc = final["accuracy"]["0.05"]
    lo, hi = acc["ci95"]
    assert f"{100 * acc['acc']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in out
    assert "| run |" in out and tiny_run.name in out


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "--config", "nope"], "unknown config 'nope'; allowed: cpu-mlp"),
        (["train", "--config", "tiny-mlp", "--set", "function=tan"], "tan"),
        (["train", "--config", "tiny-mlp", "--set", "encoding=P7"], "allowed: P10, P1000"),
        (["train", "--config", "tiny-mlp", "--set", "kind=cnn"], "allowed: mlp, transformer"),
        (["train", "--config", "tiny-mlp", "--set", "colour=red"], "allowed keys:"),
        (["train", "--config", "tiny-mlp", "--set", "steps=ten"], "value must be int"),
        (["train", "--config", "tiny-mlp", "--set", "width=-4"], "width must be a positive"),
        (["train", "--config", "tiny-mlp", "--set", "n=-2"], "n must be a positive integer"),
        (["evaluate", "/nonexistent/run"], "not a run folder"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default run folder would land here, and must not
    try:
        status = main(argv)
    except SystemExit as e:  # argparse usage errors
        status = e.code
    assert status == 2
    assert match in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_existing_run_folder_is_not_overwritten(tiny_run, capsys):
    before = _snapshot(tiny_run)
    assert main(["train", "--config", "tiny-mlp", "--out", str(tiny_run), "--quiet"]) == 2
    assert "already holds a run" in _one_line_error(capsys)
    assert _snapshot(tiny_run) == before


def test_resume_without_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "no config.json" in _one_line_error(capsys)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"name": "tiny-mlp"}))
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "no checkpoint.pt" in _one_line_error(capsys)
    assert _snapshot(run) == before


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_exit_2_nothing_overwritten(tmp_path, capsys, damage):
    run = tmp_path / "run"
    assert main(["train", "--config", "tiny-mlp", "--set", "steps=4", "--set", "threads=1",
                 "--out", str(run), "--quiet"]) == 0  # fmt: skip
    (run / "results.json").unlink()  # look unfinished, so resume must read the checkpoint
    ckpt = run / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) - 200] if damage == "truncate" else b"\x00garbage" * 9)
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "truncated or corrupt" in _one_line_error(capsys)
    assert main(["evaluate", str(run)]) == 2
    assert "truncated or corrupt" in _one_line_error(capsys)
    assert _snapshot(run) == before


def test_subprocess_exit_status_and_single_stderr_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "train", "--config", "tiny-mlp", "--set", "lr=-1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("experiments: error: lr must be a finite number > 0")
    assert list(tmp_path.iterdir()) == []


def test_truncated_test_set_is_one_line_exit_2_for_evaluate_and_resume(tiny_run, tmp_path, capsys):
    # One loader (run_folder.run_test_set) behind both commands: the same one-line error.
    run = tmp_path / "run"
    run.mkdir()
    for f in ("config.json", "checkpoint.pt", "metrics.jsonl", "test_set.pt"):
        (run / f).write_bytes((tiny_run / f).read_bytes())
    data = (run / "test_set.pt").read_bytes()
    (run / "test_set.pt").write_bytes(data[: len(data) // 2])
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    line = _one_line_error(capsys)
    assert "cannot read test set" in line and "test_set.pt" in line and "delete it" in line
    # Not finished (no results.json), so resume reaches the test set too.
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert _one_line_error(capsys) == line
    assert _snapshot(run) == before


def test_compare_names_missing_run_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["compare", "--test-size", "5", "--eps", "0.1", "--out", str(out), "--runs"]
    assert main([*argv, "DOES_NOT_EXIST"]) == 2
    assert "--runs 'DOES_NOT_EXIST': no such folder" in _one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main([*argv, str(tmp_path / "empty")]) == 2
    assert "holds no finished run" in _one_line_error(capsys)
    assert not out.exists()


def test_figures_on_an_empty_results_folder_names_what_is_missing(tiny_run, tmp_path, capsys):
    empty, out = tmp_path / "results", tmp_path / "figures"
    empty.mkdir()
    status = main(["figures", "--results", str(empty), "--runs", str(tiny_run.parent), "--out", str(out)])
    assert status == 2
    line = _one_line_error(capsys)
    assert "holds none of the result files" in line and "bounds_grid.json" in line
    assert main(["figures", "--results", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "no such folder" in _one_line_error(capsys)
    assert not out.exists()
