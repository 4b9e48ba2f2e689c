"""bf16 autocast against float32 on the real training loop (issue 13): the loss band.

The slow test trains the cpu-transformer config twice for 2,000 steps from one seed, float32 and
cpu_amp (bf16 autocast), side by side, and checks that every 200-step window of the bf16 loss lies
within BAND of float32's. The fast test checks the window arithmetic on hand-made metric files.
"""

import json

import pytest

from benchmarks.precision_band import BAND, compare, run


def _write_run(path, losses, examples_per_s):
    path.mkdir()
    rows = [
        {"kind": "train", "step": step, "loss": loss, "examples_per_s": examples_per_s}
        for step, loss in losses
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    final = {"l1": {"n": 10, "accuracy": {"0.05": {"acc": 0.5}}}}
    (path / "results.json").write_text(json.dumps({"final": final, "record": {"wall_time_s": 1.0}}))


def test_compare_windows_and_speedup(tmp_path):
    # Windows of 2 steps over 4 logged steps: float32 means 3.0 and 1.5; bf16 means 3.3 and 1.5.
    _write_run(tmp_path / "f", [(1, 4.0), (2, 2.0), (3, 1.0), (4, 2.0)], 100.0)
    _write_run(tmp_path / "b", [(1, 4.4), (2, 2.2), (3, 1.5), (4, 1.5)], 170.0)
    res = compare({"float32": tmp_path / "f", "bf16": tmp_path / "b"}, window=2, band=0.05)
    assert [w["steps"] for w in res["windows"]] == [[1, 2], [3, 4]]
    assert res["windows"][0]["relative_difference"] == pytest.approx(0.1)
    assert res["windows"][1]["relative_difference"] == pytest.approx(0.0)
    assert res["max_relative_difference"] == pytest.approx(0.1) and not res["within_band"]
    assert res["speedup"] == pytest.approx(1.7)
    assert (res["reference"], res["candidate"]) == ("float32", "bf16")


@pytest.mark.slow
def test_bf16_loss_curve_stays_in_band_over_2000_steps(tmp_path):
    res = run(steps=2000, work=tmp_path, window=200)
    assert len(res["windows"]) == 10
    worst = max(res["windows"], key=lambda w: w["relative_difference"])
    assert res["within_band"], f"window {worst['steps']}: {worst} outside the {BAND:.0%} band"
