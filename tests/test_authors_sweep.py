"""experiments.authors_sweep: the authors' MLP protocol, its records, resume logic and metric.

Mathematics is checked against independent references: the parameter count against the closed
form of the authors' layer sizes, losses and the d1 accuracy against numpy, the log rejection
rate against the exact probability 1/2 for 2x2 positive matrices, the kept matrices' spectra
against numpy.linalg.eigvals, the training-set hashes against hashlib on the raw bytes.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from experiments import authors_sweep as sw
from experiments.__main__ import main

TINY = ["--functions", "log", "--dims", "2", "--sizes-log2", "5", "6", "--test-size-log2", "6"]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """Both arms, log, n = 2, N = 2^5 and 2^6, 5 steps, test set 2^6, via the CLI."""
    out = tmp_path_factory.mktemp("authors_sweep")
    assert main(["authors-sweep", *TINY, "--max-steps", "5", "--out", str(out)]) == 0
    return out


def _records(folder):
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# ---------------------------------------------------------------------------------------------
# the authors' model and losses


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_authors_architecture_has_their_layer_sizes(n):
    m = n * n
    model = sw.authors_model(n)
    linears = [mod for mod in model if isinstance(mod, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (m, 128),
        (128, 256),
        (256, 512),
        (512, 1024),
        (1024, 512),
        (512, 256),
        (256, 128),
        (128, m),
    ]
    # Closed form: (m*128 + 128) + (128*256 + 256) + (256*512 + 512) + (512*1024 + 1024)
    # + (1024*512 + 512) + (512*256 + 256) + (256*128 + 128) + (128*m + m) = 257 m + 1,379,072.
    assert sum(p.numel() for p in model.parameters()) == 257 * m + 1_379_072
    # ReLU then Dropout(0.2) after each of the 7 hidden maps, nothing after the output map.
    kinds = [type(mod).__name__ for mod in model]
    assert kinds == ["Linear", "ReLU", "Dropout"] * 7 + ["Linear"]
    assert all(mod.p == 0.2 for mod in model if isinstance(mod, nn.Dropout))
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_authors_losses_against_numpy():
    g = torch.Generator().manual_seed(1)
    p = torch.randn(7, 9, generator=g, dtype=torch.float64)
    y = torch.randn(7, 9, generator=g, dtype=torch.float64)
    P, Y = p.numpy(), y.numpy()
    name, loss = sw.authors_loss("exp", 3)
    want = np.mean(np.abs(P - Y).sum(1) / (np.abs(Y).sum(1) + 1e-7))
    assert float(loss(p, y)) == pytest.approx(want, rel=1e-12)
    for f in ("sin", "cos", "sign", "log"):
        _, loss = sw.authors_loss(f, 3)
        assert float(loss(p, y)) == pytest.approx(np.sqrt(((P - Y) ** 2).sum()), rel=1e-12)
        _, loss1 = sw.authors_loss(f, 1)
        p1, y1 = p[:, :1], y[:, :1]
        assert float(loss1(p1, y1)) == pytest.approx(np.mean((P[:, :1] - Y[:, :1]) ** 2), rel=1e-12)


def test_planned_steps_are_100_epochs_with_a_partial_last_batch():
    assert sw.planned_steps(32) == 100
    assert sw.planned_steps(128) == 100
    assert sw.planned_steps(129) == 200
    assert sw.planned_steps(2**18) == 100 * 2048


def test_ours_schedule_warms_up_then_decays_to_five_percent():
    total = 1000  # warmup min(200, 100) = 100
    assert sw.ours_lr(0, total) == pytest.approx(1e-3 / 100)
    assert sw.ours_lr(99, total) == pytest.approx(1e-3)
    assert sw.ours_lr(total, total) == pytest.approx(0.05e-3)
    assert sw.ours_lr(550, total) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))  # half way: cos = 0


# ---------------------------------------------------------------------------------------------
# metric


def test_score_predictions_matches_numpy_d1():
    F = sw.test_set("exp", 2, 64).F  # (64, 2, 2)
    g = torch.Generator().manual_seed(3)
    E = torch.randn(F.shape, generator=g, dtype=torch.float64)
    # Scale each error matrix so the relative l1 errors spread over [0, 0.1], across all tolerances.
    target = torch.linspace(0.001, 0.1, 64, dtype=torch.float64)
    E = E * (target * F.abs().sum((1, 2)) / E.abs().sum((1, 2)))[:, None, None]
    pred = F + E
    pred[5] = float("nan")  # a non-finite prediction counts as wrong
    d = sw.score_predictions(pred, F)
    P, T = pred.numpy(), F.numpy()
    d1 = np.abs(P - T).sum((1, 2)) / (np.abs(T).sum((1, 2)) + 1e-12)  # the authors' formula
    for tau in (0.05, 0.02, 0.01, 0.005):
        k = int(np.sum(d1 < tau))  # NaN < tau is False
        entry = d["accuracy"][f"{tau:g}"]
        assert entry["correct"] == k
        assert entry["acc"] == k / 64
        assert entry["ci95"][0] <= k / 64 <= entry["ci95"][1]
    assert 0 < d["accuracy"]["0.005"]["correct"] < d["accuracy"]["0.05"]["correct"] < 64


# ---------------------------------------------------------------------------------------------
# data: well-posedness, identical sets


def test_log_drops_and_counts_2x2_matrices_with_a_negative_eigenvalue():
    # A 2x2 matrix with positive entries has real eigenvalues ((a-d)^2 + 4bc > 0), one of them
    # negative exactly when det = ad - bc < 0, which by symmetry of iid entries has probability 1/2.
    ds = sw.training_set("log", 2, 4096, 0)
    assert ds.A.shape == (4096, 2, 2) and ds.drawn - ds.rejected == 4096
    rate = ds.rejected / ds.drawn
    assert abs(rate - 0.5) < 4 * np.sqrt(0.25 / ds.drawn)
    lam = np.linalg.eigvals(ds.A.numpy())
    assert np.all(np.abs(lam.imag) < 1e-12) and np.all(lam.real > 0)
    assert bool(torch.isfinite(ds.F).all())


def test_records_count_rejections_and_both_arms_share_the_training_set(tiny_sweep):
    recs = _records(tiny_sweep)
    assert sorted(recs) == [
        "log-n2-k5-authors-s0.json",
        "log-n2-k5-ours-s0.json",
        "log-n2-k6-authors-s0.json",
        "log-n2-k6-ours-s0.json",
    ]
    test_hashes = {r["data"]["test"]["sha256"] for r in recs.values()}
    assert len(test_hashes) == 1  # one test set per (f, n)
    for k in (5, 6):
        a, o = recs[f"log-n2-k{k}-authors-s0.json"], recs[f"log-n2-k{k}-ours-s0.json"]
        assert a["data"]["train"] == o["data"]["train"]
        # Independent hash of a fresh draw of the same set (cache cleared): hashlib on raw bytes.
        sw.training_set.cache_clear()
        ds = sw.training_set("log", 2, 2**k, 0)
        h = hashlib.sha256(ds.A.numpy().tobytes() + ds.F.numpy().tobytes()).hexdigest()
        assert a["data"]["train"]["sha256"] == h
        t = a["data"]["train"]
        assert t["size"] == 2**k and t["drawn"] - t["rejected"] == 2**k and t["rejected"] > 0
        assert a["data"]["test"]["drawn"] - a["data"]["test"]["rejected"] == 64


def test_record_shape_and_where_the_cap_bit(tiny_sweep):
    for name, r in _records(tiny_sweep).items():
        assert r["schema"] == sw.SCHEMA
        assert set(r) >= {"key", "protocol", "data", "model", "training", "test", "run"}
        arm = r["key"]["arm"]
        assert name == sw.record_name("log", 2, r["key"]["train_size_log2"], arm, 0)
        tr = r["training"]
        # 2^5 and 2^6 matrices are one batch per epoch: 100 planned steps, the cap of 5 bites.
        assert tr["steps_planned"] == 100 and tr["steps_done"] == 5 and tr["cap_bit"]
        assert tr["cap_bit_at"] == {"step": 5, "epoch": 5.0, "fraction_of_planned": 0.05}
        assert tr["matrices_seen"] == 5 * 2 ** r["key"]["train_size_log2"]
        assert r["protocol"]["max_steps"] == 5 and r["protocol"]["test_size"] == 64
        assert r["test"]["n"] == 64 and set(r["test"]["accuracy"]) == {"0.05", "0.02", "0.01", "0.005"}
        assert r["run"]["torch_threads"] == 1 and r["run"]["seed"] == 0
        # ours: width 256, 4 hidden layers, 4 inputs and outputs
        expected = {
            "authors": 257 * 4 + 1_379_072,
            "ours": (4 * 256 + 256) + 3 * (256 * 256 + 256) + (256 * 4 + 4),
        }
        assert r["model"]["parameters"] == expected[arm]


def test_resume_skips_finished_records_and_reruns_a_missing_one(tiny_sweep, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_sweep.glob("*.json")}
    assert main(["authors-sweep", *TINY, "--max-steps", "5", "--out", str(tiny_sweep)]) == 0
    assert "4 already done, 0 to run" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in tiny_sweep.glob("*.json")} == before
    os.remove(tiny_sweep / "log-n2-k6-ours-s0.json")
    assert main(["authors-sweep", *TINY, "--max-steps", "5", "--out", str(tiny_sweep)]) == 0
    out = capsys.readouterr().out
    assert "3 already done, 1 to run" in out and "log-n2-k6-ours-s0.json" in out
    after = {p.name: p.stat().st_mtime_ns for p in tiny_sweep.glob("*.json")}
    assert {k: v for k, v in after.items() if k != "log-n2-k6-ours-s0.json"} == {
        k: v for k, v in before.items() if k != "log-n2-k6-ours-s0.json"
    }


def test_a_different_protocol_in_the_same_folder_is_refused(tiny_sweep, capsys):
    assert main(["authors-sweep", *TINY, "--max-steps", "6", "--out", str(tiny_sweep)]) == 2
    assert "another protocol (differs in max_steps)" in capsys.readouterr().err


def test_an_uncapped_record_runs_the_full_100_epochs(tmp_path):
    states = sw.run_sweep(
        functions=["sin"], dims=[1], sizes_log2=[5], arms=["ours"], max_steps=1000, test_size_log2=6,
        out=tmp_path, echo=lambda s: None,
    )  # fmt: skip
    assert states == [("sin-n1-k5-ours-s0.json", "done")]
    tr = json.loads((tmp_path / "sin-n1-k5-ours-s0.json").read_text())["training"]
    assert tr["steps_done"] == tr["steps_planned"] == 100 and not tr["cap_bit"] and tr["cap_bit_at"] is None
    assert tr["epochs_done"] == 100 and tr["matrices_seen"] == 3200


# ---------------------------------------------------------------------------------------------
# figure


def test_figure_skips_without_records_and_draws_one_panel_per_function(tmp_path, tiny_sweep):
    with pytest.raises(FileNotFoundError):
        sw.figure_accuracy_vs_size(tmp_path / "empty")
    fig = sw.figure_accuracy_vs_size(tiny_sweep)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["log"]
    # one line per (n, arm) plus its markers: the two arms' lines have x = [5, 6]
    lines = [ln for ln in panels[0].get_lines() if len(ln.get_xdata()) == 2]
    assert sorted(ln.get_linestyle() for ln in lines) == ["-", "--"]
