"""experiments.failure_analysis: accuracy per group of test matrices."""

import numpy as np
import pytest
import torch

from experiments.__main__ import main
from experiments.failure_analysis import analyze_run, group_accuracy


def test_group_accuracy_counts_hits_invalid_and_medians():
    errors = torch.tensor([0.01, 0.2, 0.03, float("inf"), 0.04], dtype=torch.float64)
    valid = torch.tensor([True, True, True, False, True])
    groups = [
        ("a", torch.tensor([1, 1, 0, 0, 0], dtype=torch.bool)),
        ("b", torch.tensor([0, 0, 1, 1, 1], dtype=torch.bool)),
        ("empty", torch.zeros(5, dtype=torch.bool)),
    ]
    rows = group_accuracy(errors, valid, groups)
    assert [r["group"] for r in rows] == ["a", "b"]  # empty groups are left out
    a, b = rows
    assert (a["n"], a["acc5"], a["invalid"]) == (2, 0.5, 0)
    assert (b["n"], b["acc5"], b["invalid"]) == (3, pytest.approx(2 / 3), 1)
    assert b["median_error"] == pytest.approx(0.03)  # over the valid ones: 0.03, 0.04 -> lower median


@pytest.fixture(scope="module")
def tiny_sign_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fa") / "run"
    args = [
        "train",
        "--config",
        "tiny-mlp",
        "--set",
        "function=sign",
        "--set",
        "n=3",
        "--set",
        "threads=1",
        "--out",
        str(run),
        "--quiet",
    ]
    assert main(args) == 0
    return run


def test_sign_inertia_groups_partition_the_test_set(tiny_sign_run):
    from experiments.data import TestSet

    result = analyze_run(tiny_sign_run)
    assert (tiny_sign_run / "analysis.json").is_file()
    test = TestSet.load(tiny_sign_run / "test_set.pt")
    positive = (np.linalg.eigvals(test.A.numpy()).real > 0).sum(-1)  # independent inertia
    rows = result["groups"]["inertia"]
    for row in rows:
        k = int(row["group"].split()[0])
        assert row["n"] == int((positive == k).sum())
    assert sum(r["n"] for r in rows) == result["n_test"] == len(test)
    for name in ("max |f(A)_ij|", "max/min |f(A)_ij|"):
        assert sum(r["n"] for r in result["groups"][name]) == result["n_test"]


def test_analyze_cli(tiny_sign_run, capsys):
    assert main(["analyze", str(tiny_sign_run), "--no-write"]) == 0
    assert "by inertia" in capsys.readouterr().out
    assert main(["analyze", str(tiny_sign_run.parent / "missing")]) == 2


def test_entry_sign_agreement_against_numpy(tiny_sign_run):
    from experiments.data import TestSet
    from experiments.evaluate import load_trained, predict

    result = analyze_run(tiny_sign_run, write=False)
    model, encoding, _ = load_trained(tiny_sign_run)
    test = TestSet.load(tiny_sign_run / "test_set.pt")
    P = predict(model, test.A, encoding=encoding)[0].numpy()
    F = test.F.numpy()
    peak = np.abs(F).reshape(len(F), -1).max(1)[:, None, None]
    big = np.abs(F) > 1e-3 * peak
    expected = (np.sign(P) == np.sign(F))[big].mean()
    assert result["entry_sign_agreement"] == pytest.approx(expected, abs=1e-12)


def test_transformer_analysis_breaks_the_token_loss_down_by_role(tmp_path, capsys):
    run = tmp_path / "t"
    overrides = ["--set", "steps=5", "--set", "threads=1", "--set", "test_size=30"]
    assert main(["train", "--config", "tiny-transformer", *overrides, "--out", str(run), "--quiet"]) == 0
    result = analyze_run(run)
    roles = [r["role"] for r in result["tokens"]["roles"]]
    assert roles == ["sign", "mantissa", "exponent", "structure"]  # tiny-transformer writes P1000
    assert sum(r["ce_share"] for r in result["tokens"]["roles"]) == pytest.approx(1.0)
    assert main(["analyze", str(run), "--no-write"]) == 0
    assert "teacher-forced token cross-entropy" in capsys.readouterr().out
    # The README's analysis block names the role with the most cross-entropy and its top-1.
    from experiments.readme_tables import GENERATORS

    block = GENERATORS["analysis"]([str(run)], tmp_path)
    top = max(result["tokens"]["roles"][:3], key=lambda r: r["ce_share"])
    assert f"the {top['role']} token carries {100 * top['ce_share']:.1f}%" in block
    assert f"top-1 is right {100 * top['top1']:.1f}%" in block
