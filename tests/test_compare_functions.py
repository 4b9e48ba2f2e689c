"""compare-functions (experiments.compare_functions): every function's constructive networks beside the
trained models on the study's test set, against numpy norms and scipy references; figures 1, 2 and 4
with the new inputs; the README's generated blocks."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

import experiments.figures as figures
from experiments import theory_study
from experiments.__main__ import main
from experiments.compare_functions import FunctionsCompareConfig, compare_functions, markdown, write
from experiments.config import load_config
from experiments.data import make_test_set
from experiments.shipped import export_model, list_models, load_model

ROOT = Path(__file__).resolve().parent.parent
SIZE, EPS, RHO = 20, 1e-1, 0.9


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A tiny 3x3 exp MLP and a tiny 3x3 log transformer (P1000), shipped into a temporary folder."""
    root = tmp_path_factory.mktemp("cf")
    for config, f, name in (
        ("tiny-mlp", "exp", "tiny-exp-mlp"),
        ("tiny-transformer", "log", "tiny-log-P1000"),
    ):
        run = root / "runs" / name
        args = ["train", "--config", config, "--set", "threads=1", "--set", "n=3", "--set", f"function={f}"]
        assert main([*args, "--out", str(run), "--quiet"]) == 0
        export_model(run, name, out_dir=root / "models")
    return root / "models"


@pytest.fixture(scope="module")
def result(models_dir):
    cfg = FunctionsCompareConfig(functions=("exp", "log"), eps=(EPS,), test_size=SIZE, rho=RHO, repeats=1)
    shipped = [load_model(m["name"], models_dir) for m in list_models(models_dir)]
    return compare_functions(cfg, shipped, [])


def _study_matrices(f: str) -> np.ndarray:
    """The study's test matrices of f, drawn here from the config (not through the module)."""
    dc = load_config("study-transformer", [f"function={f}"]).data
    return make_test_set(dc.sampler_config(), dc.test_size, dc.test_seed).A[:SIZE].double().numpy()


def _rel_l1(P: np.ndarray, F: np.ndarray) -> np.ndarray:
    return np.abs(P - F).sum(axis=(1, 2)) / np.abs(F).sum(axis=(1, 2))


def test_rows_for_constructive_and_shipped_models(result):
    exp_rows, log_rows = result["functions"]["exp"]["rows"], result["functions"]["log"]["rows"]
    assert [(r["kind"], r["matrices"]) for r in exp_rows] == [("constructive", "all"), ("mlp", "all")]
    assert [(r["kind"], r["matrices"]) for r in log_rows] == [
        ("constructive", "domain"),
        ("transformer", "all"),
        ("transformer", "domain"),
    ]
    assert "shipped tiny-exp-mlp" in exp_rows[1]["name"] and "shipped tiny-log-P1000" in log_rows[1]["name"]
    for r in exp_rows + log_rows:
        assert set(r["accuracy"]) == {"0.05", "0.02", "0.01", "0.005"} and r["params"] > 0


def test_domain_subset_is_reported_and_checked_with_numpy(result):
    A = _study_matrices("log")
    inside = [i for i in range(SIZE) if np.linalg.norm(A[i] - np.eye(3), 2) <= RHO]
    d = result["functions"]["log"]
    assert 0 < len(inside) < SIZE  # the study distribution reaches outside ||A - I||_2 <= 0.9
    assert d["inside_indices"] == inside and d["inside"] == len(inside)
    assert [r["n_scored"] for r in d["rows"]] == [len(inside), SIZE, len(inside)]
    assert f"only **{len(inside)} of {SIZE}** test matrices lie inside" in markdown(result)
    # exp: r = c n = 3 holds every uniform test matrix, each checked
    A = _study_matrices("exp")
    e = result["functions"]["exp"]
    assert e["domain"] == {"r": 3.0} and e["inside"] == SIZE
    assert all(np.linalg.norm(a, 2) <= 3.0 for a in A)


