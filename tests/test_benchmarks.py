"""The benchmark runner (issue 7) in --quick mode, its helpers, and the optimised structured paths
the benchmarks motivated (in-place Yarotsky layers, stacked branches, CPU chunks): these must
give bit-identical values to the plain autograd path. No speed is asserted here."""

import json

import numpy as np
import pytest
import torch

from benchmarks import bench_constructive, run
from benchmarks.timing import time_side_by_side
from constructive import exp_network, matmul_structured, yarotsky_f
from constructive import matmul as matmul_module
from constructive.squaring import _yarotsky_f_autograd

ROW_KEYS = {"item", "case", "metric", "value", "unit", "target", "higher_is_better", "met", "group"}


def test_quick_runner_writes_group_and_combined_json(tmp_path):
    groups = ["constructive", "bounds", "data"]
    assert run.main(["--quick", "--only", *groups, "--results-dir", str(tmp_path)]) == 0
    combined = json.loads((tmp_path / "all.json").read_text())
    assert combined["errors"] == {}
    assert set(combined["groups"]) == set(groups)
    assert combined["threads"] == {g: run.DEFAULT_THREADS[g] for g in groups}
    env = combined["environment"]
    assert len(env["load_average_1_5_15min"]) == 3 and env["cpu_count"] >= 1
    for g in groups:
        per_group = json.loads((tmp_path / f"{g}.json").read_text())
        assert per_group["threads"] == run.DEFAULT_THREADS[g]
        assert per_group["rows"], g
    rows = combined["rows"]
    assert {r["group"] for r in rows} == set(groups)
    for r in rows:
        assert set(r) == ROW_KEYS
        assert np.isfinite(r["value"]) and r["value"] > 0
        assert r["target"] is None and r["met"] is None  # quick sizes are not judged
    c = combined["groups"]["constructive"]
    (e,) = c["structured_vs_explicit"]
    assert e["max_rel_difference"] <= 1e-12
    (m,) = c["matrix_exp_and_ceiling"]
    assert m["max_fro_error_vs_matrix_exp"] <= m["eps"]
    assert m["elements_per_forward"] == m["batch"] * m["n"] ** 3 * 2 * m["depth"]
    b = combined["groups"]["bounds"]
    assert {d["method"] for d in b["counts"]} == {"horner", "scaling_squaring", "paterson_stockmeyer"}
    table = run.format_table(combined)
    assert len(table.splitlines()) == 3 + len(rows)
    assert len(run.markdown_table(combined).splitlines()) == 2 + len(rows)


def test_runner_rejects_unknown_group(tmp_path):
    with pytest.raises(ValueError, match="known: constructive, bounds, data, models"):
        run.run(["constructive", "nope"], results_dir=tmp_path)


def test_time_side_by_side_calls_warmup_plus_repeats():
    calls = {"a": 0, "b": 0}

    def bump(k):
        calls[k] += 1

    t = time_side_by_side({"a": lambda: bump("a"), "b": lambda: bump("b")}, repeats=3, warmup=2)
    assert calls == {"a": 5, "b": 5}
    assert t["a"].repeats == 3 and t["a"].wall_min_s <= t["a"].wall_median_s


def test_ball_sample_spectral_norms_and_ceiling_element_count():
    A = bench_constructive.ball_sample(200, 4, 1.5, seed=3)
    norms = torch.linalg.matrix_norm(A, ord=2)
    assert norms.max() <= 1.5 * (1 + 1e-12) and norms.min() >= 0
    _, elements = bench_constructive.elementwise_ceiling(10_000, 3_000)
    assert elements == 4 * 3_000  # ceil(10000 / 3000) passes over 3000 elements


# -- the optimised structured paths --------------------------------------------------------------


def _edge_and_random(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    nodes = torch.arange(-64, 65, dtype=torch.float64) / 64  # dyadic nodes, incl. 0, +-1/2, +-1
    return torch.cat([nodes, 2 * torch.rand(4000, generator=g, dtype=torch.float64) - 1])


@pytest.mark.parametrize("merged", [True, False])
@pytest.mark.parametrize("m", [1, 2, 5, 17])
def test_in_place_yarotsky_equals_autograd_path_bitwise(merged, m):
    t = _edge_and_random(m)
    if not merged:
        t = t.abs()
    fast = yarotsky_f(t, m, merged)
    slow = _yarotsky_f_autograd(t, m, merged)
    assert torch.equal(fast, slow)
    assert torch.equal(t, _edge_and_random(m) if merged else _edge_and_random(m).abs())  # untouched
    # and the value is the interpolant of x^2 at k 2^-m (Lemma 1), an independent reference
    x = t.abs().numpy()
    nodes = np.linspace(0, 1, 2**m + 1)
    np.testing.assert_allclose(fast.numpy(), np.interp(x, nodes, nodes**2), rtol=0, atol=1e-14)


def test_structured_forward_with_gradients_equals_no_grad_forward():
    net = exp_network(3, 1e-3, 1.0)
    A = bench_constructive.ball_sample(50, 3, 1.0, seed=1)
    with torch.no_grad():
        fast = net.structured(A)
    Ag = A.clone().requires_grad_(True)
    slow = net.structured(Ag)
    slow.sum().backward()  # the autograd path must stay differentiable (adversarial search)
    assert Ag.grad is not None and torch.isfinite(Ag.grad).all()
    assert torch.equal(fast, slow.detach())


def test_chunked_matmul_equals_per_matrix_products(monkeypatch):
    monkeypatch.setattr(matmul_module, "CPU_CHUNK_PRODUCTS", 27 * 4)  # chunks of 4 matrices
    g = torch.Generator().manual_seed(5)
    X = 2 * torch.rand(2, 7, 3, 3, generator=g, dtype=torch.float64) - 1  # 14 = 3 chunks + 2
    Y = 2 * torch.rand(7, 3, 3, generator=g, dtype=torch.float64) - 1  # broadcast over dim 0
    chunked = matmul_structured(X, Y, 1.0, 1.0, 6)
    assert chunked.shape == (2, 7, 3, 3)
    for i in range(2):
        for j in range(7):
            single = matmul_structured(X[i, j], Y[j], 1.0, 1.0, 6)
            torch.testing.assert_close(chunked[i, j], single, rtol=0, atol=1e-15)
    # Lemma 3: |Pi(X, Y) - XY| <= n Mx My 4^(-m-1) entrywise
    assert (chunked - X @ Y).abs().max() <= 3 * 4.0**-7 * (1 + 1e-12)
