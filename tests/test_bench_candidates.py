"""benchmarks.bench_candidates: the attention override routes every call, ratios are to float32."""

import pytest
import torch

import experiments.models.transformer as tm
from benchmarks.bench_candidates import _summary, forced_attention


def _calls(kernel, dtype):
    seen = []
    sdpa, explicit = torch.nn.functional.scaled_dot_product_attention, tm.explicit_attention

    def spy_sdpa(*a, **k):
        seen.append("sdpa")
        return sdpa(*a, **k)

    def spy_explicit(*a, **k):
        seen.append("explicit")
        return explicit(*a, **k)

    torch.manual_seed(0)
    model = tm.Seq2SeqTransformer(20, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=32)
    src, tgt = torch.randint(3, 20, (2, 5)), torch.randint(3, 20, (2, 4))
    mp = pytest.MonkeyPatch()
    mp.setattr(torch.nn.functional, "scaled_dot_product_attention", spy_sdpa)
    mp.setattr(tm, "explicit_attention", spy_explicit)
    try:
        with forced_attention(kernel), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            model(src, tgt)
    finally:
        mp.undo()
    return seen


def test_default_routing_and_forced_kernels():
    # One encoder and one decoder layer: 3 attention calls per forward.
    assert _calls(None, "float32") == ["sdpa"] * 3
    assert _calls(None, "bf16") == ["explicit"] * 3  # the CPU bf16 route
    assert _calls("sdpa", "bf16") == ["sdpa"] * 3
    assert _calls("explicit", "float32") == ["explicit"] * 3
    assert tm.attention.__name__ == "attention"  # restored afterwards


def test_summary_ratios_are_to_the_baseline():
    s = _summary({"float32": [2.0, 4.0, 3.0], "bf16": [1.0, 2.0, 1.5]}, "float32")
    assert s["float32"]["speedup"] == 1.0 and s["bf16"]["speedup"] == pytest.approx(2.0)
    assert s["bf16"]["min_s"] == 1.0 and s["bf16"]["max_s"] == 2.0 and s["float32"]["median_s"] == 3.0
