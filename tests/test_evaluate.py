"""Tolerance evaluation: relative errors in three norms, Wilson intervals, invalid handling.

References are independent: numpy norms, hand-worked numbers, scipy.stats.binomtest's Wilson
interval and the closed form of Wilson (1927).
"""

import math

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from experiments.evaluate import (
    NORMS,
    evaluate_predictions,
    predict,
    relative_errors,
    wilson_interval,
)


@pytest.mark.parametrize(
    "k,n", [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (47, 50), (900, 1000), (995, 1000)]
)
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-12)
    assert hi == pytest.approx(ci.high, abs=1e-12)


def test_wilson_closed_form_at_zero_successes():
    # k = 0: interval is [0, z^2 / (n + z^2)] (Wilson 1927 with p = 0).
    z = 1.959963984540054
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0
    assert hi == pytest.approx(z * z / (20 + z * z), rel=1e-14)


@pytest.mark.parametrize("k,n", [(-1, 5), (6, 5), (0, 0)])
def test_wilson_rejects_bad_counts(k, n):
    with pytest.raises(ValueError, match="n"):
        wilson_interval(k, n)


def _numpy_rel(pred, target, norm):
    d = pred - target
    if norm == "l1":
        return np.abs(d).sum() / np.abs(target).sum()
    if norm == "fro":
        return np.linalg.norm(d, "fro") / np.linalg.norm(target, "fro")
    return np.abs(d).max() / np.abs(target).max()


@pytest.mark.parametrize("norm", list(NORMS))
def test_relative_errors_match_numpy(norm, rng):
    target = rng.standard_normal((7, 3, 3))
    pred = target + 0.01 * rng.standard_normal((7, 3, 3))
    got = relative_errors(torch.from_numpy(pred), torch.from_numpy(target), norm).numpy()
    want = [_numpy_rel(p, t, norm) for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_hand_worked_example():
    # Target I_2 (L1 norm 2). Prediction errors chosen by hand:
    #   m0: +0.03 on one diagonal entry -> l1 error 0.015, max error 0.03
    #   m1: +0.03 on both diagonal entries -> l1 0.03, fro 0.03, max 0.03
    #   m2: invalid decode (NaN row)
    #   m3: exact
    target = torch.eye(2, dtype=torch.float64).expand(4, 2, 2).clone()
    pred = target.clone()
    pred[0, 0, 0] += 0.03
    pred[1] += 0.03 * torch.eye(2, dtype=torch.float64)
    pred[2] = float("nan")
    valid = torch.tensor([True, True, False, True])
    r = evaluate_predictions(pred, valid, target, tolerances=(0.05, 0.02, 0.01))
    assert r.errors[0] == pytest.approx(0.015)
    assert r.errors[1] == pytest.approx(0.03)
    assert math.isinf(r.errors[2])
    assert r.errors[3] == 0.0
    assert r.accuracy == (0.75, 0.5, 0.25)
    assert r.n == 4 and r.n_invalid == 1 and r.n_nonfinite == 0
    for acc, (lo, hi) in zip(r.accuracy, r.intervals, strict=True):
        ci = binomtest(round(acc * 4), 4).proportion_ci(method="wilson")
        assert (lo, hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # sorted errors: 0, 0.015, 0.03, inf; quantile q is sorted[ceil(q * 3)]
    assert r.quantiles[0.5] == pytest.approx(0.03)
    assert math.isinf(r.quantiles[0.9])
    d = r.to_dict()
    assert d["accuracy"]["0.05"]["acc"] == 0.75
    assert d["quantiles"]["0.9"] is None
    rmax = evaluate_predictions(pred, valid, target, norm="max")
    assert rmax.errors[0] == pytest.approx(0.03)


def test_nonfinite_valid_prediction_is_a_failure():
    target = torch.ones(2, 2, 2, dtype=torch.float64)
    pred = target.clone()
    pred[1, 0, 1] = float("inf")
    r = evaluate_predictions(pred, torch.tensor([True, True]), target)
    assert r.accuracy[0] == 0.5
    assert r.n_invalid == 0 and r.n_nonfinite == 1


def test_bad_input_messages():
    t = torch.ones(3, 2, 2, dtype=torch.float64)
    ok = torch.ones(3, dtype=torch.bool)
    with pytest.raises(ValueError, match="known norms: l1, fro, max"):
        evaluate_predictions(t, ok, t, norm="l2")
    with pytest.raises(ValueError, match=r"\(B, n, n\)"):
        evaluate_predictions(t, ok, t[:, :1])
    with pytest.raises(ValueError, match="positive"):
        evaluate_predictions(t, ok, t, tolerances=(0.05, -1))
    with pytest.raises(ValueError, match="zero l1 norm"):
        evaluate_predictions(t, ok, torch.zeros_like(t))
    with pytest.raises(ValueError, match=r"\(B,\)"):
        evaluate_predictions(t, ok[:2], t)


def test_predict_mlp_is_the_forward_map():
    from experiments.models.mlp import MLP

    torch.manual_seed(0)
    model = MLP(n_in=4, n_out=4, width=8, depth=2)
    A = torch.randn(5, 2, 2, dtype=torch.float64)
    pred, valid = predict(model, A, chunk=2)
    assert pred.dtype == torch.float64 and valid.all()
    with torch.no_grad():
        want = model(A.reshape(5, 4).float()).double().reshape(5, 2, 2)
    torch.testing.assert_close(pred, want)


class _OracleDecoder(torch.nn.Module):
    """Stands in for a transformer whose greedy decode emits tokens(F) + EOS (or garbage)."""

    def __init__(self, encoding, F, garbage=False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.encoding, self.F, self.garbage, self.pos = encoding, F, garbage, 0

    def greedy_decode(self, src, max_len, bos_id, eos_id):
        b = src.shape[0]
        F = self.F[self.pos : self.pos + b]
        self.pos += b
        ids = self.encoding.encode_batch(F)  # (b, T)
        ids = torch.cat([ids, torch.full((b, 1), eos_id)], dim=1)  # (b, T+1)
        assert ids.shape[1] <= max_len
        return torch.full_like(ids, self.encoding.pad_id) if self.garbage else ids


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_predict_transformer_path_decodes_to_the_rounded_target(name, rng):
    from experiments.data import get_encoding

    enc = get_encoding(name, precision=3)
    A = torch.from_numpy(rng.uniform(-1, 1, (7, 3, 3)))
    F = torch.from_numpy(rng.uniform(-5, 5, (7, 3, 3)))
    pred, valid = predict(_OracleDecoder(enc, F), A, encoding=enc, chunk=3)
    assert valid.all()
    # 3 significant digits: each entry within half a unit in the third digit, 5e-3 relative.
    assert ((pred - F).abs() <= 5e-3 * F.abs() + 1e-12).all()
    r = evaluate_predictions(pred, valid, F)
    assert r.accuracy == (1.0, 1.0, 1.0, 1.0) and r.n_invalid == 0
    pred, valid = predict(_OracleDecoder(enc, F, garbage=True), A, encoding=enc, chunk=3)
    r = evaluate_predictions(pred, valid, F)
    assert not valid.any() and r.n_invalid == 7 and r.accuracy == (0.0, 0.0, 0.0, 0.0)
