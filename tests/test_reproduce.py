"""The main job end to end in its seconds-long "tiny" mode: every result file and figure appears,
re-running reuses the finished work, and the comparison's constructive rows keep their guarantee."""

import json
import math

import pytest

from experiments import theory_study
from experiments.__main__ import main
from experiments.figures import FIGURES
from experiments.reproduce import reproduce


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    written = reproduce("tiny", out, out / "figures", quiet=True)
    return out, written


@pytest.mark.slow
def test_every_figure_and_result_file_is_written(tiny_run):
    from experiments.authors_sweep import REFERENCE_DIR

    out, written = tiny_run
    for name in FIGURES:
        if name == "fig9_authors_sweep" and not any(REFERENCE_DIR.glob("**/*.json")):
            # No committed sweep records yet: the figure must be absent, not drawn empty.
            assert not (out / "figures" / f"{name}.png").exists()
            continue
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    for f in (
        "bounds_table.txt",
        "bounds_grid.json",
        "squaring.json",
        "constructive_check.json",
        "functions_check.json",
        "functions_bounds.json",
        "compare.json",
        "compare.md",
        "run_record.json",
    ):
        assert (out / f).is_file() and (out / f) in written
    record = json.loads((out / "run_record.json").read_text())["record"]
    assert record["torch"] and record["cpu_count"] and "git_commit" in record


@pytest.mark.slow
def test_constructive_rows_keep_their_guarantee(tiny_run):
    """||Phi - exp||_F <= eps and, for ||A||_2 <= 1, ||exp(A)||_F >= sqrt(n)/e (eigenvalues of exp(A) have
    modulus >= e^-1); so the l1-relative error is at most n eps / (sqrt(n)/e) = sqrt(n) e eps."""
    out, _ = tiny_run
    result = json.loads((out / "compare.json").read_text())
    n = result["test_set"]["n"]
    rows = [r for r in result["rows"] if r["kind"] == "constructive"]
    assert {r["method"] for r in rows} == {"horner", "scaling_squaring", "paterson_stockmeyer"}
    for r in rows:
        assert r["worst_rel_error"] <= math.sqrt(n) * math.e * r["eps"]
    kinds = {r["kind"] for r in result["rows"]}
    assert kinds == {"constructive", "mlp", "transformer"}
    grid = json.loads((out / "constructive_check.json").read_text())
    assert all(r["counts_agree"] and r["worst_error"] <= r["eps"] for r in grid["rows"])
    fgrid = json.loads((out / "functions_check.json").read_text())["rows"]
    assert {r["function"] for r in fgrid} == set(theory_study.FUNCTION_DOMAINS)
    assert all(r["counts_agree"] and r["worst_error"] <= r["eps"] for r in fgrid)


@pytest.mark.slow
def test_rerun_reuses_finished_work_and_retrains_without_checkpoint(tiny_run, capsys):
    """A re-run reuses what is finished; a run whose checkpoint is gone (a fresh clone: run records
    are committed, checkpoints are not) is retrained instead of failing in the comparison."""
    out, _ = tiny_run
    (out / "runs" / "mlp-w16-d1" / "checkpoint.pt").unlink()
    reproduce("tiny", out, out / "figures", quiet=True)
    text = capsys.readouterr().out
    assert "reusing" in text.split("[3/5]")[0]
    assert "transformer-P1000: reusing the finished run" in text
    assert "mlp-w16-d1: its checkpoint is missing (not committed) since" in text
    assert (out / "runs" / "mlp-w16-d1" / "checkpoint.pt").is_file()


def test_figures_cli_draws_from_files(tiny_run, tmp_path):
    out, _ = tiny_run
    assert main(["figures", "--results", str(out), "--runs", str(out / "runs"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig2_constructive_error.png").is_file()


def test_gpu_mode_without_cuda_is_a_clear_error(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["reproduce", "--gpu"]) == 2
    assert "needs CUDA" in capsys.readouterr().err


def test_default_outputs_are_ignored_by_git_so_a_clone_stays_clean():
    """The main job's default --out and figure folder lie where git ignores them; committed
    reference records (results/reproduce, figures/) are written only when asked for."""
    import subprocess
    from pathlib import Path

    from experiments.__main__ import build_parser
    from experiments.reproduce import REPO

    args = build_parser().parse_args(["reproduce"])
    out = Path(args.out)
    assert args.figures is None  # -> OUT/figures
    for probe in (
        out / "compare.json",
        out / "figures" / "fig1_bounds.png",
        out / "runs" / "x" / "results.json",
    ):
        rel = probe.resolve().relative_to(REPO)
        proc = subprocess.run(["git", "check-ignore", "-q", str(rel)], cwd=REPO)
        assert proc.returncode == 0, f"{rel} is not ignored by git"


@pytest.mark.slow
def test_cache_is_keyed_on_the_code_and_records_who_computed_it(tiny_run, monkeypatch, capsys):
    import experiments.reproduce as rep

    out, _ = tiny_run
    squaring = json.loads((out / "squaring.json").read_text())
    assert squaring["code"] == rep.code_hash()
    assert set(squaring["computed_by"]) == {"git_commit", "git_dirty", "utc"}
    record = json.loads((out / "run_record.json").read_text())
    assert record["computed_by"]["squaring.json"] == squaring["computed_by"]
    monkeypatch.setattr(rep, "code_hash", lambda: "changed-code")
    capsys.readouterr()
    rep._cached(out / "squaring.json", squaring["spec"], lambda: {"rows": []}, "the squaring study")
    assert "reusing" not in capsys.readouterr().out
    assert json.loads((out / "squaring.json").read_text())["code"] == "changed-code"