def test_constructive_errors_within_eps_against_scipy(result):
    """Rebuild each network, evaluate it on the matrices of its domain and compare with scipy: the
    Frobenius error is <= eps, and the row's median/worst relative l1 errors are those errors."""
    from constructive.functions import network

    for f, ref in (("exp", scipy.linalg.expm), ("log", scipy.linalg.logm)):
        d = result["functions"][f]
        A = _study_matrices(f)[d["inside_indices"]]
        F = np.stack([np.real(ref(a)) for a in A])
        row = d["rows"][0]
        P = network(f, 3, EPS, **d["domain"])(torch.from_numpy(A)).numpy()
        fro = np.linalg.norm(P - F, axis=(1, 2))
        assert fro.max() <= EPS and row["worst_abs_error_fro"] == pytest.approx(
            fro.max(), rel=1e-6, abs=1e-12
        )
        rel = _rel_l1(P, F)
        assert row["worst_rel_error"] == pytest.approx(rel.max(), rel=1e-6)
        assert row["median_rel_error"] == pytest.approx(float(torch.tensor(rel).median()), rel=1e-6)


def test_trained_row_scores_match_an_independent_evaluation(result, models_dir):
    sm = load_model("tiny-exp-mlp", models_dir)
    A = _study_matrices("exp")
    with torch.no_grad():
        P = sm.model(torch.from_numpy(A).reshape(SIZE, 9).float()).double().reshape(SIZE, 3, 3).numpy()
    rel = _rel_l1(P, np.stack([scipy.linalg.expm(a) for a in A]))
    row = result["functions"]["exp"]["rows"][1]
    for tau in ("0.05", "0.02", "0.01", "0.005"):
        assert row["accuracy"][tau]["acc"] == pytest.approx(float((rel < float(tau)).mean()), abs=1e-12)
    assert row["median_rel_error"] == pytest.approx(float(torch.tensor(rel).median()), rel=1e-4)


def test_cli_writes_both_files_and_refuses_bad_input(models_dir, tmp_path, capsys):
    args = ["compare-functions", "--functions", "log", "--eps", "0.1", "--test-size", "5"]
    assert main([*args, "--models", str(models_dir), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "compare_functions.json").read_text())
    assert list(doc["functions"]) == ["log"] and (tmp_path / "compare_functions.md").is_file()
    capsys.readouterr()
    assert main(["compare-functions", "--eps", "2", "--out", str(tmp_path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 1 and "eps" in err[0]


def test_figures_draw_with_the_new_inputs(result, tmp_path, monkeypatch):
    """Figures 1, 2 and 4 with functions_bounds.json, functions_check.json and compare_functions.json:
    the extra panels appear, and every point of figure 2's function panels lies below error = eps."""
    res = tmp_path / "results"
    res.mkdir()
    for f in ("bounds_grid.json", "constructive_check.json", "sign_check.json", "compare.json"):
        shutil.copy(ROOT / "results" / "reproduce" / f, res / f)
    grid = theory_study.functions_grid(("cos", "log", "pow"), (2,), (1e-1,), count_random=5, progress=False)
    assert all(r["counts_agree"] and r["worst_error"] <= r["eps"] for r in grid["rows"])
    (res / "functions_check.json").write_text(json.dumps(grid))
    fb = theory_study.functions_bounds_grid(("sin", "sqrt"), (2, 3), (1e-1, 1e-2))
    (res / "functions_bounds.json").write_text(json.dumps(fb))
    write(result, tmp_path / "compare_functions")  # the sibling folder figure 4 looks in

    drawn = {}

    def keep(fig, out, name):
        drawn[name] = fig
        return []

    monkeypatch.setattr(figures, "_save", keep)
    figures.figure_bounds(res, tmp_path)
    figures.figure_constructive_error(res, tmp_path)
    figures.figure_error_vs_params(res, tmp_path)

    def visible(name):
        return [ax for ax in drawn[name].axes if ax.get_visible() and ax.get_label() != "<colorbar>"]

    assert len(visible("fig1_bounds")) == 6
    assert len(visible("fig2_constructive_error")) == 4  # exp, sign, ball functions, near identity
    assert len(visible("fig4_error_vs_params")) == 3  # the shared exp set, then exp and log
    titles = [ax.get_title() for ax in visible("fig4_error_vs_params")]
    assert titles[2].startswith("log: study test set, ") and f"of {SIZE} in ||A - I||_2 <= 0.9" in titles[2]
    for ax in visible("fig2_constructive_error")[2:]:
        for coll in ax.collections:
            xy = coll.get_offsets()
            assert len(xy) and np.all(xy[:, 1] <= xy[:, 0])


def test_readme_blocks_are_up_to_date(capsys):
    text = (ROOT / "README.md").read_text()
    assert "tables functions-bounds --n 2 3 5 --eps 1e-2 1e-4 1e-6" in text
    assert main(["tables", "--check", str(ROOT / "README.md")]) == 0, capsys.readouterr().out
